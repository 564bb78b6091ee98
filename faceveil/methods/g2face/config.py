"""Typed configuration of the G2Face networks (published values are the defaults)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from faceveil.errors import InputError

# Published 3DMM coefficient layout of Deep3DFaceRecon (257 values per face).
COEFF_SLICES = {"id": (0, 80), "exp": (80, 144), "tex": (144, 224), "angle": (224, 227), "gamma": (227, 254), "trans": (254, 257)}
N_COEFFS = 257
N_GEOMETRY_COEFFS = 80 + 64 + 3  # identity shape + expression + head angles, fed to the mapper
IDENTITY_DIM = 512


@dataclass(frozen=True)
class GeneratorConfig:
    """G2Face generator: StyleGAN2 synthesis + pyramid face encoder + IFF fusion + hiding injections.

    size: output/input resolution (power of two >= 16); style_dim: W dimension;
    channel_multiplier: StyleGAN2's (2 for the published FFHQ-256 model);
    channel_scale: shrinks every width (1.0 = published; < 1 for fast functional tests);
    the hidden message has ``n_bits = (size / 2)^2`` bits (16384 at 256 px), one per extractor output pixel.
    """

    size: int = 256
    style_dim: int = 512
    channel_multiplier: int = 2
    channel_scale: float = 1.0
    blur_taps: tuple[int, ...] = (1, 3, 3, 1)

    def __post_init__(self) -> None:
        log = math.log2(self.size) if self.size > 0 else 0.0
        if self.size < 16 or log != int(log):
            raise InputError(f"generator size must be a power of two >= 16, got {self.size}")

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    @property
    def n_latent(self) -> int:
        """Number of W+ rows: 14 at 256 px."""
        return self.log_size * 2 - 2

    @property
    def n_bits(self) -> int:
        return (self.size // 2) ** 2

    @property
    def resolutions(self) -> list[int]:
        """Synthesis resolutions after the 4x4 constant: 8, 16, ..., size."""
        return [2**i for i in range(3, self.log_size + 1)]

    def channels(self, resolution: int) -> int:
        base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * self.channel_multiplier, 128: 128 * self.channel_multiplier,
                256: 64 * self.channel_multiplier, 512: 32 * self.channel_multiplier, 1024: 16 * self.channel_multiplier}[resolution]
        return max(1, int(round(base * self.channel_scale)))


@dataclass(frozen=True)
class MapperConfig:
    """style_mlp and map_2_id. Published: 512-d identity + 147 geometry coefficients -> 3 x 4 layers."""

    identity_dim: int = IDENTITY_DIM
    geometry_dim: int = N_GEOMETRY_COEFFS
    style_dim: int = 512
    n_mlp: int = 4
    lr_mul: float = 0.01
    # W+ rows driven by the low / middle / high MLP (sum = n_latent; 6/6/2 at 256 px)
    split: tuple[int, int, int] = (6, 6, 2)


@dataclass(frozen=True)
class ExtractorConfig:
    """hiding_extractor: 1x1 conv to ``width`` channels, ``n_blocks`` two-branch blocks, stride-2 3x3 to 1."""

    width: int = 128
    n_blocks: int = 3


@dataclass(frozen=True)
class TrainConfig:
    """``faceveil train g2face``. Defaults are the published recipe (256 px, batch 8 per GPU)."""

    size: int = 256
    channel_scale: float = 1.0  # < 1 only for small proof-of-learning runs
    extractor_width: int = 128
    extractor_blocks: int = 3
    batch_size: int = 8  # per process / GPU
    steps: int = 100_000
    lr_new: float = 1e-3  # pyramid, fusion masks, hiding injects, mappers, extractor
    lr_stylegan: float = 1e-4  # synthesis layers initialised from StyleGAN2
    lr_discriminator: float = 1e-3
    beta1: float = 0.0
    beta2: float = 0.999
    warmup_steps: int = 2_000  # linear warm-up of both learning rates
    decay_every: int = 5_000  # then multiply by decay_gamma every decay_every steps
    decay_gamma: float = 0.95
    hiding_noise_std: float = 0.01  # Gaussian noise on the image before extraction
    amp: str = "off"  # "off" | "bf16" | "fp16" (fp16 uses a gradient scaler, CUDA only)
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 5_000

    def __post_init__(self) -> None:
        if self.amp not in ("off", "bf16", "fp16"):
            raise InputError(f"amp must be off, bf16 or fp16, got {self.amp!r}")
        if self.batch_size < 2:
            raise InputError("batch_size must be >= 2 (diversity loss and minibatch-stddev need pairs)")
        if self.steps < 1:
            raise InputError("steps must be >= 1")
