"""StyleGAN2 ops against direct formulas."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.signal import convolve2d

from faceveil.methods.g2face.stylegan2.ops import (
    EqualLinear,
    ModulatedConv2d,
    NoiseInjection,
    StyledConv,
    ToRGB,
    Upsample,
    fused_leaky_relu,
    make_kernel,
    upfirdn2d,
)

torch.set_num_threads(1)


def reference_upfirdn(x: np.ndarray, k: np.ndarray, up: int, down: int, pad: tuple[int, int]) -> np.ndarray:
    """Zero insertion, symmetric pad (negative = crop), full 2-D convolution, then decimation."""
    h, w = x.shape
    z = np.zeros((h * up, w * up), x.dtype)
    z[::up, ::up] = x
    p0, p1 = pad
    z = np.pad(z, ((max(p0, 0), max(p1, 0)), (max(p0, 0), max(p1, 0))))
    z = z[max(-p0, 0) : z.shape[0] - max(-p1, 0), max(-p0, 0) : z.shape[1] - max(-p1, 0)]
    return convolve2d(z, k, mode="valid")[::down, ::down]


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 2)), (2, 1, (2, 1)), (1, 2, (1, 1)), (2, 2, (0, 0)), (1, 1, (-1, 0))])
def test_upfirdn2d_matches_zero_insertion_and_convolution(up, down, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float64)
    k = rng.standard_normal((4, 4))  # asymmetric: would catch correlation instead of convolution
    out = upfirdn2d(torch.from_numpy(x), torch.from_numpy(k), up=up, down=down, pad=pad).numpy()
    for b in range(2):
        for c in range(3):
            np.testing.assert_allclose(out[b, c], reference_upfirdn(x[b, c], k, up, down, pad), atol=1e-10)


def test_upsample_preserves_constant_image_in_interior():
    x = torch.full((1, 1, 8, 8), 3.0)
    out = Upsample()(x)
    assert out.shape == (1, 1, 16, 16)
    torch.testing.assert_close(out[..., 2:-2, 2:-2], torch.full((1, 1, 12, 12), 3.0))


def test_make_kernel_is_normalised_outer_product():
    k = make_kernel([1, 3, 3, 1])
    expected = torch.tensor([1.0, 3, 3, 1])[:, None] * torch.tensor([1.0, 3, 3, 1])[None] / 64
    torch.testing.assert_close(k, expected)


def test_fused_leaky_relu_formula():
    x = torch.randn(4, 5, 3, 3)
    b = torch.randn(5)
    y = x + b.view(1, 5, 1, 1)
    expected = torch.where(y >= 0, y, 0.2 * y) * math.sqrt(2)
    torch.testing.assert_close(fused_leaky_relu(x, b), expected)


def test_equal_linear_lr_multiplier_formula():
    layer = EqualLinear(6, 4, bias_init=0.5, lr_mul=0.01)
    x = torch.randn(3, 6)
    expected = x @ (layer.weight * 0.01 / math.sqrt(6)).T + layer.bias * 0.01
    torch.testing.assert_close(layer(x), expected)


def per_sample_reference(conv: ModulatedConv2d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Loop over samples: modulate the shared kernel by that sample's style, demodulate, convolve."""
    outs = []
    for i in range(x.shape[0]):
        s = conv.modulation(style[i : i + 1])[0]  # (in,)
        w = conv.weight[0] * conv.scale * s.view(1, -1, 1, 1)  # (out, in, k, k)
        if conv.demodulate:
            w = w / torch.sqrt((w**2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        if conv.upsample:
            y = F.conv_transpose2d(x[i : i + 1], w.transpose(0, 1), stride=2)
            y = conv.blur(y)
        else:
            y = F.conv2d(x[i : i + 1], w, padding=conv.kernel_size // 2)
        outs.append(y)
    return torch.cat(outs)


@pytest.mark.parametrize("upsample,demodulate,k", [(False, True, 3), (True, True, 3), (False, False, 1)])
def test_modulated_conv_matches_per_sample_loop(upsample, demodulate, k):
    torch.manual_seed(0)
    conv = ModulatedConv2d(5, 7, k, style_dim=8, demodulate=demodulate, upsample=upsample)
    x, style = torch.randn(3, 5, 6, 6), torch.randn(3, 8)
    out = conv(x, style)
    assert out.shape == (3, 7, 12 if upsample else 6, 12 if upsample else 6)
    torch.testing.assert_close(out, per_sample_reference(conv, x, style), atol=1e-5, rtol=1e-5)


def test_demodulated_output_has_unit_scale_for_white_input():
    torch.manual_seed(0)
    conv = ModulatedConv2d(64, 64, 3, style_dim=16)
    out = conv(torch.randn(2, 64, 32, 32), torch.randn(2, 16) * 3)
    assert 0.8 < out.std().item() < 1.2


def test_noise_injection_fixed_noise_is_deterministic_and_scaled():
    layer = NoiseInjection()
    layer.weight.data.fill_(0.5)
    x, noise = torch.zeros(2, 3, 4, 4), torch.randn(1, 1, 4, 4)
    torch.testing.assert_close(layer(x, noise), 0.5 * noise.expand(2, 3, 4, 4))
    assert not torch.equal(layer(x), layer(x))  # fresh noise when none is given


def test_styled_conv_and_to_rgb_shapes_and_skip():
    torch.manual_seed(0)
    conv = StyledConv(4, 6, 3, style_dim=8, upsample=True)
    rgb = ToRGB(6, style_dim=8)
    x, style = torch.randn(2, 4, 8, 8), torch.randn(2, 8)
    feat = conv(x, style, noise=torch.zeros(1, 1, 16, 16))
    assert feat.shape == (2, 6, 16, 16)
    skip = torch.randn(2, 3, 8, 8)
    out = rgb(feat, style, skip)
    torch.testing.assert_close(out - rgb(feat, style), rgb.upsample(skip))
