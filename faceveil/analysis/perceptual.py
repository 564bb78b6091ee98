"""FID's Inception network and LPIPS, with the standard weights supplied by the user.

Nothing here is downloaded; the files are looked up in ``$FACEVEIL_WEIGHTS`` (see ``faceveil models``):

- ``pt_inception-2015-12-05-6726825d.pth``: the TensorFlow FID Inception (2015-12-05) ported to
  PyTorch by pytorch-fid (Apache-2.0). Architecture = torchvision's Inception v3 with 1008 classes and
  TensorFlow's pooling in the mixed blocks: average pools that ignore padding, and a max pool in the
  last block. Features: the 2048-d final average pool of 299x299 inputs in [-1, 1].
- LPIPS v0.1 (Zhang et al. 2018, BSD-2): ``alexnet-owt-7be5be79.pth`` (torchvision's ImageNet
  AlexNet) and ``lpips_alex_v0.1.pth`` (the ``alex.pth`` linear heads shipped in the lpips package).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from faceveil.errors import ModelUnavailableError
from faceveil.models_registry import ModelSpec, register_model, user_weight

FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
LPIPS_ALEX_FILE = "lpips_alex_v0.1.pth"
_WHERE = "$FACEVEIL_WEIGHTS (default ~/.cache/faceveil/weights)/"

for _name, _file, _description, _source in (
    ("fid-inception", FID_INCEPTION_FILE, "FID Inception v3 (TF 2015-12-05 weights) for FID", "pytorch-fid release (Apache-2.0)"),
    ("torchvision-alexnet", ALEXNET_FILE, "ImageNet AlexNet features for LPIPS", "torchvision model zoo (BSD-3-Clause)"),
    ("lpips-alex", LPIPS_ALEX_FILE, "LPIPS v0.1 linear heads for AlexNet (alex.pth)", "lpips package weights (BSD-2-Clause)"),
):
    register_model(ModelSpec(name=_name, description=_description, source=_source, locate=user_weight(_file), where=_WHERE + _file))


def _load_state(filename: str) -> dict:
    import torch

    path = user_weight(filename)()
    if path is None:
        raise ModelUnavailableError(f"{filename} not found in {_WHERE} (user-supplied weights)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a foreign file  # noqa: BLE001
        raise ModelUnavailableError(f"{path} is not a PyTorch state dict: {exc}") from exc


def build_fid_inception():
    """Inception v3 in the FID layout (random weights; load the FID state dict into it)."""
    import torch.nn.functional as F
    from torchvision.models import inception as tv

    def tf_avg_pool(x):
        return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)

    def tf_max_pool(x):
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)

    def with_pool(block_class, pool):
        class Block(block_class):
            # torchvision pools with count_include_pad=True; recompute only the pooled branch the TF way.
            def _forward(self, x):
                outputs = super()._forward(x)
                outputs[-1] = self.branch_pool(pool(x))
                return outputs

        Block.__name__ = f"Tf{block_class.__name__}"
        return Block

    net = tv.Inception3(num_classes=1008, aux_logits=False, init_weights=False, transform_input=False)
    block_a, block_c, block_e = (with_pool(c, tf_avg_pool) for c in (tv.InceptionA, tv.InceptionC, tv.InceptionE))
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = block_a(192, 32), block_a(256, 64), block_a(288, 64)
    net.Mixed_6b, net.Mixed_6c = block_c(768, 128), block_c(768, 160)
    net.Mixed_6d, net.Mixed_6e = block_c(768, 160), block_c(768, 192)
    net.Mixed_7b, net.Mixed_7c = block_e(1280), with_pool(tv.InceptionE, tf_max_pool)(2048)
    return net


def inception_features(net, images):
    """(N, 3, H, W) float in [0, 1] -> (N, 2048) FID features (resized to 299, scaled to [-1, 1])."""
    import torch.nn.functional as F

    x = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False) * 2.0 - 1.0
    for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2",
                 "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                 "Mixed_7a", "Mixed_7b", "Mixed_7c"):  # fmt: skip
        x = getattr(net, name)(x)
    return x.mean(dim=(2, 3))


class FidFeatures:
    """FID Inception features of uint8 face crops (user weights)."""

    @cached_property
    def net(self):
        net = build_fid_inception()
        try:
            net.load_state_dict(_load_state(FID_INCEPTION_FILE), strict=True)
        except RuntimeError as exc:
            raise ModelUnavailableError(f"{FID_INCEPTION_FILE} does not fit the FID Inception: {exc}") from exc
        return net.eval()

    def features(self, crops: list[np.ndarray]) -> np.ndarray:
        """list of (h, w, 3) uint8 -> (N, 2048) float64."""
        import torch

        out = []
        with torch.no_grad():
            for crop in crops:
                x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 255.0
                out.append(inception_features(self.net, x)[0].double().numpy())
        return np.stack(out)


# LPIPS v0.1 input scaling (ImageNet statistics expressed for inputs in [-1, 1]).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
LPIPS_CHANNELS = (64, 192, 384, 256, 256)
_ALEX_SLICES = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))  # features[] ranges ending at relu1..relu5


def build_lpips():
    """(AlexNet features, 5 linear heads) with random weights, in the checkpoints' key layout."""
    from torch import nn
    from torchvision.models import alexnet

    features = alexnet(weights=None).features
    heads = nn.ModuleDict(
        # lpips names each head lin<k>.model = Sequential(Dropout, Conv1x1): keys lin<k>.model.1.weight
        {f"lin{k}": nn.Module() for k in range(5)}
    )
    for k, channels in enumerate(LPIPS_CHANNELS):
        heads[f"lin{k}"].model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))
    return features, heads


def lpips_distance(features, heads, a, b):
    """LPIPS between (N, 3, H, W) images in [-1, 1] -> (N,): sum over the 5 layers of the spatial
    mean of the head-weighted squared difference of channel-normalised activations."""
    import torch

    shift = torch.tensor(LPIPS_SHIFT, dtype=a.dtype).view(1, 3, 1, 1)
    scale = torch.tensor(LPIPS_SCALE, dtype=a.dtype).view(1, 3, 1, 1)
    x, y = (a - shift) / scale, (b - shift) / scale
    total = torch.zeros(a.shape[0], dtype=a.dtype)
    for k, (start, stop) in enumerate(_ALEX_SLICES):
        for layer in features[start:stop]:
            x, y = layer(x), layer(y)
        nx = x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        ny = y / (y.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total = total + heads[f"lin{k}"].model((nx - ny) ** 2).mean(dim=(1, 2, 3))
    return total


class Lpips:
    """LPIPS (AlexNet, v0.1) between uint8 crops, both resized to ``size`` (user weights)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size

    @cached_property
    def _nets(self):
        features, heads = build_lpips()
        alex = {k.removeprefix("features."): v for k, v in _load_state(ALEXNET_FILE).items() if k.startswith("features.")}
        try:
            features.load_state_dict(alex, strict=True)
            heads.load_state_dict(_load_state(LPIPS_ALEX_FILE), strict=True)
        except RuntimeError as exc:
            raise ModelUnavailableError(f"LPIPS weights do not fit AlexNet / the v0.1 heads: {exc}") from exc
        return features.eval(), heads.eval()

    def distance(self, crop_a: np.ndarray, crop_b: np.ndarray) -> float:
        import cv2
        import torch

        def tensor(crop):
            resized = cv2.resize(np.ascontiguousarray(crop), (self.size, self.size), interpolation=cv2.INTER_AREA)
            return torch.from_numpy(resized).permute(2, 0, 1)[None].float() / 127.5 - 1.0

        features, heads = self._nets
        with torch.no_grad():
            return float(lpips_distance(features, heads, tensor(crop_a), tensor(crop_b))[0])
