"""Classical (non-learned) obfuscations working on axis-aligned face regions: blur, pixelate, median,
solid and mosaic.

Parameters are defined for a ``reference_size`` (256 px) face crop, as in PRO-Face S (Yuan et al. 2022,
whose pre-obfuscations are a 61 px Gaussian kernel with sigma drawn from [9, 21], a 23 px median and
20 px pixelation), and scaled by ``max(h, w) / reference_size`` for the actual region: a fixed kernel
would barely touch a big face and erase a small one. ``max`` rather than the area keeps the scale right for
regions cut by the image border, which lose extent in one direction only.

Privacy note: plain blur and fine pixelation keep enough low-frequency structure to be re-identified
(McPherson et al. 2016, "Defeating Image Obfuscation with Deep Learning"), and recognizers rank the right
person first from them (docs/eval.md). ``mosaic`` is the default: coarse cells (7 across the region whatever
its resolution) of the region's mean colour plus per-cell brightness noise and a random grid phase (by
default no cell keeps its own mean: the 7x7 layout of cell means was enough for MobileFace to rank 59 % of
held-out faces first; see MosaicConfig).

All randomness comes from ``FaceContext.seed``: the same seed gives the same output.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar, TypeVar

import cv2
import numpy as np

from faceveil.errors import InputError, UsageError
from faceveil.faces.types import check_rgb_image
from faceveil.methods.base import AnonymizationMethod, FaceContext

# ---------------------------------------------------------------------------------------------------------
# Pure image functions: (h, w, 3) uint8 -> (h, w, 3) uint8. PRO-Face S reuses the first three on
# exact 256 px crops, so they take parameters in pixels, unscaled.
# ---------------------------------------------------------------------------------------------------------


def _check_rgb(rgb: np.ndarray) -> None:
    check_rgb_image(rgb, "face crop")


def _check_odd_kernel(kernel: int, what: str) -> None:
    if int(kernel) != kernel or kernel < 1 or kernel % 2 == 0:
        raise InputError(f"{what} kernel must be a positive odd integer, got {kernel}")


def gaussian_blur(rgb: np.ndarray, kernel: int, sigma: float) -> np.ndarray:
    """Gaussian blur with a ``kernel`` x ``kernel`` window (odd) and standard deviation ``sigma`` px.
    Borders reflect without repeating the edge pixel, as torchvision's GaussianBlur does."""
    _check_rgb(rgb)
    _check_odd_kernel(kernel, "gaussian blur")
    if not sigma > 0:
        raise InputError(f"gaussian blur sigma must be > 0, got {sigma}")
    # Same normalised kernel as cv2.GaussianBlur, but sepFilter2D with a float32 kernel is ~3x faster
    # than GaussianBlur's fixed-point path for the large kernels used here (4 ms vs 14 ms at 400 px, k=95).
    taps = cv2.getGaussianKernel(int(kernel), float(sigma), ktype=cv2.CV_32F)
    return cv2.sepFilter2D(rgb, -1, taps, taps, borderType=cv2.BORDER_REFLECT_101)


def median_blur(rgb: np.ndarray, k: int) -> np.ndarray:
    """Per-channel median over a ``k`` x ``k`` window (odd); edges replicate."""
    _check_rgb(rgb)
    _check_odd_kernel(k, "median")
    return cv2.medianBlur(np.ascontiguousarray(rgb), int(k))


def _block_means(rgb: np.ndarray, row_starts: np.ndarray, col_starts: np.ndarray) -> np.ndarray:
    """Mean colour of each grid cell. rgb (h, w, 3); cells start at row_starts (R,) / col_starts (C,)
    (first = 0) and run to the next start or the edge -> (R, C, 3) float64. Partial edge cells are
    averaged over their real pixels only."""
    sums = np.add.reduceat(np.add.reduceat(rgb.astype(np.float64), row_starts, axis=0), col_starts, axis=1)
    heights = np.diff(np.append(row_starts, rgb.shape[0]))
    widths = np.diff(np.append(col_starts, rgb.shape[1]))
    return sums / (heights[:, None, None] * widths[None, :, None])


def _expand_cells(cells: np.ndarray, row_starts: np.ndarray, col_starts: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(R, C, 3) cell colours -> (h, w, 3) uint8 image of flat cells."""
    heights = np.diff(np.append(row_starts, shape[0]))
    widths = np.diff(np.append(col_starts, shape[1]))
    rounded = np.clip(np.rint(cells), 0, 255).astype(np.uint8)
    return np.repeat(np.repeat(rounded, heights, axis=0), widths, axis=1)


def pixelate(rgb: np.ndarray, block: int) -> np.ndarray:
    """Replace each ``block`` x ``block`` tile (anchored top-left) by its mean colour."""
    _check_rgb(rgb)
    if int(block) != block or block < 1:
        raise InputError(f"pixelate block must be a positive integer, got {block}")
    rows, cols = np.arange(0, rgb.shape[0], block), np.arange(0, rgb.shape[1], block)
    return _expand_cells(_block_means(rgb, rows, cols), rows, cols, rgb.shape)


def solid_fill(rgb: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """An array of rgb's shape filled with one RGB colour."""
    _check_rgb(rgb)
    return np.broadcast_to(np.asarray(colour, dtype=np.uint8), rgb.shape).copy()


def noisy_mosaic(rgb: np.ndarray, cells: int, noise: float, rng: np.random.Generator, detail: float = 1.0) -> np.ndarray:
    """Coarse mosaic: square cells, ``cells`` across the longer side. Each cell's colour is
    ``detail`` x its own mean + (1 - ``detail``) x the region's mean colour, plus Gaussian brightness noise of
    std ``noise`` grey levels, the same value on the three channels (a grey face stays grey: no colour is
    invented), then clipped per channel to the region's colour range (1st-99th percentile: no white or
    blue cells on a face). The cell means carry the face's layout (where
    it is dark or light), which recognizers read, so ``detail`` < 1 pulls them towards one colour and the
    noise covers what is left. The grid starts at a random phase so cell boundaries do not sit at a known
    place relative to the face."""
    _check_rgb(rgb)
    if cells < 1:
        raise InputError(f"mosaic cells must be >= 1, got {cells}")
    if not 0.0 <= detail <= 1.0:
        raise InputError(f"mosaic detail must be in [0, 1], got {detail}")
    h, w = rgb.shape[:2]
    size = max(1, -(-max(h, w) // cells))  # ceil: at most `cells` cells along the longer side
    phase_y, phase_x = (int(v) for v in rng.integers(0, size, size=2))
    rows = np.unique(np.clip(np.arange(-phase_y, h, size), 0, None))
    cols = np.unique(np.clip(np.arange(-phase_x, w, size), 0, None))
    means = _block_means(rgb, rows, cols)
    pixels = rgb.reshape(-1, 3)
    low, high = np.percentile(pixels, 1, axis=0), np.percentile(pixels, 99, axis=0)  # a glint is not the face's colour
    mixed = detail * means + (1.0 - detail) * pixels.mean(axis=0)
    brightness = rng.normal(0.0, noise, size=(*means.shape[:2], 1))  # shared by the channels
    return _expand_cells(np.clip(mixed + brightness, low, high), rows, cols, rgb.shape)


# ---------------------------------------------------------------------------------------------------------
# Configurations
# ---------------------------------------------------------------------------------------------------------


def _odd(value: float) -> int:
    """Nearest odd integer >= 1."""
    return max(1, int(round((value - 1) / 2)) * 2 + 1)


def _check_reference(reference_size: int) -> None:
    if reference_size < 1:
        raise InputError(f"reference_size must be >= 1 px, got {reference_size}")


@dataclass(frozen=True)
class BlurConfig:
    """Gaussian blur. kernel px and sigma px range at ``reference_size``; sigma is drawn per face."""

    kernel: int = 61
    sigma_range: tuple[float, float] = (9.0, 21.0)
    reference_size: int = 256

    def __post_init__(self) -> None:
        _check_odd_kernel(self.kernel, "blur")
        low, high = self.sigma_range
        if not 0 < low <= high:
            raise InputError(f"blur sigma_range must satisfy 0 < low <= high, got {self.sigma_range}")
        _check_reference(self.reference_size)


@dataclass(frozen=True)
class MedianConfig:
    """Median filter; kernel px at ``reference_size``."""

    kernel: int = 23
    reference_size: int = 256

    def __post_init__(self) -> None:
        _check_odd_kernel(self.kernel, "median")
        _check_reference(self.reference_size)


@dataclass(frozen=True)
class PixelateConfig:
    """Pixelation; block px at ``reference_size``."""

    block: int = 20
    reference_size: int = 256

    def __post_init__(self) -> None:
        if self.block < 1:
            raise InputError(f"pixelate block must be >= 1, got {self.block}")
        _check_reference(self.reference_size)


@dataclass(frozen=True)
class SolidConfig:
    """Fill with one RGB colour (default neutral grey)."""

    colour: tuple[int, int, int] = (128, 128, 128)

    def __post_init__(self) -> None:
        if len(self.colour) != 3 or any(int(c) != c or not 0 <= c <= 255 for c in self.colour):
            raise InputError(f"solid colour must be three integers in [0, 255], got {self.colour}")


@dataclass(frozen=True)
class MosaicConfig:
    """Noisy coarse mosaic: ``cells`` across the region (resolution independent), per-cell brightness noise
    std ``noise`` grey levels, cell colours ``detail`` x their own mean + (1 - ``detail``) x the region's mean
    (see :func:`noisy_mosaic`). Default ``detail=0``: the cells carry only the region's mean colour and noise.
    Measured (benchmarks/bench_privacy.py --set selection, issue 20): with the cells' own means (detail 1)
    MobileFace's cosine to the original is 0.30 and rank-5 re-identification 77 %, at detail 0 0.16 and
    54 %; the dark/light layout of 7x7 cell means is what recognizers read."""

    cells: int = 7
    noise: float = 24.0
    detail: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.detail <= 1.0:
            raise InputError(f"mosaic detail must be in [0, 1], got {self.detail}")
        if int(self.cells) != self.cells or not 2 <= self.cells <= 64:
            raise InputError(f"mosaic cells must be an integer in [2, 64], got {self.cells}")
        if not 0 <= self.noise <= 128:
            raise InputError(f"mosaic noise must be in [0, 128], got {self.noise}")


# ---------------------------------------------------------------------------------------------------------
# Methods
# ---------------------------------------------------------------------------------------------------------

ConfigT = TypeVar("ConfigT")


def _config_from(config_type: type[ConfigT], config: ConfigT | None, options: dict) -> ConfigT:
    """The config object, given directly or as keyword options (the CLI / create_method path)."""
    if config is not None and options:
        raise InputError("pass either a config object or keyword options, not both")
    if config is not None:
        return config
    # tuples arrive as lists from JSON / the CLI; the dataclasses declare tuples
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    try:
        return config_type(**options)
    except UsageError:
        raise
    except InputError as exc:  # an option value out of range (-O cells=1): usage, like a wrong type
        raise UsageError(str(exc)) from None
    except (TypeError, ValueError) as exc:  # unknown key, or a value of the wrong type (cells=abc)
        raise UsageError(f"invalid option for {config_type.__name__}: {exc}") from None


def region_scale(crop: np.ndarray, reference_size: int) -> float:
    """Factor from reference-crop pixels to this region's pixels (see module docstring)."""
    return max(crop.shape[:2]) / reference_size


class RegionMethod(AnonymizationMethod):
    """Shared batch handling for region-space methods: validates inputs, applies ``obfuscate`` per face."""

    space: ClassVar[str] = "region"
    config_type: ClassVar[type]

    def __init__(self, config=None, **options) -> None:
        self.config = _config_from(self.config_type, config, options)

    def params(self) -> dict:
        return asdict(self.config)

    def anonymize(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> list[np.ndarray]:
        if len(crops) != len(contexts):
            raise InputError(f"{len(crops)} crops but {len(contexts)} face contexts")
        out = []
        for crop, context in zip(crops, contexts, strict=True):
            _check_rgb(crop)
            out.append(self.obfuscate(crop, np.random.default_rng(context.seed)))
        return out

    @abstractmethod
    def obfuscate(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(h, w, 3) uint8 -> (h, w, 3) uint8; randomness only from ``rng``."""


class GaussianBlurMethod(RegionMethod):
    name = "blur"
    config_type = BlurConfig

    def obfuscate(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        scale = region_scale(crop, self.config.reference_size)
        sigma = rng.uniform(*self.config.sigma_range) * scale
        return gaussian_blur(crop, _odd(self.config.kernel * scale), max(sigma, 0.3))


class MedianMethod(RegionMethod):
    name = "median"
    config_type = MedianConfig

    def obfuscate(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return median_blur(crop, _odd(self.config.kernel * region_scale(crop, self.config.reference_size)))


class PixelateMethod(RegionMethod):
    name = "pixelate"
    config_type = PixelateConfig

    def obfuscate(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        block = max(1, round(self.config.block * region_scale(crop, self.config.reference_size)))
        return pixelate(crop, block)


class SolidMethod(RegionMethod):
    name = "solid"
    config_type = SolidConfig

    def obfuscate(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return solid_fill(crop, self.config.colour)


class MosaicMethod(RegionMethod):
    name = "mosaic"
    config_type = MosaicConfig

    def obfuscate(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return noisy_mosaic(crop, self.config.cells, self.config.noise, rng, self.config.detail)
