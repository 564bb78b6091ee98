"""FID Inception and LPIPS: checkpoint layout, TF pooling, metric properties (random weights: the
real files are user-supplied and absent in tests)."""

import numpy as np
import pytest
import torch

from faceveil.analysis.perceptual import FidFeatures, Lpips, build_fid_inception, build_lpips, inception_features, lpips_distance
from faceveil.errors import ModelUnavailableError


def test_fid_inception_has_the_checkpoint_layout_and_2048_features():
    torch.set_num_threads(1)
    net = build_fid_inception().eval()
    state = net.state_dict()
    assert state["fc.weight"].shape == (1008, 2048)  # TF Inception's 1008 classes
    assert not any(k.startswith("AuxLogits") for k in state)
    net.load_state_dict(state, strict=True)  # a checkpoint with these keys loads strictly
    with torch.no_grad():
        feats = inception_features(net, torch.rand(1, 3, 64, 80))
    assert feats.shape == (1, 2048) and torch.isfinite(feats).all()


def test_tf_pooling_ignores_padding():
    """The mixed blocks' pooled branch averages only real pixels (TF), unlike torchvision's default."""
    net = build_fid_inception().eval()
    block = net.Mixed_5b
    x = torch.ones(1, 192, 5, 5)
    with torch.no_grad():
        pooled_branch = block._forward(x)[-1]
        expected = block.branch_pool(x)  # pooling ones that ignores padding gives ones everywhere
    torch.testing.assert_close(pooled_branch, expected)


def test_lpips_properties_and_head_keys():
    features, heads = build_lpips()
    assert sorted(heads.state_dict()) == [f"lin{k}.model.1.weight" for k in range(5)]
    with torch.no_grad():
        for k in range(5):  # real heads are non-negative; make the random ones so too
            heads[f"lin{k}"].model[1].weight.abs_()
        a = torch.rand(1, 3, 64, 64) * 2 - 1
        b = torch.rand(1, 3, 64, 64) * 2 - 1
        same = lpips_distance(features.eval(), heads.eval(), a, a)
        different = lpips_distance(features, heads, a, b)
    assert same.item() == pytest.approx(0.0, abs=1e-7) and different.item() > 0


def test_missing_user_weights_raise_typed_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEVEIL_WEIGHTS", str(tmp_path))
    crop = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ModelUnavailableError, match="pt_inception"):
        FidFeatures().features([crop])
    with pytest.raises(ModelUnavailableError, match="alexnet"):
        Lpips().distance(crop, crop)
