"""Deep3DFaceRecon regressor: published layout loads strictly; 257 coefficients split as published."""

import pytest
import torch

from faceveil.analysis.deep3d import ReconNet, regress_coefficients, split_coefficients

torch.set_num_threads(1)


def test_published_layout_loads_strictly_and_heads_map_to_named_coefficients(reference_layouts):
    g = torch.Generator().manual_seed(0)
    state = {}
    for name, shape, dtype in reference_layouts["deep3dfacerecon_net_recon"]:
        if dtype == "int64":
            state["module." + name] = torch.tensor(3)
        elif name.endswith("running_var"):
            state["module." + name] = torch.rand(shape, generator=g) + 0.5
        else:
            state["module." + name] = torch.randn(shape, generator=g) * 0.05
    # heads with zero weights output their bias: a known value per coefficient group
    for i in range(7):
        state[f"module.final_layers.{i}.weight"].zero_()
        state[f"module.final_layers.{i}.bias"].fill_(float(i + 1))
    net = ReconNet()
    net.load_state_dict({k[7:]: v for k, v in state.items()}, strict=True)
    with torch.no_grad():
        coeffs = regress_coefficients(net.eval(), torch.rand(2, 3, 256, 256) * 2 - 1)
    assert coeffs.shape == (2, 257)
    parts = split_coefficients(coeffs)
    expected = {"id": (80, 1.0), "exp": (64, 2.0), "tex": (80, 3.0), "angle": (3, 4.0), "gamma": (27, 5.0)}
    for name, (n, value) in expected.items():
        assert parts[name].shape == (2, n) and torch.all(parts[name] == value)
    assert parts["trans"].tolist() == [[6.0, 6.0, 7.0]] * 2
