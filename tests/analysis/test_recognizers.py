import pytest

from faceveil.analysis.recognizers import (
    RECOGNIZER_NAMES,
    TRAINING_RECOGNIZERS,
    create_recognizer,
    default_recognizers,
    recognizer_availability,
    try_create_recognizer,
)
from faceveil.errors import InputError, ModelUnavailableError


def test_availability_lists_every_recognizer_and_dlib_is_installed():
    found = {a.name: a for a in recognizer_availability()}
    assert set(found) == set(RECOGNIZER_NAMES)
    assert found["dlib"].available


def test_training_recognizer_is_excluded_unless_requested(monkeypatch):
    import faceveil.analysis.recognizers as rec

    monkeypatch.setitem(rec.TRAINING_RECOGNIZERS, "toy", ("dlib",))
    names, notes = default_recognizers("toy")
    assert "dlib" not in names and any("dlib: excluded" in n for n in notes)
    names, notes = default_recognizers("toy", requested=["dlib"])
    assert names == ["dlib"] and any("on request" in n for n in notes)
    assert TRAINING_RECOGNIZERS["g2face"] == ("arcface",)


def test_unknown_names_raise():
    with pytest.raises(InputError):
        create_recognizer("facenet")
    with pytest.raises(InputError):
        default_recognizers(None, requested=["facenet"])


def test_missing_weights_are_reported_not_raised(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEVEIL_WEIGHTS", str(tmp_path))
    found = {a.name: a for a in recognizer_availability()}
    assert not found["arcface"].available and "arcface_iresnet50" in found["arcface"].reason
    # the recognizer table and the model registry agree on where the ArcFace weights live
    from faceveil.models_registry import model_statuses

    registry = {s.name: s for s in model_statuses()}
    assert registry["arcface_iresnet50"].where.endswith("backbone.pth")
    recognizer, reason = try_create_recognizer("arcface")
    assert reason is None  # construction is lazy: the missing file surfaces, typed, on first use
    with pytest.raises(ModelUnavailableError, match="arcface_iresnet50"):
        recognizer.module  # noqa: B018
