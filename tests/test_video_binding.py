"""Issue 12 #2: a lossy video is bound to its payload (timestamps + signatures of the anonymized pixels
within a documented tolerance), so another video's payload, or an edited re-encoded frame, is refused."""

from __future__ import annotations

import numpy as np
import pytest

from faceveil.errors import TamperedPixelsError
from faceveil.io.carriers import sidecar_path
from faceveil.io.video import EncodeOptions, VideoWriter, iter_frames, probe_video
from faceveil.pipeline.video import VideoOptions, anonymize_video, recover_video
from faceveil.pipeline.video_check import verify_video_file
from faceveil.pipeline.video_payload import BINDING, frame_signatures, signature_mismatch
from faceveil.testing import write_synthetic_clip


@pytest.fixture(scope="module")
def lossy_pair(tmp_path_factory, identity):
    """Two lossy MP4 anonymizations (x264 CRF 18) of two different clips of the same size and length."""
    d = tmp_path_factory.mktemp("bind")
    a_clip = write_synthetic_clip(d / "a.mp4", seconds=0.6, noise=2.0)
    b_clip = write_synthetic_clip(d / "b.mp4", seconds=0.6, noise=2.0, moving=False)
    outs = []
    for clip, name in ((a_clip, "a.anon.mp4"), (b_clip, "b.anon.mp4")):
        anonymize_video(clip.path, d / name, method="mosaic", detector="centerface", recipients=[identity.recipient],
                        options=VideoOptions(encode=EncodeOptions(crf=18)))
        outs.append(d / name)
    return outs


def test_untouched_lossy_video_verifies_and_recovers(lossy_pair, identity, tmp_path):
    a, _ = lossy_pair
    assert verify_video_file(a, [identity])["check"].startswith("timestamps and pixel signatures")
    recover_video(a, tmp_path / "back.mkv", [identity])


@pytest.mark.parametrize("tag", ["kept", "stripped"])
def test_payload_of_another_lossy_video_is_refused(lossy_pair, identity, tmp_path, monkeypatch, tag):
    """Refused by the stream-id tag, and without it (a remux can drop tags) by timestamps/signatures."""
    a, b = lossy_pair
    if tag == "stripped":
        import faceveil.pipeline.video_check as video_module  # where the binding check reads the tag

        monkeypatch.setattr(video_module, "container_tag", lambda path, key: None)
    with pytest.raises(TamperedPixelsError, match="not the video"):
        recover_video(a, tmp_path / "x.mkv", [identity], payload_file=sidecar_path(b))
    assert not (tmp_path / "x.mkv").exists()


def test_edited_and_reencoded_lossy_frame_is_refused(lossy_pair, identity, tmp_path):
    a, _ = lossy_pair
    info = probe_video(a)
    edited = tmp_path / "edited.mp4"
    with VideoWriter(edited, info, EncodeOptions(crf=18), container_format="mp4") as writer:
        for frame in iter_frames(a):
            rgb = frame.rgb.copy()
            if frame.index == 7:  # paint over the face area of one frame
                rgb[60:180, 100:220] = (200, 160, 140)
            writer.write(rgb, frame.pts)
    sidecar_path(edited).write_bytes(sidecar_path(a).read_bytes())
    with pytest.raises(TamperedPixelsError, match="frame 7"):
        recover_video(edited, tmp_path / "x.mkv", [identity])


def test_signature_tolerance_admits_coding_noise_and_refuses_edits(astronaut):
    rgb = astronaut[:240, :320].copy()
    rect = (100, 40, 120, 140)
    sigs = frame_signatures(rgb, [rect])
    noisy = np.clip(rgb.astype(int) + np.random.default_rng(0).integers(-6, 7, rgb.shape), 0, 255).astype(np.uint8)
    assert signature_mismatch(noisy, sigs, BINDING) is None
    edited = rgb.copy()
    edited[70:130, 130:190] = 128  # a patch over part of the rectangle
    assert signature_mismatch(edited, sigs, BINDING) is not None
    assert "face rectangle" in signature_mismatch(edited, sigs[1:], BINDING)  # the rectangle alone sees it too


def test_video_names_its_payload_stream(lossy_pair, identity, tmp_path):
    """The anonymized video carries the payload's authenticated stream id as a container tag: a swapped
    payload is refused before any frame is decoded, with a message that says so."""
    from faceveil.io.video import container_tag
    from faceveil.pipeline.placement import video_payload_source
    from faceveil.pipeline.video_payload import STREAM_TAG, read_video_header

    a, b = lossy_pair
    with video_payload_source(a, None) as (stream, _):
        header, _ = read_video_header(stream)
    assert container_tag(a, STREAM_TAG) == header.extra["video"]["stream_id"]
    with pytest.raises(TamperedPixelsError, match="names payload stream"):
        verify_video_file(a, [identity], sidecar_path(b))


def test_inspect_verify_on_a_video(lossy_pair, identity):
    """Issue 12 #5 for videos: plain inspect is unverified; with identities every frame is checked."""
    from faceveil import api

    a, b = lossy_pair
    plain = api.inspect(a)
    assert plain["verified"] is False and plain["pixels_match_payload"] is None  # lossy: nothing checkable without a key
    keyed = api.inspect(a, identities=[identity])
    assert keyed["verified"] is True and keyed["frames_checked"] == plain["regions"]
    with pytest.raises(TamperedPixelsError):
        api.inspect(a, sidecar_path(b), identities=[identity])
