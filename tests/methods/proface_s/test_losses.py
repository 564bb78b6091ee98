import numpy as np
import pytest
import torch

from faceveil.errors import ModelUnavailableError
from faceveil.methods.proface_s.losses import (
    LPIPS,
    MODE_WEIGHTS,
    image_distance,
    make_perceptual,
    ms_ssim,
    ms_ssim_distance,
    proface_s_loss,
)


def _face_tensor(aligned_faces, name="astronaut", size=128):
    img = aligned_faces[name][:: 256 // size, :: 256 // size]
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 127.5 - 1


def test_ms_ssim_is_one_for_identical_and_drops_with_noise(aligned_faces):
    x = _face_tensor(aligned_faces)
    assert ms_ssim(x, x).item() == pytest.approx(1.0, abs=1e-5)
    gen = torch.Generator().manual_seed(0)
    light = ms_ssim(x, (x + 0.05 * torch.randn(x.shape, generator=gen)).clamp(-1, 1)).item()
    heavy = ms_ssim(x, (x + 0.4 * torch.randn(x.shape, generator=gen)).clamp(-1, 1)).item()
    assert 1.0 > light > heavy


def test_ms_ssim_works_on_small_training_crops():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    d = ms_ssim_distance(x, x.flip(-1))
    assert d.shape == (2,) and torch.all(d > 0) and torch.isfinite(d).all()


def test_perceptual_default_is_the_documented_substitute():
    fn, name = make_perceptual()
    assert fn is ms_ssim_distance and "MS-SSIM" in name
    with pytest.raises(ModelUnavailableError):
        make_perceptual(lpips_vgg="vgg.pth")


def test_lpips_from_weight_files(tmp_path):
    from torchvision.models.vgg import cfgs, make_layers

    # random weights stand in for the user's ImageNet files; only the plumbing is tested here
    features = make_layers(cfgs["D"]).state_dict()
    torch.save({f"features.{k}": v for k, v in features.items()}, tmp_path / "vgg.pth")
    torch.save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 128, 256, 512, 512))},
               tmp_path / "lin.pth")
    lp = LPIPS(tmp_path / "vgg.pth", tmp_path / "lin.pth")
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(lp(a, a), torch.zeros(2), atol=1e-6)
    assert torch.all(lp(a, b) > 0)
    with pytest.raises(ModelUnavailableError):
        LPIPS(tmp_path / "missing.pth", tmp_path / "lin.pth")


def test_loss_terms_follow_the_mode_weights(aligned_faces):
    orig = _face_tensor(aligned_faces, size=64)
    obf = torch.nn.functional.avg_pool2d(orig, 9, 1, 4, count_include_pad=False)
    key_noise = (torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0)) > 0.5).float() * 2 - 1
    key_noise = key_noise.expand(-1, 3, -1, -1)
    for mode, w in MODE_WEIGHTS.items():
        t = proface_s_loss(orig, obf, obf, orig, key_noise, key_noise, mode, ms_ssim_distance)
        assert t.img.item() == pytest.approx(0, abs=1e-4) and t.rec.item() == pytest.approx(0, abs=1e-4)
        expected = w.img * t.img.item() + w.rec * t.rec.item() + w.wr * t.wr.item()
        assert t.total.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)

    def wr(mode, wrong):
        return proface_s_loss(orig, obf, obf, orig, wrong, key_noise, mode, ms_ssim_distance).wr.item()

    # Random mode: a wrong key should give the key's noise image; the original is the worst answer
    assert wr("random", key_noise) == pytest.approx(0, abs=1e-4)
    d = image_distance(orig, key_noise, ms_ssim_distance).item()
    assert wr("random", orig) == pytest.approx(2 * d + 1.2, rel=1e-3)
    # Obfs mode: the obfuscated face is the target
    assert wr("obfs", obf) < wr("obfs", key_noise) and wr("obfs", obf) < wr("obfs", orig)
    assert image_distance(orig, orig, ms_ssim_distance).item() == pytest.approx(0, abs=1e-4)


def test_hidden_signal_visibility_penalty(aligned_faces):
    """0 for a protected image that is exactly its cover; a 2-px checkerboard costs energy; a residual
    tracing the original's edges costs more than noise of the same strength (issue 11)."""
    from faceveil.methods.proface_s.losses import HiddenSignalVisibility

    orig = _face_tensor(aligned_faces, size=64)
    cover = torch.nn.functional.avg_pool2d(orig, 9, 1, 4, count_include_pad=False)
    vis = HiddenSignalVisibility()
    assert vis(cover, cover, orig).item() == pytest.approx(0, abs=1e-6)
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    checker = (((yy + xx) % 2) * 2 - 1).float()[None, None].expand(1, 3, -1, -1) * 0.02
    assert vis(cover + checker, cover, orig).item() > 0.01
    detail = orig - cover  # the original's own edges
    traced = cover + 0.02 * detail / detail.abs().mean()
    noise = torch.randn(orig.shape, generator=torch.Generator().manual_seed(0))
    noisy = cover + 0.02 * noise / noise.abs().mean()
    assert vis(traced, cover, orig).item() > vis(noisy, cover, orig).item() + 0.3
    # it trains: the gradient of the loss with the penalty reaches the protected image
    protected = (cover + checker).clone().requires_grad_(True)
    key_noise = torch.ones(1, 3, 64, 64)
    terms = proface_s_loss(orig, cover, protected, orig, key_noise, key_noise, "random", ms_ssim_distance,
                           visibility_weight=0.5)
    base = proface_s_loss(orig, cover, protected, orig, key_noise, key_noise, "random", ms_ssim_distance)
    assert terms.vis is not None and base.vis is None
    assert terms.total.item() == pytest.approx(base.total.item() + 0.5 * terms.vis.item(), rel=1e-5)
    terms.total.backward()
    assert protected.grad is not None and protected.grad.abs().sum() > 0
