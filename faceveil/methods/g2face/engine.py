"""Tensor-level G2Face inference (batched), independent of faceveil's photo pipeline.

anonymize: dummy identity map_2_id(z_seed) + geometry of the original -> W+;
           generator(original, W+, message bits)
recover:   identity decoded from the hidden message + geometry of the anonymized face -> W+;
           generator(anonymized, W+, the bits read from it)

Images are (B, 3, S, S) float32 in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from faceveil.methods.g2face.checkpoint import G2FaceNetworks
from faceveil.methods.g2face.generator import make_noise


def _generator_for(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed % (2**63))


@dataclass
class G2FaceEngine:
    networks: G2FaceNetworks
    identity: nn.Module  # (B, 3, S, S) -> (B, identity_dim): 512 published, 256 offline
    geometry: nn.Module  # (B, 3, S, S) -> (B, geometry_dim): 147 published, 1404 offline
    device: torch.device = torch.device("cpu")
    autocast_dtype: torch.dtype | None = None  # e.g. torch.bfloat16 for faster CPU/GPU inference

    def __post_init__(self) -> None:
        self.networks.to(self.device).eval()
        self.identity.to(self.device).eval()
        self.geometry.to(self.device).eval()

    @property
    def size(self) -> int:
        return self.networks.generator.config.size

    @property
    def identity_dim(self) -> int:
        return self.networks.map_2_id.dim

    @property
    def n_bits(self) -> int:
        """Size of the hidden message: (S / 2)^2 bits."""
        return self.networks.generator.config.n_bits

    def autocast(self):
        if self.autocast_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def dummy_identity(self, seeds: Sequence[int]) -> torch.Tensor:
        """One reproducible pseudonym per seed: map_2_id(z), z ~ N(0, I) drawn from the seed. (B, identity_dim)."""
        z = torch.stack([torch.randn(self.identity_dim, generator=_generator_for(s)) for s in seeds]).to(self.device)
        return self.networks.map_2_id(z)

    def noise(self, seeds: Sequence[int]) -> list[torch.Tensor]:
        """Per-sample fixed noise maps (B, 1, H, W), so output depends only on inputs and seed."""
        per_face = [make_noise(self.networks.generator.config, _generator_for(s + 1)) for s in seeds]
        return [torch.cat(maps, dim=0).to(self.device) for maps in zip(*per_face)]

    @torch.no_grad()
    def identity_of(self, images: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.identity(images.to(self.device)).float()

    @torch.no_grad()
    def synthesize(self, images: torch.Tensor, identity: torch.Tensor, bits: torch.Tensor,
                   noise: Sequence[torch.Tensor]) -> torch.Tensor:
        """One generator pass, as G2Face's test.py: W+ = style_mlp(identity, geometry of ``images``),
        then anonymous_net(images, W+, bits) with the given noise maps. Unclamped (B, 3, S, S)."""
        images = images.to(self.device)
        with self.autocast():
            styles = self.networks.style_mlp(identity.to(self.device), self.geometry(images))
            out = self.networks.generator(images, styles, bits.to(self.device), noise=[n.to(self.device) for n in noise])
        return out.float()

    @torch.no_grad()
    def anonymize(self, images: torch.Tensor, seeds: Sequence[int], bits: torch.Tensor) -> torch.Tensor:
        """images (B, 3, S, S), bits (B, n_bits) -> anonymized (B, 3, S, S) clamped to [-1, 1]."""
        with self.autocast():
            dummy = self.dummy_identity(seeds)
        return self.synthesize(images, dummy, bits, self.noise(seeds)).clamp(-1, 1)

    @torch.no_grad()
    def read_bits(self, images: torch.Tensor) -> torch.Tensor:
        """Anonymized images -> bit logits (B, n_bits) (> 0 means 1)."""
        with self.autocast():
            return self.networks.extractor(images.to(self.device)).float()

    @torch.no_grad()
    def recover(self, images: torch.Tensor, identity: torch.Tensor, bits: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        """anonymized (B, 3, S, S), original identity (B, identity_dim), bits read (B, n_bits) -> (B, 3, S, S)."""
        return self.synthesize(images, identity, bits, self.noise(seeds)).clamp(-1, 1)
