"""`faceveil train g2face` sub-app: a real (tiny) run with the offline priors, and bad options."""

import pytest
import torch
from typer.testing import CliRunner

from faceveil.errors import InputError
from faceveil.methods.g2face.checkpoint import read_checkpoint
from faceveil.models_registry import model_statuses


def _offline_priors_installed() -> bool:
    status = {s.name: s.installed for s in model_statuses()}
    return status.get("human-mobileface", False) and status.get("human-facemesh", False)


@pytest.mark.skipif(not _offline_priors_installed(), reason="npm human-models not installed")
def test_tiny_offline_training_run_writes_a_g2face_checkpoint(tmp_path):
    from faceveil.methods.g2face.train import app

    torch.set_num_threads(1)
    args = ["--priors", "offline", "--size", "32", "--channel-scale", "0.0625", "--steps", "2", "--batch-size", "2", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    state = read_checkpoint(tmp_path / "last.pth")
    assert state["step"] == 2
    assert {"anonymous_net", "style_mlp", "map_2_id", "hiding_extractor"} <= set(state)
    assert state["style_mlp"]["style_low.0.weight"].shape == (512, 256 + 1404)  # offline prior dims


def test_unknown_priors_is_an_input_error(tmp_path):
    from faceveil.methods.g2face.train import app

    result = CliRunner().invoke(app, ["--priors", "magic", "--out", str(tmp_path), "--size", "32", "--channel-scale", "0.0625"])
    assert isinstance(result.exception, InputError)
