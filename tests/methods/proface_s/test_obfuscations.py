import numpy as np
import pytest

from faceveil.errors import InputError
from faceveil.methods.proface_s.obfuscations import OBFUSCATIONS, obfuscate, resolve_kind


def _detail(img: np.ndarray) -> float:
    """Mean absolute horizontal gradient: how much fine detail is left."""
    f = img.astype(np.float64)
    return float(np.abs(np.diff(f, axis=1)).mean())


@pytest.mark.parametrize("kind", ["blur", "median", "pixelate"])
def test_classical_obfuscations_remove_detail(aligned_faces, kind):
    face = aligned_faces["astronaut"]
    out = obfuscate(face, kind, np.random.default_rng(0))
    assert out.shape == face.shape and out.dtype == np.uint8
    assert _detail(out) < 0.5 * _detail(face)


def test_pixelate_block_scales_with_crop_size(aligned_faces):
    face = aligned_faces["grace_hopper"]
    out = obfuscate(face, "pixelate", np.random.default_rng(0))
    assert np.all(out[:20, :20] == out[0, 0])  # 256 px crop: 20 px blocks
    small = obfuscate(face[::2, ::2].copy(), "pixelate", np.random.default_rng(0))
    assert np.all(small[:10, :10] == small[0, 0]) and not np.all(small[:20, :20] == small[0, 0])


def test_mask_covers_the_face_not_the_corners(aligned_faces):
    face = aligned_faces["astronaut"]
    out = obfuscate(face, "mask", np.random.default_rng(1))
    centre = (slice(100, 180), slice(90, 166))
    assert np.abs(out[centre].astype(int) - face[centre]).mean() > 20
    assert np.array_equal(out[:10, :10], face[:10, :10])
    other = obfuscate(face, "mask", np.random.default_rng(2))
    assert not np.array_equal(out, other)  # masks vary with the seed


def test_hybrid_draws_several_kinds():
    rng = np.random.default_rng(0)
    drawn = {resolve_kind("hybrid", rng) for _ in range(60)}
    assert drawn == {"blur", "median", "pixelate", "mask"}
    hook = lambda img, rng: img  # noqa: E731
    assert "faceswap" in {resolve_kind("hybrid", rng, hook) for _ in range(60)}


def test_faceswap_hook(aligned_faces):
    face = aligned_faces["astronaut"]
    swapped = obfuscate(face, "faceswap", np.random.default_rng(0), faceswap=lambda img, rng: 255 - img)
    assert np.array_equal(swapped, 255 - face)
    with pytest.raises(InputError, match="face-swap callable"):
        obfuscate(face, "faceswap", np.random.default_rng(0))
    with pytest.raises(InputError, match="expected"):
        obfuscate(face, "faceswap", np.random.default_rng(0), faceswap=lambda img, rng: img[:10])


def test_unknown_obfuscation():
    assert "blur" in OBFUSCATIONS
    with pytest.raises(InputError, match="unknown"):
        obfuscate(np.zeros((8, 8, 3), np.uint8), "swirl", np.random.default_rng(0))
