import torch

from faceveil.methods.g2face.losses import (
    DiscriminatorLoss,
    GeometryLoss,
    HidingLoss,
    IdentityDiversityLoss,
    IdentityLoss,
    SSIMPerceptual,
    ssim,
)


def test_identity_loss_pull_and_push():
    a = torch.tensor([[1.0, 0.0]])
    same, _ = IdentityLoss()(a, a, same=True)
    opposite, _ = IdentityLoss()(a, -a, same=False)
    pushed, _ = IdentityLoss()(a, a, same=False)
    assert same.item() == 0.0 and opposite.item() == 0.0 and abs(pushed.item() - 1.0) < 1e-6


def test_diversity_ignores_self_similarity_and_negative_pairs():
    ids = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    loss, parts = IdentityDiversityLoss()(ids)
    assert loss.item() == 0.0
    loss, _ = IdentityDiversityLoss()(torch.ones(3, 4))
    assert abs(loss.item() - 6 / 9) < 1e-6  # 6 off-diagonal pairs of cosine 1 over 9 entries


def test_ssim_is_one_for_identical_and_lower_for_noisy_images():
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert abs(ssim(x, x).item() - 1) < 1e-4
    noise = torch.randn_like(x)
    mild, strong = ssim(x, (x + 0.1 * noise).clamp(-1, 1)).item(), ssim(x, (x + 0.5 * noise).clamp(-1, 1)).item()
    assert 1 > mild > strong
    assert SSIMPerceptual()(x, x).item() < 1e-4


def test_geometry_loss_uses_published_weights_and_available_parts():
    ref = {"shape": torch.zeros(2, 5), "landmark": torch.zeros(2, 68, 2)}
    out = {"shape": torch.ones(2, 5), "landmark": torch.ones(2, 68, 2)}
    total, parts = GeometryLoss()(ref, out)
    assert abs(total.item() - (1.0 + 0.01)) < 1e-6 and "color" not in parts


def test_hiding_loss_reports_bit_error_rate():
    bits = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    _, parts = HidingLoss()(torch.tensor([[3.0, -3.0, -1.0, -2.0]]), bits)
    assert parts["bit_error_rate"].item() == 0.25


def test_r1_penalty_matches_gradient_norm():
    real = torch.randn(4, 3, 8, 8, requires_grad=True)
    logits = (real * 2).sum(dim=(1, 2, 3)).unsqueeze(1)  # grad = 2 everywhere -> ||g||^2 = 4 * 192
    _, parts = DiscriminatorLoss(r1_gamma=5.0, r1_every=16)(real, logits, torch.zeros(4, 1), regularize=True)
    assert abs(parts["r1"].item() - 4 * 192) < 1e-3
