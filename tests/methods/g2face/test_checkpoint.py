"""Every published G2Face / StyleGAN2 checkpoint layout loads strictly into our modules."""

import pytest
import torch

from faceveil.errors import InputError
from faceveil.methods.g2face.checkpoint import G2FaceNetworks, init_from_stylegan2, load_strict, strip_module_prefix
from faceveil.methods.g2face.discriminator import Discriminator
from faceveil.methods.g2face.generator import G2FaceGenerator, noise_shapes

from .reference import layout, synthetic_state_dict

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def networks() -> G2FaceNetworks:
    return G2FaceNetworks.create()


@pytest.mark.parametrize("prefix", ["", "module."])
def test_g2face_checkpoint_loads_strictly_and_copies_values(networks, prefix):
    checkpoint = {entry: synthetic_state_dict(layout("g2face_checkpoint", entry), seed=i, prefix=prefix)
                  for i, entry in enumerate(["anonymous_net", "style_mlp", "map_2_id", "hiding_extractor"])}
    networks.load_state(checkpoint)
    gen = networks.generator.state_dict()
    for name in ["convs.11.conv.weight", "hiding_injects.9.weight", "pyramid.6.skip.conv.bias", "fusion_mask.0.conv.weight"]:
        assert torch.equal(gen[name], checkpoint["anonymous_net"][prefix + name])
    assert torch.equal(networks.map_2_id.state_dict()["map_2_id.4.running_mean"], checkpoint["map_2_id"][prefix + "map_2_id.4.running_mean"])


def test_g2face_checkpoint_with_missing_key_is_a_clear_input_error(networks):
    state = synthetic_state_dict(layout("g2face_checkpoint", "style_mlp"))
    del state["style_high.3.bias"]
    with pytest.raises(InputError, match="style_mlp"):
        load_strict(networks.style_mlp, state, "G2Face.pth[style_mlp]")


def test_g2face_checkpoint_without_an_entry_is_rejected(networks):
    with pytest.raises(InputError, match="hiding_extractor"):
        networks.load_state({"anonymous_net": {}, "style_mlp": {}, "map_2_id": {}})


def test_stylegan2_g_ema_initialises_synthesis_and_leaves_only_mapping_unused():
    g_ema = synthetic_state_dict(layout("stylegan2_rosinality_256_g_ema"), seed=3, prefix="module.")
    gen = G2FaceGenerator()
    report = init_from_stylegan2(gen, g_ema)
    assert sorted(report.unused) == sorted(k[len("module."):] for k in g_ema if k.startswith("module.style."))
    assert len(report.unused) == 16  # 8 EqualLinear layers x (weight, bias)
    assert report.new and all(k.startswith(("pyramid.", "fusion_mask.", "hiding_injects.")) for k in report.new)
    assert [tuple(n.shape) for n in report.noise] == noise_shapes(gen.config)
    state = gen.state_dict()
    for name in ["input.input", "conv1.conv.weight", "to_rgbs.5.conv.modulation.bias", "convs.8.activate.bias"]:
        assert torch.equal(state[name], g_ema["module." + name])


def test_stylegan2_checkpoint_of_other_size_is_rejected():
    gen = G2FaceGenerator()
    g_ema = strip_module_prefix(synthetic_state_dict(layout("stylegan2_rosinality_256_g_ema")))
    g_ema["convs.11.conv.weight"] = torch.zeros(1, 64, 128, 3, 3)
    with pytest.raises(InputError, match="size/channels"):
        init_from_stylegan2(gen, g_ema)


def test_stylegan2_discriminator_loads_strictly_and_scores_images():
    d = Discriminator(256)
    load_strict(d, synthetic_state_dict(layout("stylegan2_rosinality_256_d"), prefix="module."), "d")
    with torch.no_grad():
        assert d(torch.randn(2, 3, 256, 256)).shape == (2, 1)


def test_style_mlp_bias_follows_the_checkpoint():
    """Published G2Face.pth: bias added twice (G2Face's EqualLinear); faceveil training checkpoints say
    which; an older one (training config, no record) was trained adding it once."""
    from faceveil.methods.g2face.checkpoint import style_mlp_bias_of

    assert style_mlp_bias_of({"anonymous_net": {}}) == "twice"
    assert style_mlp_bias_of({"config": {"size": 64}}) == "once"
    assert style_mlp_bias_of({"config": {}, "style_mlp_bias": "twice"}) == "twice"
    with pytest.raises(InputError, match="style_mlp_bias"):
        style_mlp_bias_of({"style_mlp_bias": "thrice"})
    from faceveil.methods.g2face.mapper import StyleMapper

    mlp = StyleMapper()
    with torch.no_grad():
        for p in mlp.parameters():
            if p.ndim == 1:
                p.normal_(0, 10)  # stored biases are divided by lr_mul 0.01
    identity, geometry = torch.randn(2, 512), torch.randn(2, 147)
    mlp.bias_convention = "once"
    once = mlp(identity, geometry)
    mlp.bias_convention = "twice"
    twice = mlp(identity, geometry)
    layer = mlp.style_low[0]
    x = mlp.norm(torch.cat([identity, geometry], dim=1))
    pre = x @ (layer.weight * layer.scale).T + 2 * layer.bias * layer.lr_mul
    expected = torch.nn.functional.leaky_relu(pre, 0.2) * 2**0.5
    torch.testing.assert_close(mlp.style_low[0](x), expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(once, twice)
