"""The file suffixes faceveil reads, in one place (no heavy imports, so the CLI and the training
tools can list folders without loading PyAV or Pillow)."""

from __future__ import annotations

# Photo formats we read and write (faceveil.io.images maps each to its Pillow format).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp",
                                    ".ppm", ".pgm", ".pnm")  # Netpbm (vision datasets); .pbm (1-bit) is not
# Video containers we read (faceveil.io.video writes all but .avi, which cannot keep timestamps).
VIDEO_SUFFIXES: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})


def is_image(path) -> bool:
    from pathlib import Path

    return Path(path).suffix.lower() in IMAGE_SUFFIXES
