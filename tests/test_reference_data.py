"""The checkpoint layouts kept with the tests must be the project's shared reference, unchanged."""

import json
import math
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
COPY = HERE / "data" / "reference_checkpoints.json"
SHARED = HERE.parent.parent / "shared" / "reference" / "reference_checkpoints.json"


def test_copy_lists_every_published_checkpoint():
    layouts = json.loads(COPY.read_text())
    assert {"g2face_checkpoint", "stylegan2_rosinality_256_g_ema", "stylegan2_rosinality_256_d", "arcface_iresnet50",
            "deep3dfacerecon_net_recon", "proface_s_modeldwt_inv3"} <= set(layouts)
    n_params = sum(math.prod(shape) for _, shape, _ in layouts["proface_s_modeldwt_inv3"])
    assert n_params == 1_073_040  # the released PRO-Face S model's parameter count


@pytest.mark.skipif(not SHARED.exists(), reason="no shared/ checkout beside this clone")
def test_copy_matches_the_shared_reference():
    assert COPY.read_bytes() == SHARED.read_bytes()
