"""IFF (identity-aware feature fusion): a learned per-pixel, per-channel mask choosing between the
synthesis features (new identity) and the encoder features of the input face (background, hair,
pose), with the hidden message's features fed to the mask and added after blending."""

from __future__ import annotations

import torch
from torch import nn


class FusionMask(nn.Module):
    """1x1 conv -> InstanceNorm -> sigmoid. Parameters ``conv.weight`` (out, in, 1, 1), ``conv.bias``.

    x: (B, in, H, W) concatenated features -> mask (B, out, H, W) in (0, 1).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)
        self.norm = nn.InstanceNorm2d(out_channels)
        self.activate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.norm(self.conv(x)))


def fuse(
    mask_net: FusionMask,
    synthesis: torch.Tensor,
    encoded: torch.Tensor,
    message_for_mask: torch.Tensor | None = None,
    message_added: torch.Tensor | None = None,
) -> torch.Tensor:
    """``m = mask([synthesis, encoded, message_for_mask]); m*synthesis + (1-m)*encoded + message_added``.

    All tensors (B, C, H, W) with equal C; the message terms are absent at 4 px and at full size.
    """
    parts = [synthesis, encoded] if message_for_mask is None else [synthesis, encoded, message_for_mask]
    m = mask_net(torch.cat(parts, dim=1))
    out = m * synthesis + (1 - m) * encoded
    return out if message_added is None else out + message_added
