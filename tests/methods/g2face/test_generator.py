"""Functional behaviour of the G2Face generator and mapper at reduced width."""

import pytest
import torch

from faceveil.errors import InputError
from faceveil.methods.g2face.checkpoint import G2FaceNetworks
from faceveil.methods.g2face.config import ExtractorConfig, GeneratorConfig
from faceveil.methods.g2face.generator import make_noise
from faceveil.methods.g2face.mapper import StyleMapper

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def nets() -> G2FaceNetworks:
    torch.manual_seed(0)
    return G2FaceNetworks.create(GeneratorConfig(size=64, channel_scale=1 / 16), ExtractorConfig(width=16, n_blocks=1)).eval()


def test_shapes_through_mapper_generator_and_extractor(nets):
    cfg = nets.generator.config
    assert cfg.n_latent == 10 and cfg.n_bits == 1024
    styles = nets.style_mlp(torch.randn(2, 512), torch.randn(2, 147))
    assert styles.shape == (2, 10, 512)
    out = nets.generator(torch.rand(2, 3, 64, 64) * 2 - 1, styles, torch.randint(0, 2, (2, 1024)).float())
    assert out.shape == (2, 3, 64, 64)
    assert nets.extractor(out).shape == (2, 1024)


def test_style_mlp_tiles_three_styles_over_published_rows():
    styles = StyleMapper()(torch.randn(3, 512), torch.randn(3, 147))
    assert styles.shape == (3, 14, 512)
    for lo, hi in [(0, 6), (6, 12), (12, 14)]:
        assert torch.equal(styles[:, lo:hi], styles[:, lo : lo + 1].expand(-1, hi - lo, -1))
    assert not torch.equal(styles[:, 0], styles[:, 6])


def test_fixed_noise_makes_synthesis_deterministic(nets):
    x, styles = torch.rand(1, 3, 64, 64) * 2 - 1, torch.randn(1, 10, 512)
    noise = make_noise(nets.generator.config, torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = nets.generator(x, styles, None, noise=noise)
        b = nets.generator(x, styles, None, noise=noise)
    assert torch.equal(a, b)


def test_message_is_ignored_at_published_zero_init_and_used_once_trained(nets):
    x, styles = torch.rand(1, 3, 64, 64) * 2 - 1, torch.randn(1, 10, 512)
    noise = make_noise(nets.generator.config, torch.Generator().manual_seed(1))
    ones, zeros = torch.ones(1, 1024), torch.zeros(1, 1024)
    with torch.no_grad():
        # zero-initialised injection scales: a pretrained StyleGAN is not perturbed at the start
        assert torch.allclose(nets.generator(x, styles, ones, noise), nets.generator(x, styles, zeros, noise))
        nets.generator.hiding_injects[3].weight.fill_(1.0)
        assert not torch.allclose(nets.generator(x, styles, ones, noise), nets.generator(x, styles, zeros, noise))
        nets.generator.hiding_injects[3].weight.zero_()


def test_input_face_reaches_the_output_through_the_encoder(nets):
    styles = torch.randn(1, 10, 512)
    noise = make_noise(nets.generator.config, torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = nets.generator(torch.full((1, 3, 64, 64), -0.5), styles, None, noise)
        b = nets.generator(torch.full((1, 3, 64, 64), 0.5).index_fill_(3, torch.arange(32), -1.0), styles, None, noise)
    assert (a - b).abs().mean() > 1e-3


def test_invalid_size_is_an_input_error():
    with pytest.raises(InputError):
        GeneratorConfig(size=100)
