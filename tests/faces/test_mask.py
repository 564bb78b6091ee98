"""faceveil.faces.mask: mask shape (box / feathered ellipse) and deface-style mask scale, for region and
aligned methods, with exact recovery of the whole region rectangle."""

from __future__ import annotations

import numpy as np
import pytest

from faceveil.crypto.envelope import ContentKey
from faceveil.errors import InputError
from faceveil.faces.align import region_bounds, region_rect
from faceveil.faces.mask import DEFACE_MASK_SCALE, ImageMask, MaskSpec, blend
from faceveil.faces.types import Face
from faceveil.methods.base import PixelRecoverableMethod
from faceveil.methods.classical import MosaicMethod, SolidMethod
from faceveil.pipeline import anonymize_frame, changed_regions, face_contexts, recover_frame_from_pixels, restore_regions


class InvertRegion(PixelRecoverableMethod):
    """Exactly invertible region method (stands in for a pixel-recoverable learned method)."""

    name = "test-invert-region"
    space = "region"

    def anonymize(self, crops, contexts):
        return [255 - c for c in crops]

    def recover(self, crops, contexts):
        return [255 - c for c in crops]


class InvertAligned(InvertRegion):
    name = "test-invert-aligned"
    space = "aligned"
    min_eye_distance = 10.0


def test_mask_scale_follows_deface_and_default_keeps_faceveil_margin():
    face = Face(box=(100.0, 100.0, 200.0, 150.0))
    # deface's scale_bb: each side moves out by (s - 1) x the box's own size
    assert region_bounds(face, mask_scale=1.3) == pytest.approx((70.0, 85.0, 230.0, 165.0))
    assert region_bounds(face, mask_scale=1.0) == pytest.approx(face.box)
    assert MaskSpec().rect(face, (1000, 1000, 3)) == region_rect(face, (1000, 1000, 3))  # margin 0.2 of max side
    assert region_rect(face, (1000, 1000, 3)) == (80, 80, 140, 90)
    assert MaskSpec(scale=DEFACE_MASK_SCALE).rect(face, (120, 1000, 3)) == (70, 85, 160, 35)  # clipped at the bottom


@pytest.mark.parametrize("kwargs", [{"shape": "circle"}, {"scale": 0.9}, {"scale": float("nan")}, {"feather": 1.0}, {"feather": -0.1}])
def test_mask_spec_rejects_bad_values(kwargs):
    with pytest.raises(InputError):
        MaskSpec(**kwargs)


def test_ellipse_alpha_is_opaque_inside_zero_outside_and_smooth():
    mask = ImageMask((0.0, 0.0, 100.0, 60.0), "ellipse", feather=0.2)
    alpha = mask.alpha(0, 0, 100, 60)
    assert alpha.shape == (60, 100) and alpha.dtype == np.float32
    assert alpha[30, 50] == 1.0 and alpha[0, 0] == 0.0 and alpha[59, 99] == 0.0
    assert alpha[30, 0] < 0.1 and alpha[0, 50] < 0.1  # edge midpoints sit on the ellipse: nearly untouched
    row = alpha[30, :50]
    assert np.all(np.diff(row) >= 0)  # monotone ramp towards the centre, no hard step
    assert 0 < ((row > 0) & (row < 1)).sum() <= 12  # feather band ~20 % of the 50 px semi-axis
    # a window evaluates the same shape: alpha is a function of image position only
    assert np.array_equal(mask.alpha(20, 10, 30, 20), alpha[10:30, 20:50])
    hard = ImageMask((0.0, 0.0, 100.0, 60.0), "ellipse", feather=0.0).alpha(0, 0, 100, 60)
    assert set(np.unique(hard)) == {0.0, 1.0}
    box = ImageMask((0.0, 0.0, 100.0, 60.0), "box", feather=0.0).alpha(0, 0, 100, 60)
    assert box.all()


def test_blend_keeps_untouched_pixels_bit_identical():
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(2))
    alpha = ImageMask((0.0, 0.0, 30.0, 20.0), "ellipse").alpha(0, 0, 30, 20)
    out = blend(a, b, alpha)
    assert np.array_equal(out[alpha == 0], a[alpha == 0]) and np.array_equal(out[alpha == 1], b[alpha == 1])
    assert blend(a, b, None) is b
    with pytest.raises(InputError):
        blend(a, b, alpha[:10])


@pytest.fixture(scope="module")
def astronaut_face(astronaut):
    from faceveil.faces.detect import create_detector

    faces = create_detector("centerface").detect(astronaut)
    assert len(faces) == 1
    return faces


def test_default_mask_spec_is_the_historical_behaviour(astronaut, astronaut_face):
    contexts = face_contexts(astronaut_face, ContentKey.generate())
    legacy = anonymize_frame(astronaut, astronaut_face, MosaicMethod(), contexts)
    explicit = anonymize_frame(astronaut, astronaut_face, MosaicMethod(), contexts, mask=MaskSpec())
    assert np.array_equal(legacy.rgb, explicit.rgb) and legacy.outcomes[0].rect == explicit.outcomes[0].rect


@pytest.mark.parametrize("method", [SolidMethod(), MosaicMethod(), InvertRegion()], ids=lambda m: m.name)
def test_ellipse_replaces_the_face_keeps_the_corners_and_recovers_exactly(astronaut, astronaut_face, method):
    spec = MaskSpec("ellipse", DEFACE_MASK_SCALE)
    contexts = face_contexts(astronaut_face, ContentKey.generate())
    result = anonymize_frame(astronaut, astronaut_face, method, contexts, mask=spec)
    (outcome,) = result.outcomes
    x, y, w, h = outcome.rect
    assert outcome.rect == spec.rect(astronaut_face[0], astronaut.shape)  # the whole scaled region is recorded
    x0, y0, x1, y1 = astronaut_face[0].box
    assert w >= 1.5 * (x1 - x0) or x == 0 or x + w == astronaut.shape[1]  # 1.6x the box unless clipped
    changed = np.any(result.rgb != astronaut, axis=-1)
    inside = changed[y : y + h, x : x + w]
    cy, cx = h // 2, w // 2
    assert inside[cy - 10 : cy + 10, cx - 10 : cx + 10].all()  # the face centre is replaced
    for corner in (inside[:8, :8], inside[:8, -8:], inside[-8:, :8], inside[-8:, -8:]):
        assert not corner.any()  # the rectangle's corners (outside the ellipse) are untouched
    outside = changed.copy()
    outside[y : y + h, x : x + w] = False
    assert not outside.any()
    regions = changed_regions(astronaut, result.rgb, [o.rect for o in result.outcomes])
    assert len(regions) == 1  # nothing escaped the recorded rectangle
    assert np.array_equal(restore_regions(result.rgb, regions), astronaut)


def test_ellipse_is_smaller_than_box_at_the_same_scale(astronaut, astronaut_face):
    contexts = face_contexts(astronaut_face, ContentKey.generate())
    changed = {}
    for shape in ("box", "ellipse"):
        out = anonymize_frame(astronaut, astronaut_face, SolidMethod(), contexts, mask=MaskSpec(shape, 1.3)).rgb
        changed[shape] = np.any(out != astronaut, axis=-1).sum()
    # pi/4 of the rectangle, a bit less for the feathered rim's rounding (clipping can only shrink both)
    assert 0.6 < changed["ellipse"] / changed["box"] < 0.8


def test_pixel_recovery_with_the_same_mask_restores_the_replaced_pixels(astronaut, astronaut_face):
    spec = MaskSpec("ellipse", 1.3, feather=0.0)  # hard edge: the inverse is exact everywhere
    contexts = face_contexts(astronaut_face, ContentKey.generate())
    method = InvertRegion()
    result = anonymize_frame(astronaut, astronaut_face, method, contexts, mask=spec)
    rects = [o.rect for o in result.outcomes]
    recovered = recover_frame_from_pixels(result.rgb, astronaut_face, method, contexts, rects, mask=spec)
    assert np.array_equal(recovered, astronaut)
    wrong = recover_frame_from_pixels(result.rgb, astronaut_face, method, contexts, rects)  # mask forgotten
    assert not np.array_equal(wrong, astronaut)


def test_aligned_methods_are_limited_by_the_ellipse(astronaut, astronaut_face):
    contexts = face_contexts(astronaut_face, ContentKey.generate())
    plain = anonymize_frame(astronaut, astronaut_face, InvertAligned(), contexts)
    spec = MaskSpec("ellipse", 1.3)
    masked = anonymize_frame(astronaut, astronaut_face, InvertAligned(), contexts, mask=spec)
    changed_plain = np.any(plain.rgb != astronaut, axis=-1)
    changed_masked = np.any(masked.rgb != astronaut, axis=-1)
    assert changed_masked.sum() < changed_plain.sum()
    assert not (changed_masked & ~changed_plain).any()  # the ellipse only ever removes change
    bounds_alpha = spec.image_mask(astronaut_face[0]).alpha(0, 0, astronaut.shape[1], astronaut.shape[0])
    assert not changed_masked[bounds_alpha == 0].any()
    x, y, w, h = masked.outcomes[0].rect
    ys, xs = np.nonzero(changed_masked)
    assert x <= xs.min() and xs.max() < x + w and y <= ys.min() and ys.max() < y + h
    regions = changed_regions(astronaut, masked.rgb, [o.rect for o in masked.outcomes])
    assert np.array_equal(restore_regions(masked.rgb, regions), astronaut)


def test_ellipse_at_deface_scale_fully_covers_the_detector_box(astronaut, astronaut_face):
    """Privacy: with the CLI default (ellipse, 1.3) every pixel of the detector box (but its outermost 5 %,
    where hair and background are) is replaced at full strength, not blended."""
    face = astronaut_face[0]
    spec = MaskSpec("ellipse", DEFACE_MASK_SCALE)
    x, y, w, h = spec.rect(face, astronaut.shape)
    alpha = spec.region_alpha(face, (x, y, w, h))
    x0, y0, x1, y1 = face.box
    mx, my = 0.05 * (x1 - x0), 0.05 * (y1 - y0)
    inner = alpha[int(y0 + my) - y : int(y1 - my) - y, int(x0 + mx) - x : int(x1 - mx) - x]
    assert inner.size > 0 and (inner == 1.0).all()
    # faceveil's narrower default margin (1.4x the box) would leave the box corners outside an ellipse
    narrow = MaskSpec("ellipse").region_alpha(face, MaskSpec().rect(face, astronaut.shape))
    assert narrow.min() == 0.0


def test_mask_spec_round_trips_through_json():
    import json

    spec = MaskSpec("ellipse", 1.3, feather=0.2)
    assert MaskSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert MaskSpec.from_dict(None) is None
    with pytest.raises(InputError):
        MaskSpec.from_dict({"shape": "star"})
    with pytest.raises(InputError):
        MaskSpec.from_dict([1, 2])
