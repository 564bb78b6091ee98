"""G2Face generator (``anonymous_net``): StyleGAN2 synthesis driven by W+, fused with the input
face's pyramid features (IFF) and carrying a hidden message.

Forward: image (B, 3, S, S) in [-1, 1], W+ (B, n_latent, style_dim), bits (B, (S/2)^2) in {0, 1}
-> image (B, 3, S, S) (unbounded, ~[-1, 1]).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from faceveil.methods.g2face.config import GeneratorConfig
from faceveil.methods.g2face.encoder import build_pyramid, encode_pyramid
from faceveil.methods.g2face.fusion import FusionMask, fuse
from faceveil.methods.g2face.hiding import HidingInjection
from faceveil.methods.g2face.stylegan2.ops import ConstantInput, StyledConv, ToRGB


def noise_shapes(config: GeneratorConfig) -> list[tuple[int, int, int, int]]:
    """Shapes of the per-layer noise maps: one at 4 px, then two per resolution (13 at 256 px)."""
    shapes = [(1, 1, 4, 4)]
    for res in config.resolutions:
        shapes += [(1, 1, res, res)] * 2
    return shapes


def make_noise(config: GeneratorConfig, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Fixed N(0, 1) noise maps (shared over the batch) for reproducible synthesis."""
    return [torch.randn(s, generator=generator).to(device) for s in noise_shapes(config)]


class G2FaceGenerator(nn.Module):
    """Parameter names match the published ``anonymous_net`` (and rosinality's synthesis layers:
    ``input``, ``conv1``, ``to_rgb1``, ``convs``, ``to_rgbs``); no mapping network (styles come from
    :class:`~faceveil.methods.g2face.mapper.StyleMapper`)."""

    def __init__(self, config: GeneratorConfig = GeneratorConfig()):
        super().__init__()
        self.config = config
        c, sd, taps = config.channels, config.style_dim, config.blur_taps
        self.input = ConstantInput(c(4))
        self.conv1 = StyledConv(c(4), c(4), 3, sd, blur_taps=taps)
        self.to_rgb1 = ToRGB(c(4), sd, upsample=False, blur_taps=taps)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.hiding_injects = nn.ModuleList()
        in_ch = c(4)
        for res in config.resolutions:
            out_ch = c(res)
            self.convs.append(StyledConv(in_ch, out_ch, 3, sd, upsample=True, blur_taps=taps))
            self.convs.append(StyledConv(out_ch, out_ch, 3, sd, blur_taps=taps))
            if res != config.size:  # two injections per resolution, 8 .. size/2
                self.hiding_injects.append(HidingInjection(res, out_ch, config.n_bits))
                self.hiding_injects.append(HidingInjection(res, out_ch, config.n_bits))
            self.to_rgbs.append(ToRGB(out_ch, sd, blur_taps=taps))
            in_ch = out_ch

        self.pyramid = build_pyramid(config)
        # fusion_mask[i] pairs with pyramid level i (level 0 = full size, last = 4 px); the mask sees
        # synthesis + encoder features, plus message features where a message is injected.
        self.fusion_mask = nn.ModuleList()
        for level in range(config.log_size - 1):
            res = config.size >> level
            has_message = 8 <= res < config.size
            ch = c(res)
            self.fusion_mask.append(FusionMask(ch * (3 if has_message else 2), ch))

    def forward(
        self,
        image: torch.Tensor,
        styles: torch.Tensor,
        bits: torch.Tensor | None,
        noise: Sequence[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """image (B, 3, S, S), styles (B, n_latent, style_dim) or (B, style_dim), bits (B, n_bits)
        or None (an all-zero message), noise: ``noise_shapes`` maps or None (fresh random noise)."""
        if styles.ndim == 2:
            styles = styles.unsqueeze(1).expand(-1, self.config.n_latent, -1)
        if bits is None:
            bits = image.new_zeros(image.shape[0], self.config.n_bits)
        bits = bits.to(image.dtype)
        noise = list(noise) if noise is not None else [None] * len(noise_shapes(self.config))

        features = encode_pyramid(self.pyramid, image)  # finest first
        out = fuse(self.fusion_mask[-1], self.input(image), features[-1])
        out = self.conv1(out, styles[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, styles[:, 1])

        n_injected = len(self.hiding_injects) // 2
        for step, to_rgb in enumerate(self.to_rgbs):
            up_conv, conv = self.convs[2 * step], self.convs[2 * step + 1]
            w = 1 + 2 * step  # W+ row of this resolution's first conv
            encoded = features[-2 - step]
            out = up_conv(out, styles[:, w], noise=noise[w])
            if step < n_injected:
                out = fuse(self.fusion_mask[-2 - step], out, encoded,
                           self.hiding_injects[2 * step](bits), self.hiding_injects[2 * step + 1](bits))
            else:
                out = fuse(self.fusion_mask[-2 - step], out, encoded)
            out = conv(out, styles[:, w + 1], noise=noise[w + 1])
            skip = to_rgb(out, styles[:, w + 2], skip)
        return skip

    def stylegan2_synthesis(self, styles: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """The plain StyleGAN2 synthesis of these layers, no face encoder, fusion or message: what
        rosinality's ``g_ema([styles], input_is_latent=True, noise=noise)`` computes. Shows what a
        StyleGAN2 initialisation (``init_from_stylegan2``) put into the generator.

        styles (B, n_latent, style_dim) -> image (B, 3, S, S), unclamped."""
        noise = list(noise) if noise is not None else [None] * len(noise_shapes(self.config))
        out = self.conv1(self.input(styles), styles[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, styles[:, 1])
        for step, to_rgb in enumerate(self.to_rgbs):
            w = 1 + 2 * step
            out = self.convs[2 * step](out, styles[:, w], noise=noise[w])
            out = self.convs[2 * step + 1](out, styles[:, w + 1], noise=noise[w + 1])
            skip = to_rgb(out, styles[:, w + 2], skip)
        return skip
