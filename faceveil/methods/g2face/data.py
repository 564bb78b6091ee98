"""Training images: a folder of aligned face crops, or the package-shipped sample faces with
augmentation (for proof-of-learning runs without a dataset). Batches are (B, 3, S, S) in [-1, 1]."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from faceveil.errors import InputError

from faceveil.io.suffixes import IMAGE_SUFFIXES  # noqa: E402
# Face boxes (x0, y0, x1, y1) framing the sample photos' faces like an FFHQ crop (hair and chin in).
SAMPLE_FACE_BOXES = {"astronaut": (130, 0, 380, 250), "grace_hopper": (90, 30, 410, 350)}


def sample_faces(size: int) -> torch.Tensor:
    """The package-shipped faces cropped and resized: (N, 3, size, size) in [-1, 1]."""
    from faceveil.testing import load_sample

    crops = []
    for name, box in SAMPLE_FACE_BOXES.items():
        img = Image.fromarray(load_sample(name)).crop(box).resize((size, size), Image.LANCZOS)
        crops.append(torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 127.5 - 1)
    return torch.stack(crops)


def folder_faces(folder: Path, size: int, limit: int | None = None) -> torch.Tensor:
    """All images in ``folder`` (assumed aligned face crops), resized: (N, 3, size, size) in [-1, 1]."""
    if not folder.is_dir():
        raise InputError(f"training data folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    out = []
    for p in files:
        try:
            with Image.open(p) as im:
                img = im.convert("RGB").resize((size, size), Image.LANCZOS)
        except OSError as exc:
            raise InputError(f"cannot read training image {p}: {exc}") from None
        out.append(torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 127.5 - 1)
    return torch.stack(out)


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random flip, scale/shift jitter (up to 10 %) and brightness/contrast jitter. (B, 3, S, S)."""
    b, _, s, _ = images.shape
    flip = torch.rand(b, generator=generator) < 0.5
    images = torch.where(flip.view(b, 1, 1, 1), images.flip(-1), images)
    scale = 1 + (torch.rand(b, generator=generator) - 0.5) * 0.2
    shift = (torch.rand(b, 2, generator=generator) - 0.5) * 0.1
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    contrast = 1 + (torch.rand(b, 1, 1, 1, generator=generator) - 0.5) * 0.3
    brightness = (torch.rand(b, 1, 1, 1, generator=generator) - 0.5) * 0.2
    return (images * contrast + brightness).clamp(-1, 1)


def batches(pool: torch.Tensor, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless augmented batches drawn with replacement from ``pool`` (N, 3, S, S)."""
    g = torch.Generator().manual_seed(seed)
    while True:
        idx = torch.randint(0, pool.shape[0], (batch_size,), generator=g)
        yield augment(pool[idx], g)
