"""Training images for PRO-Face S: any image folder, or (default) images shipped inside installed
packages, since no face dataset is reachable offline.

Default set (``DEFAULT_SKIMAGE_FILES`` + ``DEFAULT_MATPLOTLIB_FILES`` + scikit-image's
``lfw_subset.npy``, 200 25x25 grey crops of which 100 are faces). The held-out evaluation faces
(``EVAL_EXCLUDED``: scikit-image astronaut, matplotlib grace_hopper) are never used for training.

Augmentation (``CropSampler``): random square crop covering 25-100 % of the shorter side,
area-resampled to ``crop_size``; horizontal flip (p=0.5); brightness and contrast jitter (+-20 %),
saturation jitter (+-30 %); grey images get a random colour tint so they are not pure grey.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from faceveil.errors import InputError
from faceveil.models_registry import package_file

DEFAULT_SKIMAGE_FILES = (
    "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png",
    "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "color.png", "phantom.png", "camera.png",
    "brick.png", "grass.png", "gravel.png", "moon.png", "cell.png", "coins.png", "clock_motion.png",
    "page.png", "text.png",
)  # fmt: skip
DEFAULT_MATPLOTLIB_FILES = ("Minduka_Present_Blue_Pack.png", "logo2.png")
LFW_SUBSET = "lfw_subset.npy"
EVAL_EXCLUDED = ("astronaut.png", "grace_hopper.jpg")
from faceveil.io.suffixes import IMAGE_SUFFIXES  # noqa: E402


@dataclass
class TrainingImages:
    """Decoded training images, each (h, w, 3) uint8 RGB. ``faces`` are small face crops sampled
    with probability ``face_fraction`` so they are not swamped (or dominating) by count."""

    photos: list[np.ndarray]
    faces: list[np.ndarray]
    sources: list[str]


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _load(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return _to_rgb(im)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read training image {path}: {exc}") from exc


def default_images() -> TrainingImages:
    """The package-shipped training set described in the module docstring."""
    photos, sources = [], []
    for name in DEFAULT_SKIMAGE_FILES:
        path = package_file("skimage", "data", name)
        if path is not None:
            photos.append(_load(path))
            sources.append(f"scikit-image data/{name}")
    mpl_dir = package_file("matplotlib", "mpl-data", "sample_data")
    for name in DEFAULT_MATPLOTLIB_FILES:
        if mpl_dir is not None and (mpl_dir / name).exists():
            photos.append(_load(mpl_dir / name))
            sources.append(f"matplotlib sample_data/{name}")
    faces = []
    lfw = package_file("skimage", "data", LFW_SUBSET)
    if lfw is not None:
        grey = (np.load(lfw)[:100] * 255).round().astype(np.uint8)  # first 100 entries are faces
        faces = [np.repeat(g[:, :, None], 3, axis=2) for g in grey]
        sources.append(f"scikit-image data/{LFW_SUBSET} (first 100 = faces)")
    if not photos:
        raise InputError("no package-shipped training images found (is scikit-image installed?)")
    return TrainingImages(photos, faces, sources)


def folder_images(folder: Path) -> TrainingImages:
    """Every image under ``folder`` (recursive)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"training data folder not found: {folder}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    return TrainingImages([_load(p) for p in paths], [], [str(p) for p in paths])


class CropSampler:
    """Draws augmented (crop_size, crop_size, 3) uint8 crops (see module docstring)."""

    def __init__(self, images: TrainingImages, crop_size: int, rng: np.random.Generator, face_fraction: float = 0.3):
        self.images = images
        self.crop_size = crop_size
        self.rng = rng
        self.face_fraction = face_fraction if images.faces else 0.0

    def batch(self, n: int) -> np.ndarray:
        """(n, crop_size, crop_size, 3) uint8."""
        return np.stack([self.sample() for _ in range(n)])

    def sample(self) -> np.ndarray:
        rng = self.rng
        if rng.random() < self.face_fraction:
            src = self.images.faces[rng.integers(len(self.images.faces))]
        else:
            src = self.images.photos[rng.integers(len(self.images.photos))]
        h, w = src.shape[:2]
        side = max(2, int(min(h, w) * rng.uniform(0.25, 1.0)))
        y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = src[y0 : y0 + side, x0 : x0 + side]
        interp = cv2.INTER_AREA if side >= self.crop_size else cv2.INTER_CUBIC
        crop = cv2.resize(crop, (self.crop_size, self.crop_size), interpolation=interp)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return self._jitter(crop)

    def _jitter(self, crop: np.ndarray) -> np.ndarray:
        rng = self.rng
        x = crop.astype(np.float32)
        if np.ptp(x, axis=2).max() < 1:  # grey source: tint it
            x = x * rng.uniform(0.75, 1.0, size=3).astype(np.float32)
        grey = x.mean(axis=2, keepdims=True)
        x = grey + (x - grey) * rng.uniform(0.7, 1.3)  # saturation
        x = (x - x.mean()) * rng.uniform(0.8, 1.2) + x.mean()  # contrast
        x = x * rng.uniform(0.8, 1.2)  # brightness
        return np.clip(x, 0, 255).round().astype(np.uint8)
