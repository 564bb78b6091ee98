"""PRO-Face S invertible hiding network (Yuan et al., TCSVT 2024), our implementation.

Shapes (B = batch, H, W even; images in [-1, 1]):
- ``original``, ``obfuscated``, ``protected``, ``recovered``: (B, 3, H, W)
- ``key_bits``: (B, 1, H, W) of +-1, the secret bit map at full resolution
- inside the flow: two 12-channel halves at (H/2, W/2) (Haar sub-bands of an RGB image) and the
  key's 4 Haar sub-bands, concatenated to every sub-network input.

State-dict names and shapes match the released checkpoint (``model.inv_blocks.{0,1,2}.{r,y,f,p}.convN``),
so an official file loads with ``strict=True``.
"""

from __future__ import annotations

import torch
from torch import nn

from faceveil.methods.proface_s.dwt import haar_dwt, haar_iwt

IMAGE_SUBBANDS = 12  # Haar sub-bands of an RGB image: 4 x 3
KEY_SUBBANDS = 4  # Haar sub-bands of the 1-channel key map

# What recovery puts in place of the discarded half z (see recovery_standin). A network only
# recovers with the stand-in it was trained with: "official" for the authors' release and new training
# runs; "faceveil-v1" for faceveil weights trained with the former order (both shipped files:
# proface_s_v1.pt predates the record, proface_s.pt was fine-tuned from it keeping the order).
STANDIN_OFFICIAL = "official"  # dwt(key).repeat(1, 3, 1, 1): [LL, HL, LH, HH] x 3
STANDIN_FACEVEIL_V1 = "faceveil-v1"  # dwt(key as RGB): [LL x 3, HL x 3, LH x 3, HH x 3]
RECOVERY_STANDINS = (STANDIN_OFFICIAL, STANDIN_FACEVEIL_V1)


class ResidualDenseSubnet(nn.Module):
    """5-layer dense block: each 3x3 conv sees the input and every earlier feature map.

    (B, in_channels, h, w) -> (B, out_channels, h, w). The last conv starts at zero, so a fresh
    coupling block is the identity map and training starts from "protected == obfuscated".
    """

    def __init__(self, in_channels: int, out_channels: int, growth: int = 32, negative_slope: float = 0.01):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, growth, 3, padding=1)
        self.conv2 = nn.Conv2d(in_channels + growth, growth, 3, padding=1)
        self.conv3 = nn.Conv2d(in_channels + 2 * growth, growth, 3, padding=1)
        self.conv4 = nn.Conv2d(in_channels + 3 * growth, growth, 3, padding=1)
        self.conv5 = nn.Conv2d(in_channels + 4 * growth, out_channels, 3, padding=1)
        self.act = nn.LeakyReLU(negative_slope)
        nn.init.zeros_(self.conv5.weight)
        nn.init.zeros_(self.conv5.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            features.append(self.act(conv(torch.cat(features, dim=1))))
        return self.conv5(torch.cat(features, dim=1))


class KeyedAffineCoupling(nn.Module):
    """Affine coupling conditioned on the key sub-bands ``k`` (B, 4, h, w).

    forward:  y1 = x1 * e(p([x2, k])) + f([x2, k]);   y2 = x2 * e(r([y1, k])) + y([y1, k])
    reverse:  x2 = (y2 - y([y1, k])) / e(r([y1, k]));  x1 = (y1 - f([x2, k])) / e(p([x2, k]))
    with e(s) = exp(clamp * 2 * (sigmoid(s) - 0.5)), so scales stay in [e^-clamp, e^clamp].
    Attribute names r, y, f, p (and their order) follow the released checkpoint.
    """

    def __init__(self, split: int = IMAGE_SUBBANDS, key_channels: int = KEY_SUBBANDS, clamp: float = 2.0):
        super().__init__()
        self.split = split
        self.clamp = clamp
        cond = split + key_channels
        self.r = ResidualDenseSubnet(cond, split)  # rho: scale of the second half
        self.y = ResidualDenseSubnet(cond, split)  # eta: shift of the second half
        self.f = ResidualDenseSubnet(cond, split)  # shift of the first half
        self.p = ResidualDenseSubnet(cond, split)  # phi: scale of the first half

    def _scale(self, s: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.clamp * 2 * (torch.sigmoid(s) - 0.5))

    def forward(self, x: torch.Tensor, key_subbands: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        """(B, 2*split, h, w) -> (B, 2*split, h, w)."""
        a, b = x[:, : self.split], x[:, self.split :]
        if not reverse:
            cond_b = torch.cat((b, key_subbands), dim=1)
            a = a * self._scale(self.p(cond_b)) + self.f(cond_b)
            cond_a = torch.cat((a, key_subbands), dim=1)
            b = b * self._scale(self.r(cond_a)) + self.y(cond_a)
        else:
            cond_a = torch.cat((a, key_subbands), dim=1)
            b = (b - self.y(cond_a)) / self._scale(self.r(cond_a))
            cond_b = torch.cat((b, key_subbands), dim=1)
            a = (a - self.f(cond_b)) / self._scale(self.p(cond_b))
        return torch.cat((a, b), dim=1)


class InvertibleHidingNet(nn.Module):
    """A stack of keyed affine couplings on (B, 24, h, w) Haar-domain tensors."""

    def __init__(self, num_blocks: int = 3, clamp: float = 2.0):
        super().__init__()
        self.inv_blocks = nn.ModuleList(KeyedAffineCoupling(clamp=clamp) for _ in range(num_blocks))

    def forward(self, x: torch.Tensor, key_subbands: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        blocks = reversed(self.inv_blocks) if reverse else self.inv_blocks
        for block in blocks:
            x = block(x, key_subbands, reverse=reverse)
        return x


class ProFaceS(nn.Module):
    """Image-space wrapper: hide ``original`` inside ``obfuscated`` under a key, and get it back."""

    def __init__(self, num_blocks: int = 3, clamp: float = 2.0, recovery_standin: str = STANDIN_OFFICIAL):
        super().__init__()
        if recovery_standin not in RECOVERY_STANDINS:
            raise ValueError(f"unknown recovery stand-in {recovery_standin!r}; one of {RECOVERY_STANDINS}")
        self.model = InvertibleHidingNet(num_blocks=num_blocks, clamp=clamp)
        self.recovery_standin = recovery_standin  # a convention of the weights, recorded with them (checkpoint.py)

    def protect(self, original: torch.Tensor, obfuscated: torch.Tensor, key_bits: torch.Tensor) -> torch.Tensor:
        """original, obfuscated (B, 3, H, W), key_bits (B, 1, H, W) +-1 -> protected (B, 3, H, W).

        The second output half (the "lost information" r) is discarded, as in the paper; recovery
        replaces it with a key-derived stand-in (``recovery_standin``)."""
        x = torch.cat((haar_dwt(obfuscated), haar_dwt(original)), dim=1)
        out = self.model(x, haar_dwt(key_bits))
        return haar_iwt(out[:, :IMAGE_SUBBANDS])

    def recover(self, protected: torch.Tensor, key_bits: torch.Tensor) -> torch.Tensor:
        """protected (B, 3, H, W), key_bits (B, 1, H, W) +-1 -> recovered original (B, 3, H, W)."""
        x = torch.cat((haar_dwt(protected), recovery_standin(key_bits, self.recovery_standin)), dim=1)
        out = self.model(x, haar_dwt(key_bits), reverse=True)
        return haar_iwt(out[:, IMAGE_SUBBANDS:])


def recovery_standin(key_bits: torch.Tensor, convention: str = STANDIN_OFFICIAL) -> torch.Tensor:
    """The "secret as noise" z' recovery uses for the discarded half, (B, 1, H, W) -> (B, 12, H/2, W/2).

    official: the released code's ``dwt(key).repeat(1, 3, 1, 1)``; the key has one channel, so the
    channels are [LL, HL, LH, HH] x 3 (interleaved, not the sub-band-major order of an RGB image).
    faceveil-v1: the key taken as a 3-channel image and Haar-transformed, [LL x 3, HL x 3, ...]
    (the same 12 maps in another order; faceveil's own weights before issue 10 were trained with it).
    """
    if convention == STANDIN_OFFICIAL:
        return haar_dwt(key_bits).repeat(1, 3, 1, 1)
    if convention == STANDIN_FACEVEIL_V1:
        return haar_dwt(key_bits.expand(-1, 3, -1, -1))
    raise ValueError(f"unknown recovery stand-in {convention!r}; one of {RECOVERY_STANDINS}")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
