import pytest
import torch

from faceveil.methods.proface_s.dwt import haar_dwt, haar_iwt


def test_inverse_is_exact_and_energy_preserving():
    x = torch.randn(2, 3, 16, 24, dtype=torch.float64)
    y = haar_dwt(x)
    assert y.shape == (2, 12, 8, 12)
    assert torch.allclose(haar_iwt(y), x, atol=1e-12)
    assert torch.allclose((y**2).sum(), (x**2).sum())  # orthonormal


def test_forward_of_inverse_is_identity():
    y = torch.randn(1, 8, 5, 7, dtype=torch.float64)
    assert torch.allclose(haar_dwt(haar_iwt(y)), y, atol=1e-12)


def test_subbands_of_one_block_by_hand():
    # block [[a, b], [c, d]] with a=1, b=2 (right), c=3 (below), d=5
    x = torch.tensor([[[[1.0, 2.0], [3.0, 5.0]]]])
    ll, hl, lh, hh = haar_dwt(x).flatten().tolist()
    assert ll == pytest.approx((1 + 2 + 3 + 5) / 2)
    assert hl == pytest.approx((-1 - 3 + 2 + 5) / 2)  # right column minus left column
    assert lh == pytest.approx((-1 + 3 - 2 + 5) / 2)  # bottom row minus top row
    assert hh == pytest.approx((1 - 3 - 2 + 5) / 2)


def test_odd_size_is_rejected():
    with pytest.raises(ValueError):
        haar_dwt(torch.zeros(1, 3, 7, 8))
