import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceveil.errors import InputError
from faceveil.faces.align import (
    FFHQ_TEMPLATE_512,
    align_face,
    estimate_similarity,
    eye_distance,
    feather_mask,
    paste_back,
    refine_landmarks,
    region_rect,
    template,
    transform_points,
)
from faceveil.faces.types import Face

from .conftest import collage, match


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def outside_rect(shape, rect) -> np.ndarray:
    x, y, w, h = rect
    mask = np.ones(shape[:2], bool)
    mask[y : y + h, x : x + w] = False
    return mask


def similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    c, s = np.cos(np.radians(angle_deg)) * scale, np.sin(np.radians(angle_deg)) * scale
    return np.array([[c, -s, tx], [s, c, ty]])


def test_template_scales_the_ffhq_points():
    assert np.allclose(template(512), FFHQ_TEMPLATE_512)
    assert np.allclose(template(256), FFHQ_TEMPLATE_512 / 2)
    assert template(1024)[0, 0] == pytest.approx(2 * 192.98138)


@settings(max_examples=40, deadline=None)
@given(
    angle=st.floats(-180, 180),
    scale=st.floats(0.05, 20),
    tx=st.floats(-500, 500),
    ty=st.floats(-500, 500),
)
def test_estimate_similarity_recovers_exact_transform(angle, scale, tx, ty):
    truth = similarity(angle, scale, tx, ty)
    src = template(256) + np.array([3.0, -7.0])
    dst = transform_points(truth, src)
    assert np.allclose(estimate_similarity(src, dst), truth, atol=1e-6 * max(1.0, scale) + 1e-6)


def test_estimate_similarity_never_reflects():
    src = template(256)
    mirrored = src * np.array([-1.0, 1.0])
    matrix = estimate_similarity(src, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


@pytest.mark.parametrize(
    "src,dst",
    [
        (np.zeros((5, 2)), template(256)),  # degenerate: all points equal
        (template(256), template(256)[:4]),  # mismatched
        (np.zeros((5, 3)), np.zeros((5, 3))),  # wrong dimensionality
        (np.full((5, 2), np.nan), template(256)),
    ],
)
def test_estimate_similarity_rejects_bad_points(src, dst):
    with pytest.raises(InputError):
        estimate_similarity(src, dst)


def test_inverse_composes_to_identity(samples):
    sample = samples["grace_hopper"]
    aligned = align_face(sample.rgb, sample.face, 256)
    forward = np.vstack([aligned.matrix, [0, 0, 1]])
    backward = np.vstack([aligned.inverse(), [0, 0, 1]])
    assert np.allclose(forward @ backward, np.eye(3), atol=1e-9)
    assert np.allclose(transform_points(aligned.matrix, sample.face.landmarks), template(256), atol=0.15 * eye_distance(sample.face))


@pytest.mark.parametrize("name,size", [("astronaut", 256), ("grace_hopper", 512)])
def test_align_then_paste_unmodified_crop_reproduces_face(samples, name, size):
    sample = samples[name]
    original = sample.rgb.copy()
    aligned = align_face(sample.rgb, sample.face, size)
    assert aligned.crop.shape == (size, size, 3) and aligned.crop.dtype == np.uint8
    result, rect = paste_back(sample.rgb, aligned.crop, aligned)
    assert np.array_equal(sample.rgb, original), "paste_back must not modify its input"
    interior = cv2.warpAffine(feather_mask(size, 0.1), aligned.inverse(), original.shape[1::-1]) >= 0.999
    assert interior.sum() > 0.5 * sample.face.width * sample.face.height
    assert psnr(result[interior], original[interior]) > 35
    assert np.array_equal(result[outside_rect(original.shape, rect)], original[outside_rect(original.shape, rect)])


def test_paste_back_of_a_replaced_crop_changes_only_inside_rect(samples):
    sample = samples["astronaut"]
    aligned = align_face(sample.rgb, sample.face, 256)
    grey = np.full_like(aligned.crop, 128)
    result, (x, y, w, h) = paste_back(sample.rgb, grey, aligned)
    # the face centre becomes the replacement colour...
    cx, cy = transform_points(aligned.inverse(), np.array([[128.0, 128.0]]))[0].round().astype(int)
    assert np.abs(result[cy - 5 : cy + 5, cx - 5 : cx + 5].astype(int) - 128).max() <= 1
    # ...the rect is tight around the changed pixels and everything outside is bit-identical
    changed = np.any(result != sample.rgb, axis=2)
    rows, cols = np.nonzero(changed.any(axis=1))[0], np.nonzero(changed.any(axis=0))[0]
    assert x <= cols[0] and cols[-1] < x + w and y <= rows[0] and rows[-1] < y + h
    assert w <= cols[-1] - cols[0] + 3 and h <= rows[-1] - rows[0] + 3
    assert not changed[outside_rect(changed.shape, (x, y, w, h))].any()


@pytest.mark.parametrize("angle", [-30, -15, 15, 30])
def test_rotated_faces_come_out_upright(samples, detector, angle):
    """The crop of a rotated face, aligned from *detected* landmarks, puts the true eyes where the crop
    of the unrotated sample puts them (the samples' own eyes are not perfectly level)."""
    placements = [("astronaut", 250, 250, 140, angle), ("grace_hopper", 600, 260, 160, -angle)]
    rgb, truths = collage(samples, placements, size=(520, 860), seed=1)
    found = match(truths, detector.detect(rgb))
    for (name, *_), truth, face in zip(placements, truths, found, strict=True):
        assert face is not None
        sample = samples[name]
        reference = transform_points(align_face(sample.rgb, sample.face, 256).matrix, sample.face.landmarks[:2])
        eyes = transform_points(align_face(rgb, face, 256).matrix, truth.landmarks[:2])
        tilt = (eyes[1, 1] - eyes[0, 1]) - (reference[1, 1] - reference[0, 1])
        # CenterFace's landmarks lag behind strong roll: ~6 deg residual tilt at 30 deg on grace_hopper
        assert abs(tilt) < 8.0, f"eye line tilted by {tilt:.1f} px over ~67 px"
        assert np.abs(eyes - reference).max() < 10.0


@pytest.mark.parametrize("corner", ["left", "top", "bottom_right"])
def test_border_faces_give_full_reflected_crops_and_clipped_rects(samples, corner):
    sample = samples["astronaut"]
    x0, y0, x1, y1 = sample.face.box
    cut = {"left": (int(x0 + 0.4 * (x1 - x0)), 0), "top": (0, int(y0 + 0.35 * (y1 - y0))), "bottom_right": (0, 0)}[corner]
    rgb = sample.rgb[cut[1] :, cut[0] :]
    if corner == "bottom_right":
        rgb = sample.rgb[: int(y1 - 0.3 * (y1 - y0)), : int(x1 - 0.3 * (x1 - x0))]
    rgb = np.ascontiguousarray(rgb)
    face = Face(
        box=(x0 - cut[0], y0 - cut[1], x1 - cut[0], y1 - cut[1]),
        landmarks=sample.face.landmarks - np.array(cut, np.float32),
    )
    aligned = align_face(rgb, face, 256)
    # beyond the border the crop shows the image mirrored: identical to aligning an explicitly padded copy
    pad = 300
    padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    shifted = Face(box=tuple(v + pad for v in face.box), landmarks=face.landmarks + pad)
    difference = np.abs(align_face(padded, shifted, 256).crop.astype(int) - aligned.crop)
    assert difference.mean() < 0.5 and difference.max() < 8  # float32 landmark round-off only
    result, (x, y, w, h) = paste_back(rgb, np.zeros_like(aligned.crop), aligned)
    assert result.shape == rgb.shape
    assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= rgb.shape[1] and y + h <= rgb.shape[0]
    assert np.array_equal(result[outside_rect(rgb.shape, (x, y, w, h))], rgb[outside_rect(rgb.shape, (x, y, w, h))])


def test_many_faces_are_pasted_independently(samples, detector):
    placements = [(["astronaut", "grace_hopper"][i % 2], 110 + 210 * i, 150 + 200 * (i % 2), 90, 10 * i - 20) for i in range(5)]
    rgb, truths = collage(samples, placements, size=(460, 1180), seed=2)
    faces = [f for f in match(truths, detector.detect(rgb)) if f is not None]
    assert len(faces) == 5
    result, rects = rgb, []
    for face in faces:
        aligned = align_face(result, face, 128)
        result, rect = paste_back(result, 255 - aligned.crop, aligned)  # inverted colours: obviously changed
        rects.append(rect)
    untouched = np.ones(rgb.shape[:2], bool)
    for face, rect in zip(faces, rects, strict=True):
        x, y, w, h = rect
        untouched[y : y + h, x : x + w] = False
        cx, cy = np.round(face.landmarks[2]).astype(int)  # the nose is deep inside the blended area
        assert np.abs(result[cy, cx].astype(int) - rgb[cy, cx]).max() > 20
    assert np.array_equal(result[untouched], rgb[untouched])


def test_paste_back_of_a_face_outside_the_image_changes_nothing(samples):
    sample = samples["astronaut"]
    aligned = align_face(sample.rgb, sample.face, 64)
    aligned.matrix = aligned.matrix.copy()
    aligned.matrix[:, 2] += aligned.matrix[:, :2] @ np.array([5000.0, 0.0])  # crop now maps far to the left
    result, rect = paste_back(sample.rgb, aligned.crop, aligned)
    assert rect == (0, 0, 0, 0) and np.array_equal(result, sample.rgb)


def test_feather_mask_is_zero_at_the_edge_and_one_inside():
    mask = feather_mask(256, 0.1)
    assert mask.shape == (256, 256) and mask.dtype == np.float32
    assert mask[0].max() == 0 and mask[:, -1].max() == 0
    assert mask[40:-40, 40:-40].min() == 1.0
    assert np.all(np.diff(mask[128, :128]) >= 0), "monotone ramp from the edge inwards"


def test_paste_back_rejects_mismatched_crops(samples):
    sample = samples["astronaut"]
    aligned = align_face(sample.rgb, sample.face, 128)
    with pytest.raises(InputError):
        paste_back(sample.rgb, np.zeros((64, 64, 3), np.uint8), aligned)
    with pytest.raises(InputError):
        paste_back(sample.rgb, aligned.crop.astype(np.float32), aligned)
    with pytest.raises(InputError):
        paste_back(sample.rgb, aligned.crop, aligned, feather=0.7)


def test_eye_distance_and_box_only_faces(samples):
    face = samples["astronaut"].face
    assert eye_distance(face) == pytest.approx(float(np.linalg.norm(face.landmarks[1] - face.landmarks[0])))
    box_only = Face(box=face.box)
    # the box-based estimate is within 20 % of the real eye distance and aligns an upright face
    assert eye_distance(box_only) == pytest.approx(eye_distance(face), rel=0.2)
    aligned = align_face(samples["astronaut"].rgb, box_only, 128)
    eyes = transform_points(aligned.matrix, face.landmarks[:2])
    assert np.abs(eyes - template(128)[:2]).max() < 0.15 * 128


def test_region_rect_covers_face_and_is_clipped(samples):
    sample = samples["grace_hopper"]
    face = sample.face
    x, y, w, h = region_rect(face, sample.rgb.shape)
    x0, y0, x1, y1 = face.box
    assert x < x0 and y < y0 and x + w > x1 and y + h > y1
    assert (w * h) > 1.5 * face.width * face.height  # margin for ears and hairline
    # cut by the border: clipped, non-empty
    shifted = Face(box=(-0.8 * face.width, 10, 0.2 * face.width, 10 + face.height))
    rx, ry, rw, rh = region_rect(shifted, (100, 100, 3))
    assert rx == 0 and rw >= 1 and ry + rh <= 100
    # a sliver of one pixel is still a face region
    assert region_rect(Face(box=(99.5, 50, 150, 90)), (100, 100, 3), margin=0)[2] == 1


def test_region_rect_rejects_faces_off_the_image():
    with pytest.raises(InputError):
        region_rect(Face(box=(200, 200, 260, 260)), (100, 100, 3))
    with pytest.raises(InputError):
        region_rect(Face(box=(10, 10, 5, 20)), (100, 100, 3))
    with pytest.raises(InputError):
        region_rect(Face(box=(10, 10, 20, 20)), (100, 100, 3), margin=-1)


@pytest.mark.parametrize("angle", [-30, 30])
def test_refine_landmarks_straightens_strongly_rolled_faces(samples, detector, angle):
    rgb, truths = collage(samples, [("grace_hopper", 300, 260, 160, angle)], size=(520, 600), seed=4)
    (face,) = match(truths, detector.detect(rgb))
    refined = refine_landmarks(rgb, face, detector)
    assert refined.box == face.box and refined.score == face.score

    def eye_error(f: Face) -> float:
        eyes = transform_points(align_face(rgb, f, 256).matrix, truths[0].landmarks[:2])
        return float(np.abs(eyes - template(256)[:2]).max())

    # measured: 7.5 -> 4.7 px (-30 deg) and 9.9 -> 2.5 px (+30 deg)
    assert eye_error(refined) < 6.0
    assert eye_error(refined) < 0.75 * eye_error(face)


def test_refine_landmarks_keeps_the_face_when_the_crop_has_none(samples, detector):
    blank = np.full((300, 300, 3), 90, np.uint8)
    face = Face(box=(100, 100, 180, 190), landmarks=samples["astronaut"].face.landmarks - 50)
    assert refine_landmarks(blank, face, detector) is face


def test_strong_downscaling_is_anti_aliased(samples):
    """A 48 px crop of a ~180 px face should match the same crop rendered at 512 px and box-filtered down,
    much better than point-sampled bilinear warping (which aliases hair and collar texture)."""
    sample = samples["grace_hopper"]
    small = align_face(sample.rgb, sample.face, 48)
    r = 48 / 512  # 512-crop pixel x lands at (x + 0.5) * r - 0.5 in the 48 crop (INTER_AREA's pixel centres)
    to_small = np.array([[r, 0, 0.5 * r - 0.5], [0, r, 0.5 * r - 0.5], [0, 0, 1]])
    matrix_512 = (np.linalg.inv(to_small) @ np.vstack([small.matrix, [0, 0, 1]]))[:2]
    large = cv2.warpAffine(sample.rgb, matrix_512, (512, 512), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    reference = cv2.resize(large, (48, 48), interpolation=cv2.INTER_AREA)
    naive = cv2.warpAffine(sample.rgb, small.matrix, (48, 48), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    inner = (slice(3, -3), slice(3, -3))  # the reflected border differs slightly between scales
    assert psnr(small.crop[inner], reference[inner]) > psnr(naive[inner], reference[inner]) + 3
    assert psnr(small.crop[inner], reference[inner]) > 27  # measured 29.0 dB vs 22.8 dB for the naive warp
