"""G2Face's activation-form generator (faceveil.methods.g2face.fast) computes what the reference computes:
same outputs to float rounding, the reference module untouched, and an onnxruntime export that agrees."""

from __future__ import annotations

import torch

from faceveil.methods.g2face import fast
from faceveil.methods.g2face.config import GeneratorConfig
from faceveil.methods.g2face.generator import G2FaceGenerator, make_noise


def _inputs(config: GeneratorConfig, batch: int):
    g = torch.Generator().manual_seed(batch)
    image = torch.rand(batch, 3, config.size, config.size, generator=g) * 2 - 1
    styles = torch.randn(batch, config.n_latent, config.style_dim, generator=g)
    bits = torch.randint(0, 2, (batch, config.n_bits), generator=g).float()
    noise = [torch.randn(batch, *s.shape[1:], generator=g) for s in make_noise(config)]
    return image, styles, bits, noise


def _uint8(x: torch.Tensor) -> torch.Tensor:
    return ((x.clamp(-1, 1) + 1) * 127.5).round()


def test_activation_form_equals_the_fused_reference_and_leaves_it_untouched():
    torch.manual_seed(0)
    config = GeneratorConfig(size=32, style_dim=64, channel_scale=0.125)
    reference = G2FaceGenerator(config).eval()
    with torch.no_grad():  # random weights: give the noise and biases non-zero values too
        for p in reference.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    quick = fast.fast_generator(reference)
    assert all(a is b for a, b in zip(quick.parameters(), reference.parameters()))  # shared, not copied
    for batch in (1, 3):
        image, styles, bits, noise = _inputs(config, batch)
        with torch.no_grad():
            expected = reference(image, styles, bits, noise=noise)
            got = quick(image, styles, bits, noise=noise)
        assert got.shape == expected.shape
        assert (got - expected).abs().max() < 1e-4 * max(1.0, float(expected.abs().max()))
        assert (_uint8(got) - _uint8(expected)).abs().max() <= 1
    # the reference still runs its own fused (grouped-conv) form
    assert "forward" not in vars(next(m for m in reference.modules() if type(m).__name__ == "ModulatedConv2d"))


def test_onnxruntime_export_agrees_with_the_reference():
    torch.manual_seed(1)
    config = GeneratorConfig(size=32, style_dim=64, channel_scale=0.125)
    reference = G2FaceGenerator(config).eval()
    image, styles, bits, noise = _inputs(config, 2)
    session = fast.onnx_session(reference, (image, styles, bits, *noise))
    assert session is not None, "the activation-form generator must export to ONNX"
    image, styles, bits, noise = _inputs(config, 3)  # another batch size: the batch axis is dynamic
    with torch.no_grad():
        expected = reference(image, styles, bits, noise=noise)
    got = fast.run_onnx(session, image, styles, bits, noise)
    assert (_uint8(got) - _uint8(expected)).abs().max() <= 1
    assert (_uint8(got) == _uint8(expected)).float().mean() > 0.99
