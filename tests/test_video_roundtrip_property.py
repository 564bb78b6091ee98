"""Property (issue 22 #2): over generated videos, anonymize exit 0 => recover exit 0, frame-exact for
lossless outputs and face regions exact for lossy ones (tests/video_cases.py). A few examples here; the
long run is scripts/fuzz_video_roundtrip.py (its counts in docs/video.md)."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from video_cases import CODEC_CONTAINERS, CODINGS, FPS, OUTPUTS, SIZES, TIME_BASES, TIMING, Case, check

codec_container = st.sampled_from([(c, k) for c, ks in CODEC_CONTAINERS.items() for k in ks])


@st.composite
def cases(draw) -> Case:
    codec, container = draw(codec_container)
    return Case(codec=codec, container=container, fps=draw(st.sampled_from(FPS)), time_base=draw(st.sampled_from(TIME_BASES)),
                frames=draw(st.integers(1, 3)), size=draw(st.sampled_from(SIZES)),
                rotation=draw(st.sampled_from((0, 90, 180, 270))), audio=draw(st.booleans()),
                timing=draw(st.sampled_from(TIMING)), bframes=draw(st.booleans()), output=draw(st.sampled_from(OUTPUTS)),
                lossless=draw(st.booleans()), coding=draw(st.sampled_from(CODINGS)))


_counter = itertools.count()


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_anonymize_success_means_exact_recovery(case, tmp_path_factory):
    check(case, tmp_path_factory.mktemp(f"case{next(_counter)}"))


def test_the_issue_22_cases_recover(tmp_path):
    """The two cases the audit found, as property cases (they failed before the fix)."""
    from fractions import Fraction

    fast = Case("libx264", ".mkv", Fraction(12800), None, 3, (160, 120), 0, False, "regular", False, ".mkv", False, "auto")
    short = Case("libx264", ".mp4", Fraction(12), None, 1, (160, 120), 0, False, "regular", False, ".mkv", True, "auto")
    for i, case in enumerate((fast, short)):
        assert check(case, tmp_path / str(i)) == "ok"
