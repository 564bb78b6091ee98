"""G2Face training losses with the published weights (see docs/models/g2face.md).

Each loss is a module returning ``(weighted_total, {name: unweighted_value})`` so the trainer can log
the parts. Identity embeddings are (B, D); images (B, 3, S, S) in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

LossParts = dict[str, torch.Tensor]


@dataclass(frozen=True)
class LossWeights:
    """Published weights (G2Face, TIFS 2024)."""

    diversity: float = 1.0  # dummy identities of a batch should differ
    id_consistency: float = 1.0  # anonymized face shows the dummy identity
    id: float = 1.0  # push away from the original (anonymize) / pull back (recover)
    shape: float = 1.0
    landmark: float = 0.01
    color: float = 1.0  # shading
    l1: float = 1.0
    perceptual: float = 1.0  # LPIPS when user weights are given, else the SSIM substitute
    adversarial: float = 1.0
    hiding: float = 10.0
    r1_gamma: float = 5.0
    r1_every: int = 16


class IdentityDiversityLoss(nn.Module):
    """Mean positive pairwise cosine similarity between different dummy identities (B, D)."""

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = weight

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, LossParts]:
        sim = F.cosine_similarity(ids.unsqueeze(1), ids.unsqueeze(0), dim=2)
        off_diagonal = sim * (1 - torch.eye(ids.shape[0], device=ids.device))
        loss = off_diagonal.clamp(min=0).mean()
        return self.weight * loss, {"diversity": loss.detach()}


class IdentityLoss(nn.Module):
    """Cosine embedding loss: ``same=True`` -> 1 - cos; ``same=False`` -> max(0, cos)."""

    def __init__(self, weight: float = 1.0, name: str = "id"):
        super().__init__()
        self.weight = weight
        self.name = name

    def forward(self, a: torch.Tensor, b: torch.Tensor, same: bool) -> tuple[torch.Tensor, LossParts]:
        cos = F.cosine_similarity(a, b, dim=1)
        loss = (1 - cos).mean() if same else cos.clamp(min=0).mean()
        return self.weight * loss, {self.name: loss.detach()}


class GeometryLoss(nn.Module):
    """MSE between geometry of two faces: (shape, landmarks, color) tensors of any matching shapes.
    With a 3DMM basis these are BFM vertices, projected 68 landmarks and shaded albedo; without one,
    the geometry prior's own output (3DMM coefficients or a normalised mesh) stands in for shape."""

    def __init__(self, shape: float = 1.0, landmark: float = 0.01, color: float = 1.0):
        super().__init__()
        self.shape, self.landmark, self.color = shape, landmark, color

    def forward(self, ref: dict[str, torch.Tensor], out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, LossParts]:
        total = torch.zeros((), device=next(iter(ref.values())).device)
        parts: LossParts = {}
        for name, weight in (("shape", self.shape), ("landmark", self.landmark), ("color", self.color)):
            if name in ref and name in out:
                value = F.mse_loss(out[name], ref[name])
                total = total + weight * value
                parts[name] = value.detach()
        return total, parts


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of images (B, C, H, W) in [-1, 1] (Gaussian 11x11 window, sigma 1.5)."""
    a, b = (a + 1) / 2, (b + 1) / 2
    c = a.shape[1]
    win = _gaussian_window().to(a).expand(c, 1, 11, 11)
    blur = lambda x: F.conv2d(x, win, groups=c)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean()


class SSIMPerceptual(nn.Module):
    """Offline stand-in for LPIPS (whose VGG weights we cannot ship): 1 - SSIM averaged over 3 scales."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        total = torch.zeros((), device=a.device)
        for _ in range(3):
            total = total + (1 - ssim(a, b))
            if min(a.shape[-2:]) < 22:
                break
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        return total / 3


class ReconstructionLoss(nn.Module):
    """L1 + perceptual (``perceptual``: a module (a, b) -> scalar; LPIPS or SSIMPerceptual)."""

    def __init__(self, l1: float = 1.0, perceptual_weight: float = 1.0, perceptual: nn.Module | None = None):
        super().__init__()
        self.l1, self.perceptual_weight = l1, perceptual_weight
        self.perceptual = perceptual if perceptual is not None else SSIMPerceptual()

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, LossParts]:
        l1 = F.l1_loss(out, target)
        perceptual = self.perceptual(out, target).mean()
        return self.l1 * l1 + self.perceptual_weight * perceptual, {"l1": l1.detach(), "perceptual": perceptual.detach()}


class HidingLoss(nn.Module):
    """BCE between extractor logits (B, n_bits) and the hidden bits (B, n_bits) in {0, 1}."""

    def __init__(self, weight: float = 10.0):
        super().__init__()
        self.weight = weight

    def forward(self, logits: torch.Tensor, bits: torch.Tensor) -> tuple[torch.Tensor, LossParts]:
        bce = F.binary_cross_entropy_with_logits(logits.float(), bits.float())
        ber = ((logits >= 0).float() != bits).float().mean()
        return self.weight * bce, {"hiding": bce.detach(), "bit_error_rate": ber.detach()}


class GeneratorAdversarialLoss(nn.Module):
    """Non-saturating: softplus(-D(fake)). logits (B, 1)."""

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = weight

    def forward(self, fake_logits: torch.Tensor) -> tuple[torch.Tensor, LossParts]:
        loss = F.softplus(-fake_logits).mean()
        return self.weight * loss, {"adv": loss.detach()}


class DiscriminatorLoss(nn.Module):
    """Logistic loss softplus(D(fake)) + softplus(-D(real)), plus lazy R1 every ``r1_every`` steps:
    (gamma / 2) * E ||grad_x D(real)||^2 * r1_every (scaled so its average strength is unchanged)."""

    def __init__(self, r1_gamma: float = 5.0, r1_every: int = 16):
        super().__init__()
        self.r1_gamma, self.r1_every = r1_gamma, r1_every

    def forward(self, real: torch.Tensor, real_logits: torch.Tensor, fake_logits: torch.Tensor, regularize: bool) -> tuple[torch.Tensor, LossParts]:
        real_loss = F.softplus(-real_logits).mean()
        fake_loss = F.softplus(fake_logits).mean()
        total = real_loss + fake_loss
        parts = {"d_real": real_loss.detach(), "d_fake": fake_loss.detach()}
        if regularize:
            (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            r1 = grad.pow(2).flatten(1).sum(1).mean()
            total = total + self.r1_gamma / 2 * r1 * self.r1_every
            parts["r1"] = r1.detach()
        return total, parts
