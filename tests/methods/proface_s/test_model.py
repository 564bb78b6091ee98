import pytest
import torch

from faceveil.errors import InputError, ModelUnavailableError
from faceveil.methods.proface_s.checkpoint import extract_state_dict, load_proface_s, load_state_into
from faceveil.methods.proface_s.dwt import haar_dwt
from faceveil.methods.proface_s.model import KeyedAffineCoupling, ProFaceS, count_parameters


def _random_key(shape, seed):
    return torch.randint(0, 2, shape, generator=torch.Generator().manual_seed(seed)).float() * 2 - 1


def _perturbed(module, seed=0, scale=0.05):
    """The module with every parameter randomised (zero-initialised layers would make it trivial)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return module


def test_layout_matches_released_checkpoint(reference_layout):
    net = ProFaceS()
    assert count_parameters(net) == 1_073_040
    assert [(k, list(v.shape)) for k, v in net.state_dict().items()] == [(n, s) for n, s in reference_layout]


@pytest.mark.parametrize("prefix", ["", "module."])
def test_synthetic_official_checkpoint_loads_strictly(tmp_path, synthetic_state, prefix):
    path = tmp_path / "official.pth"
    torch.save({prefix + k: v for k, v in synthetic_state.items()}, path)
    net = load_proface_s(path)
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor, synthetic_state[name])


def test_wrapped_fp16_checkpoint_loads_as_float32(tmp_path, synthetic_state):
    path = tmp_path / "ours.pt"
    torch.save({"state_dict": {k: v.half() for k, v in synthetic_state.items()}, "meta": {}}, path)
    net = load_proface_s(path)
    first = next(iter(synthetic_state))
    assert net.state_dict()[first].dtype == torch.float32
    assert torch.allclose(net.state_dict()[first], synthetic_state[first], atol=1e-3)


def test_mismatched_checkpoint_is_a_clear_error(synthetic_state, tmp_path):
    bad = dict(synthetic_state)
    bad.pop(next(iter(bad)))
    with pytest.raises(InputError, match="missing"):
        load_state_into(ProFaceS(), bad)
    with pytest.raises(ModelUnavailableError):
        load_proface_s(tmp_path / "absent.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError):
        load_proface_s(garbage)
    with pytest.raises(InputError):
        extract_state_dict({"step": 3})


def test_fresh_network_outputs_the_obfuscated_image():
    # zero-initialised last convs make every coupling the identity: training starts from protected == obfuscated
    net = ProFaceS()
    original, obfuscated = torch.rand(1, 3, 16, 16) * 2 - 1, torch.rand(1, 3, 16, 16) * 2 - 1
    protected = net.protect(original, obfuscated, _random_key((1, 1, 16, 16), 0))
    assert torch.allclose(protected, obfuscated, atol=1e-6)


def test_coupling_block_inverts_with_the_right_key_only():
    block = _perturbed(KeyedAffineCoupling())
    x = torch.randn(2, 24, 8, 8)
    key = haar_dwt(_random_key((2, 1, 16, 16), 1))
    y = block(x, key)
    assert not torch.allclose(y, x, atol=1e-2)
    assert torch.allclose(block(y, key, reverse=True), x, atol=1e-4)
    wrong = haar_dwt(_random_key((2, 1, 16, 16), 2))
    assert (block(y, wrong, reverse=True) - x).abs().mean() > 0.05


def test_whole_flow_is_invertible():
    net = _perturbed(ProFaceS(), seed=3, scale=0.02)
    x = torch.randn(1, 24, 16, 16)
    key = haar_dwt(_random_key((1, 1, 32, 32), 4))
    y = net.model(x, key)
    assert torch.allclose(net.model(y, key, reverse=True), x, atol=1e-4)


def test_weights_carry_their_recovery_stand_in(tmp_path, synthetic_state):
    from faceveil.methods.proface_s import SHIPPED_WEIGHTS
    from faceveil.methods.proface_s.checkpoint import recovery_standin_of, save_weights

    bare = tmp_path / "authors.pth"
    torch.save(synthetic_state, bare)  # the authors' release format
    assert load_proface_s(bare).recovery_standin == "official"
    # the shipped weights were trained with faceveil's former order; their file predates the field
    assert load_proface_s(SHIPPED_WEIGHTS).recovery_standin == "faceveil-v1"
    net = ProFaceS(recovery_standin="faceveil-v1")
    save_weights(net, tmp_path / "ours.pt")
    assert load_proface_s(tmp_path / "ours.pt").recovery_standin == "faceveil-v1"
    save_weights(ProFaceS(), tmp_path / "new.pt", meta={"step": 1})
    assert load_proface_s(tmp_path / "new.pt").recovery_standin == "official"
    assert recovery_standin_of({"model_state": {}, "step": 3}) == "faceveil-v1"  # an old training checkpoint
    with pytest.raises(InputError):
        recovery_standin_of({"state_dict": {}, "meta": {"recovery_standin": "sideways"}})


def test_the_two_stand_ins_are_the_same_sub_bands_in_another_order():
    from faceveil.methods.proface_s.model import recovery_standin

    key = _random_key((2, 1, 8, 8), 1)
    official, ours = recovery_standin(key, "official"), recovery_standin(key, "faceveil-v1")
    bands = haar_dwt(key)  # LL, HL, LH, HH
    assert torch.equal(official, torch.cat([bands] * 3, dim=1))
    assert torch.equal(ours, bands.repeat_interleave(3, dim=1))
    assert not torch.equal(official, ours)
