"""Quality metrics for PRO-Face S on held-out real faces (the package-shipped astronaut and
grace_hopper photos, which the default training set excludes).

For each face and obfuscation we measure, with a key map derived like the secure mode does
from 32 random bytes of key material (``hkdf_key_map``):
- ``protected_psnr``: protected vs pre-obfuscated (float output clamped to the image range, before
  8-bit rounding)
- ``recovered_psnr`` / ``recovered_ssim``: recovery vs original, from that float protected image
- ``png_recovered_psnr``: recovery after an actual PNG encode/decode of the protected image
- ``noise_recovered_psnr``: recovery after additive Gaussian noise sigma = 0.01 (of the [0, 1] range)
- ``wrong_key_psnr``: recovery with independent key material
- ``one_bit_key_psnr``: recovery with key material differing in one bit (-> a new HKDF map)
- ``one_pixel_map_psnr``: recovery with the key *map* differing in one pixel (informative: shows how
  local the network's key dependence is; the KDF is what spreads a 1-bit change over the map)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image

from faceveil.analysis.image_quality import psnr
from faceveil.analysis.image_quality import ssim as _ssim
from faceveil.methods.proface_s.keys import key_tensor, secure_key_bits
from faceveil.methods.proface_s.model import ProFaceS
from faceveil.methods.proface_s.obfuscations import obfuscate

EVAL_FACES = ("astronaut", "grace_hopper")
EVAL_OBFUSCATIONS = ("blur", "median", "pixelate", "mask")
NOISE_SIGMA = 0.01


def aligned_eval_faces(size: int = 256, names: Sequence[str] = EVAL_FACES) -> dict[str, np.ndarray]:
    """name -> (size, size, 3) uint8 FFHQ-aligned crop of the sample's main CenterFace detection."""
    from faceveil.testing import load_sample
    from faceveil.faces.align import align_face
    from faceveil.faces.detect import create_detector

    detector = create_detector("centerface")
    out = {}
    for name in names:
        rgb = load_sample(name)
        face = max(detector.detect(rgb), key=lambda f: f.score)
        out[name] = align_face(rgb, face, size).crop
    return out


def hkdf_key_map(material: bytes, height: int, width: int) -> np.ndarray:
    """(height, width) +-1 map from 32 bytes of key material, derived exactly as secure mode does
    it from a content key (HKDF-SHA256 -> 32-byte seed -> SHAKE-256 map)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    def derive(label: str, n: int) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=n, salt=None, info=label.encode()).derive(material)

    return secure_key_bits(derive, height, width)


def flip_bit(data: bytes, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 127.5 - 1


def _float_image(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [-1, 1] -> (H, W, 3) float64 in [0, 255] (not rounded)."""
    return ((t[0].clamp(-1, 1).permute(1, 2, 0).double().numpy() + 1) * 127.5)


def _png_round_trip(img: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).round().astype(np.uint8)).save(buf, format="PNG")
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM as the model card reports it (scikit-image's uniform 7x7 window)."""
    return _ssim(a, b, gaussian=False)


@dataclass
class FaceMetrics:
    face: str
    obfuscation: str
    protected_psnr: float
    recovered_psnr: float
    recovered_ssim: float
    png_recovered_psnr: float
    noise_recovered_psnr: float
    wrong_key_psnr: float
    one_bit_key_psnr: float
    one_pixel_map_psnr: float


def evaluate_face(net: ProFaceS, name: str, original: np.ndarray, obfuscation: str, seed: int = 0) -> FaceMetrics:
    """All metrics of the module docstring for one (S, S, 3) uint8 face."""
    rng = np.random.default_rng(seed)
    h, w = original.shape[:2]
    material = rng.bytes(32)
    key_map = hkdf_key_map(material, h, w)
    wrong_map = hkdf_key_map(rng.bytes(32), h, w)
    one_bit_map = hkdf_key_map(flip_bit(material, int(rng.integers(256))), h, w)
    pixel_map = key_map.copy()
    pixel_map[h // 2, w // 2] *= -1
    obfuscated = obfuscate(original, obfuscation, rng)
    key = key_tensor(key_map)
    with torch.inference_mode():
        # an image cannot hold values outside [-1, 1]; training clamps there too (quantize_ste)
        protected = net.protect(_tensor(original), _tensor(obfuscated), key).clamp(-1, 1)
        protected_f = _float_image(protected)

        def recover(prot_img: np.ndarray | torch.Tensor, k: np.ndarray) -> np.ndarray:
            t = prot_img if isinstance(prot_img, torch.Tensor) else torch.from_numpy(np.array(prot_img)).permute(2, 0, 1)[None].float() / 127.5 - 1
            return _float_image(net.recover(t, key_tensor(k)))

        recovered = recover(protected, key_map)
        png_recovered = recover(_png_round_trip(protected_f), key_map)
        noisy = protected + torch.from_numpy(rng.normal(0, 2 * NOISE_SIGMA, protected.shape)).float()
        noise_recovered = recover(noisy, key_map)
        wrong = recover(protected, wrong_map)
        one_bit = recover(protected, one_bit_map)
        one_pixel = recover(protected, pixel_map)
    return FaceMetrics(
        face=name,
        obfuscation=obfuscation,
        protected_psnr=psnr(protected_f, obfuscated),
        recovered_psnr=psnr(recovered, original),
        recovered_ssim=ssim(recovered, original),
        png_recovered_psnr=psnr(png_recovered, original),
        noise_recovered_psnr=psnr(noise_recovered, original),
        wrong_key_psnr=psnr(wrong, original),
        one_bit_key_psnr=psnr(one_bit, original),
        one_pixel_map_psnr=psnr(one_pixel, original),
    )


def evaluate(net: ProFaceS, faces: dict[str, np.ndarray], obfuscations: Sequence[str] = EVAL_OBFUSCATIONS) -> list[dict]:
    """One metrics dict per (face, obfuscation)."""
    return [asdict(evaluate_face(net, name, img, obf, seed=i)) for i, (name, img) in enumerate(faces.items()) for obf in obfuscations]


def summarize(rows: list[dict]) -> dict[str, float]:
    """Mean of every numeric metric over rows."""
    keys = [k for k, v in rows[0].items() if isinstance(v, float)]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}
