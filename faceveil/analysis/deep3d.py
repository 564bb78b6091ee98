"""Deep3DFaceRecon_pytorch coefficient regressor (``net_recon`` of ``epoch_20.pth``).

ResNet-50 backbone (torchvision layout, no fc) + 7 1x1-conv heads -> 257 BFM coefficients:
id 80 | exp 64 | tex 80 | angles 3 | gamma (SH lighting) 27 | translation 2 + 1.
Input: (B, 3, 224, 224) RGB in [0, 1] (any size works: the backbone ends in global average pooling).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DEEP3D_INPUT_SIZE = 224
HEAD_SIZES = (80, 64, 80, 3, 27, 2, 1)
COEFF_NAMES = ("id", "exp", "tex", "angle", "gamma", "trans_xy", "trans_z")


class ReconNet(nn.Module):
    def __init__(self):
        super().__init__()
        import torchvision  # deferred: only needed when the regressor is built

        self.backbone = torchvision.models.resnet50(weights=None)
        self.backbone.fc = nn.Identity()  # the published backbone has no classifier
        self.final_layers = nn.ModuleList([nn.Conv2d(2048, n, 1) for n in HEAD_SIZES])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, 224, 224) in [0, 1] -> coefficients (B, 257)."""
        feat = self.backbone(x).view(x.shape[0], 2048, 1, 1)
        return torch.cat([head(feat) for head in self.final_layers], dim=1).flatten(1)


def split_coefficients(coeffs: torch.Tensor) -> dict[str, torch.Tensor]:
    """(B, 257) -> named slices (translation joined back to (B, 3))."""
    out, start = {}, 0
    for name, n in zip(COEFF_NAMES, HEAD_SIZES):
        out[name] = coeffs[:, start : start + n]
        start += n
    out["trans"] = torch.cat([out.pop("trans_xy"), out.pop("trans_z")], dim=1)
    return out


def regress_coefficients(model: ReconNet, faces: torch.Tensor, size: int | None = DEEP3D_INPUT_SIZE) -> torch.Tensor:
    """Face crops (B, 3, S, S) in [-1, 1] -> (B, 257): mapped to [0, 1] and resized to ``size``
    (bilinear, antialiased; the 224 px the network was trained at by default).

    size=None feeds the crop at its own size, as G2Face does with its 256 px crops: the ResNet-50
    ends in global average pooling, so it accepts any size, but its training resolution was 224.
    """
    x = faces * 0.5 + 0.5  # the official arithmetic (test.py: imgs * 0.5 + 0.5)
    if size is not None and (x.shape[-1] != size or x.shape[-2] != size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return model(x)
