"""The declarative registry (faceveil.plugins) is the one list every entry point reads."""

from __future__ import annotations

import pytest

from faceveil.analysis.recognizers import RECOGNIZER_NAMES
from faceveil.errors import InputError
from faceveil.faces.detect import available_detectors, create_detector
from faceveil.methods.base import AnonymizationMethod, available_methods, create_method, register_method
from faceveil.models_registry import model_statuses
from faceveil.plugins import DETECTORS, METHODS, RECOGNIZERS, TRAIN_COMMANDS, Plugin


@pytest.mark.parametrize("registry", [METHODS, DETECTORS, RECOGNIZERS, TRAIN_COMMANDS], ids=lambda r: r.kind)
def test_every_entry_resolves_to_a_factory_and_its_models_are_registered(registry):
    known_models = {s.name for s in model_statuses()}
    for plugin in registry:
        assert callable(plugin.load()), plugin.name
        assert set(plugin.models) <= known_models, plugin.name
        for name in plugin.option_names():  # the options schema names real dataclass fields
            assert name.isidentifier()


def test_the_create_functions_list_the_registry():
    assert available_methods() == sorted(METHODS.names())
    assert available_detectors() == sorted(DETECTORS.names())
    assert list(RECOGNIZER_NAMES) == RECOGNIZERS.names()
    assert {"mosaic", "proface-s", "g2face"} <= set(METHODS.names())
    assert {"centerface", "haar", "blazeface", "dlib-hog"} <= set(DETECTORS.names())
    assert "block" in METHODS.get("pixelate").option_names()  # PixelateConfig.block: -O block=N
    assert "obfuscation" in METHODS.get("proface-s").option_names()  # keyword of ProFaceSMethod


def test_unknown_names_and_options_are_input_errors():
    with pytest.raises(InputError, match="unknown method 'nope'; choose one of: .*proface-s"):
        create_method("nope")
    with pytest.raises(InputError, match="unknown face detector 'nope'; choose one of: .*haar"):
        create_detector("nope")
    with pytest.raises(InputError, match="invalid option for face detector 'haar'"):
        create_detector("haar", bogus=1)


def test_a_method_registered_at_run_time_is_created_by_name(monkeypatch):
    monkeypatch.setattr(METHODS, "_plugins", dict(METHODS._plugins))  # undo the addition afterwards

    @register_method("test-invert")
    class Invert(AnonymizationMethod):
        """Inverts the face crop (a test plug-in)."""

        name = "test-invert"

        def anonymize(self, crops, contexts):
            return [255 - c for c in crops]

    assert isinstance(create_method("test-invert"), Invert)
    assert "test-invert" in available_methods()
    assert METHODS.get("test-invert") == Plugin("test-invert", Invert, "Inverts the face crop (a test plug-in).")


def test_option_defaults_come_from_the_schemas():
    import dataclasses

    from faceveil.faces.detect import DetectorConfig
    from faceveil.methods.classical import BlurConfig
    from faceveil.plugins import DETECTORS, METHODS

    assert METHODS.get("blur").option_defaults() == dataclasses.asdict(BlurConfig()) | {"sigma_range": (9.0, 21.0)}
    assert DETECTORS.get("centerface").option_defaults()["threshold"] == DetectorConfig().threshold == 0.2
    proface = METHODS.get("proface-s")
    assert "faceswap" not in proface.option_defaults() and "faceswap" in proface.option_names()
    assert proface.option_defaults()["obfuscation"] == "blur"


def test_g2face_factory_spells_out_the_method_keywords():
    """create_g2face lists G2FaceMethod's keywords (so --help needs no torch): same names, same defaults."""
    import inspect

    from faceveil.methods.g2face.method import G2FaceMethod
    from faceveil.methods.g2face.registration import create_g2face

    def defaults(fn):
        return {n: p.default for n, p in inspect.signature(fn).parameters.items()}

    assert defaults(create_g2face) == defaults(G2FaceMethod)
