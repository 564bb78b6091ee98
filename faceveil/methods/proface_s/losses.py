"""Training losses for PRO-Face S.

All images are (B, 3, H, W) in [-1, 1]; every distance returns a per-sample (B,) tensor.

``image_distance(a, b) = 5 * perceptual(a, b) + L1(a, b)`` is the paper's ``L_img`` form. The
perceptual term is LPIPS (VGG) when the user supplies the ImageNet VGG-16 and LPIPS linear-layer
weights (neither is reachable offline), otherwise ``1 - MS-SSIM``, a documented substitute that
needs no learned weights. We never fall back to LPIPS on a randomly initialised VGG.

Totals (paper): Random mode ``0.3 L_img + 0.5 L_rec + 0.2 L_wr``; Obfs mode
``0.2 L_img + 0.3 L_rec + 0.5 L_wr``, with
- ``L_img = image_distance(protected, obfuscated)``
- ``L_rec = image_distance(recovered, original)``
- ``L_wr = d(wrong, target) + relu(d(wrong, target) - d(wrong, original) + 1.2)`` with
  ``d = image_distance`` and ``wrong`` the recovery under a wrong key: a pull towards the target
  plus a triplet (anchor = wrong recovery, positive = target, negative = original, margin 1.2).
  The target is what a wrong key should show: in Random mode the wrong key's own noise image
  (the +-1 key map as RGB, i.e. what the flow's "secret as noise" input looks like), in Obfs mode
  the obfuscated face. The pull matters: a triplet alone is satisfied by a noisy texture that still
  shows the face's structure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from faceveil.errors import ModelUnavailableError

PerceptualDistance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

TRIPLET_MARGIN = 1.2
PERCEPTUAL_WEIGHT = 5.0
_MS_SSIM_SCALE_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


@dataclass(frozen=True)
class LossWeights:
    img: float
    rec: float
    wr: float


MODE_WEIGHTS = {"random": LossWeights(0.3, 0.5, 0.2), "obfs": LossWeights(0.2, 0.3, 0.5)}


def _gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def _ssim_terms(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y (B, C, H, W) in [0, 1] -> (ssim, contrast-structure), each (B,) averaged over pixels."""
    c1, c2 = 0.01**2, 0.03**2
    pad = window.shape[-1] // 2
    channels = x.shape[1]

    def filt(t: torch.Tensor) -> torch.Tensor:
        # reflect padding keeps small (64-128 px) training crops usable at every scale
        return F.conv2d(F.pad(t, (pad,) * 4, mode="reflect"), window, groups=channels)

    mu_x, mu_y = filt(x), filt(y)
    var_x = filt(x * x) - mu_x**2
    var_y = filt(y * y) - mu_y**2
    cov = filt(x * y) - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    ssim = ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * cs
    return ssim.flatten(1).mean(1), cs.flatten(1).mean(1)


def ms_ssim(a: torch.Tensor, b: torch.Tensor, window_size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Multi-scale SSIM of (B, 3, H, W) images in [-1, 1] -> (B,). Uses as many of the standard 5
    scales as the image allows (each scale must keep >= window_size // 2 + 1 pixels)."""
    x, y = (a.float() + 1) / 2, (b.float() + 1) / 2
    window = _gaussian_window(window_size, sigma, x.shape[1], x)
    levels = max(1, min(len(_MS_SSIM_SCALE_WEIGHTS), int(math.log2(min(x.shape[-2:]) / (window_size // 2 + 1))) + 1))
    weights = torch.tensor(_MS_SSIM_SCALE_WEIGHTS[:levels], dtype=x.dtype, device=x.device)
    weights = weights / weights.sum()
    factors = []
    for level in range(levels):
        ssim, cs = _ssim_terms(x, y, window)
        factors.append((ssim if level == levels - 1 else cs).clamp(min=1e-6))
        if level < levels - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    stacked = torch.stack(factors, dim=1)  # (B, levels)
    return torch.prod(stacked ** weights[None], dim=1)


def ms_ssim_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 1 - ms_ssim(a, b)


class LPIPS(nn.Module):
    """LPIPS (Zhang et al. 2018, VGG variant) built from user-supplied weight files.

    vgg_weights: torchvision ``vgg16`` ImageNet state dict (e.g. ``vgg16-397923af.pth``).
    lin_weights: LPIPS v0.1 ``vgg.pth`` (``lin{0..4}.model.1.weight``, shapes (1, C, 1, 1)).
    forward: (B, 3, H, W) in [-1, 1] twice -> (B,) distances.
    """

    _SLICE_ENDS = (4, 9, 16, 23, 30)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    _CHANNELS = (64, 128, 256, 512, 512)

    def __init__(self, vgg_weights: Path, lin_weights: Path):
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        for path in (vgg_weights, lin_weights):
            if not Path(path).is_file():
                raise ModelUnavailableError(f"LPIPS weight file not found: {path}")
        features = make_layers(cfgs["D"])  # VGG-16 convolutional part only; the classifier is unused
        vgg_state = torch.load(vgg_weights, map_location="cpu", weights_only=True)
        prefix = "features."
        features.load_state_dict({k[len(prefix) :]: v for k, v in vgg_state.items() if k.startswith(prefix)})
        starts = (0,) + self._SLICE_ENDS[:-1]
        self.slices = nn.ModuleList(features[s:e] for s, e in zip(starts, self._SLICE_ENDS))
        lin_state = torch.load(lin_weights, map_location="cpu", weights_only=True)
        self.lins = nn.ParameterList(
            nn.Parameter(lin_state[f"lin{i}.model.1.weight"].reshape(1, c, 1, 1), requires_grad=False)
            for i, c in enumerate(self._CHANNELS)
        )
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fa, fb = (a - self.shift) / self.scale, (b - self.shift) / self.scale
        total = a.new_zeros(a.shape[0])
        for block, lin in zip(self.slices, self.lins):
            fa, fb = block(fa), block(fb)
            na = fa / (fa.norm(dim=1, keepdim=True) + 1e-10)
            nb = fb / (fb.norm(dim=1, keepdim=True) + 1e-10)
            total = total + ((na - nb) ** 2 * lin).sum(1).mean((1, 2))
        return total


def make_perceptual(lpips_vgg: Path | None = None, lpips_lin: Path | None = None) -> tuple[PerceptualDistance, str]:
    """The perceptual distance to train with and its name for logs / model cards."""
    if (lpips_vgg is None) != (lpips_lin is None):
        raise ModelUnavailableError("LPIPS needs both --lpips-vgg and --lpips-lin weight files")
    if lpips_vgg is None:
        return ms_ssim_distance, "1-MS-SSIM (LPIPS substitute)"
    return LPIPS(lpips_vgg, lpips_lin), "LPIPS-VGG"


def l1_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().flatten(1).mean(1)


def image_distance(a: torch.Tensor, b: torch.Tensor, perceptual: PerceptualDistance) -> torch.Tensor:
    """The paper's L_img form: 5 * perceptual + L1, per sample (B,)."""
    return PERCEPTUAL_WEIGHT * perceptual(a, b) + l1_distance(a, b)


@dataclass
class LossTerms:
    total: torch.Tensor  # scalar
    img: torch.Tensor  # scalar, L_img
    rec: torch.Tensor  # scalar, L_rec
    wr: torch.Tensor  # scalar, L_wr
    vis: torch.Tensor | None = None  # scalar, hidden-signal visibility (only when its weight is > 0)


def _high_pass(t: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) minus its 3x3 box mean: the fine detail a 2-px checkerboard or an edge lives in."""
    return t - F.avg_pool2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), 3, 1)


class HiddenSignalVisibility(nn.Module):
    """Penalty on the hidden signal showing through the cover (issue 11: recognisers see more of the
    face in the protected image than in its cover; up close, a 2-px checkerboard and a dotted band
    tracing the original's mouth). Per sample (B,), images (B, 3, H, W) in [-1, 1]:

    - ``energy``: mean |high-pass(protected - cover)|, the checkerboard's strength;
    - ``structure``: |normalised correlation| of high-pass(protected - cover) with high-pass(original),
      i.e. how much the residual traces the original face's edges (what leaks identity).

    Both are 0 when the protected image is exactly its cover."""

    def __init__(self, energy_weight: float = 1.0, structure_weight: float = 1.0):
        super().__init__()
        self.energy_weight, self.structure_weight = energy_weight, structure_weight

    def forward(self, protected: torch.Tensor, cover: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
        residual = _high_pass(protected.float() - cover.float()).flatten(1)
        detail = _high_pass(original.float()).flatten(1)
        energy = residual.abs().mean(1)
        r = residual - residual.mean(1, keepdim=True)
        d = detail - detail.mean(1, keepdim=True)
        corr = (r * d).sum(1) / (r.norm(dim=1) * d.norm(dim=1) + 1e-8)
        return self.energy_weight * energy + self.structure_weight * corr.abs()


def proface_s_loss(
    original: torch.Tensor,
    obfuscated: torch.Tensor,
    protected: torch.Tensor,
    recovered: torch.Tensor,
    wrong_recovered: torch.Tensor,
    wrong_key_noise: torch.Tensor,
    mode: str,
    perceptual: PerceptualDistance,
    margin: float = TRIPLET_MARGIN,
    visibility_weight: float = 0.0,
) -> LossTerms:
    """Weighted PRO-Face S objective for one batch (images (B, 3, H, W) in [-1, 1];
    ``wrong_key_noise`` (B, 3, H, W) is the wrong key map as an RGB image, the Random-mode target)."""
    weights = MODE_WEIGHTS[mode]
    target = wrong_key_noise if mode == "random" else obfuscated
    wrong = wrong_recovered.clamp(-1, 1)
    d_wrong_target = image_distance(wrong, target, perceptual)
    d_wrong_original = image_distance(wrong, original, perceptual)
    l_img = image_distance(protected, obfuscated, perceptual).mean()
    l_rec = image_distance(recovered, original, perceptual).mean()
    l_wr = (d_wrong_target + F.relu(d_wrong_target - d_wrong_original + margin)).mean()
    total = weights.img * l_img + weights.rec * l_rec + weights.wr * l_wr
    if visibility_weight > 0:  # issue 11: keep the hidden face from showing through the cover
        l_vis = HiddenSignalVisibility()(protected, obfuscated, original).mean()
        return LossTerms(total + visibility_weight * l_vis, l_img.detach(), l_rec.detach(), l_wr.detach(), l_vis.detach())
    return LossTerms(total, l_img.detach(), l_rec.detach(), l_wr.detach())
