"""Every metric against values computed by hand on tiny inputs."""

import math

import numpy as np
import pytest

from faceveil.errors import InputError
from faceveil.eval import metrics as m
from faceveil.eval import metrics as m_mod


def test_summary_skips_nan_and_counts_it():
    s = m.summarize([1.0, 3.0, float("nan")])
    assert (s.mean, s.std, s.n, s.missing) == (2.0, 1.0, 2, 1)
    assert s.to_dict() == {"mean": 2.0, "std": 1.0, "n": 2, "missing": 1}
    empty = m.summarize([float("nan")])
    assert empty.n == 0 and empty.to_dict()["mean"] is None and str(empty) == "n/a"


def test_cosine_similarity():
    assert m.cosine_similarity([1, 0], [1, 1]) == pytest.approx(1 / math.sqrt(2))
    assert m.cosine_similarity([0, 0], [1, 1]) == 0.0
    with pytest.raises(InputError):
        m.cosine_similarity([1, 0], [1, 0, 0])


def test_tar_at_far_hand_computed():
    genuine = [0.9, 0.8, 0.4]
    impostor = [0.7, 0.5, 0.3, 0.2, 0.1]
    scores = genuine + impostor
    same = [True] * 3 + [False] * 5
    # FAR 0.2 of 5 impostors: 1 may pass -> threshold = 2nd highest impostor (0.5); 0.9 and 0.8 pass
    r = m.tar_at_far(scores, same, 0.2)
    assert (r.threshold, r.tar, r.far) == (0.5, pytest.approx(2 / 3), 0.2)
    # FAR 0.1 of 5: none may pass -> threshold = highest impostor 0.7
    r = m.tar_at_far(scores, same, 0.1)
    assert (r.threshold, r.tar, r.far, r.n_genuine, r.n_impostor) == (0.7, pytest.approx(2 / 3), 0.0, 3, 5)
    with pytest.raises(InputError):
        m.tar_at_far([0.1, 0.2], [True, True], 0.1)
    with pytest.raises(InputError):
        m.tar_at_far([0.1], [True, False], 0.1)


def test_boxes_and_landmarks():
    assert m.box_iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert m.box_iou((0, 0, 1, 1), (5, 5, 6, 6)) == 0.0
    assert m.box_distance((0, 0, 10, 10), (3, 4, 10, 10)) == 2.5
    assert m.match_box((0, 0, 10, 10), [(50, 50, 60, 60), (1, 1, 11, 11), (0, 0, 9, 10)]) == 2  # IoU 0.9 > 0.68
    assert m.match_box((0, 0, 10, 10), [(8, 8, 20, 20)]) is None
    a = np.array([[0, 0], [10, 0]])
    b = np.array([[3, 4], [10, 0]])
    assert m.landmark_distance(a, b) == 2.5
    assert m.landmark_distance(a, b, normalizer=10.0) == 0.25
    with pytest.raises(InputError):
        m.landmark_distance(a, b[:1])
    assert m.detection_rate([True, False, True, True]) == 0.75
    assert math.isnan(m.detection_rate([]))
    assert m.pose_distance((3, 4, 0), (0, 0, 0)) == 5.0
    assert m.descriptor_distance([1, 1, 1, 1], [1, 1, 1, 3]) == 1.0


def test_recovery_metrics():
    a = np.zeros((16, 16, 3), np.uint8)
    b = a + 10
    assert m.mae(a, b) == 10.0
    assert m.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    assert m.psnr(a, a) == math.inf
    assert m.ssim(b, b) == pytest.approx(1.0)
    with pytest.raises(InputError):
        m.mae(a, b[:8])


def test_ssim_and_ms_ssim_fall_monotonically_with_noise():
    from skimage import data

    rng = np.random.default_rng(0)
    img = data.astronaut()[64:256, 128:320]  # the face, 192x192x3: MS-SSIM uses 5 scales
    scores = []
    for sigma in (0, 5, 20, 60):
        noisy = np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)
        scores.append((m.ssim(img, noisy), m.ms_ssim(img, noisy)))
    assert scores[0] == (pytest.approx(1.0), pytest.approx(1.0))
    for (s_prev, ms_prev), (s_next, ms_next) in zip(scores, scores[1:]):
        assert s_next < s_prev and ms_next < ms_prev
    assert scores[-1][0] < 0.5


def test_ms_ssim_constant_images_hand_computed():
    # Flat images: variance 0 so contrast-structure is exactly 1 at every scale and only the
    # luminance term l = (2*mu_a*mu_b + c1) / (mu_a^2 + mu_b^2 + c1) of the coarsest scale remains.
    c1 = (0.01 * 255) ** 2
    lum = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)
    small_a, small_b = np.full((16, 16), 100.0), np.full((16, 16), 110.0)  # one scale fits: weight 1
    assert m.ms_ssim(small_a, small_b) == pytest.approx(lum)
    big_a, big_b = np.full((176, 176), 100.0), np.full((176, 176), 110.0)  # all 5 scales fit
    assert m.ms_ssim(big_a, big_b) == pytest.approx(lum**0.1333)


def test_bit_error_rate():
    assert m.bit_error_rate(b"\x00\xff", b"\x01\xff") == 1 / 16
    assert m.bit_error_rate(np.array([0, 1, 1, 0]), np.array([1, 1, 1, 1])) == 0.5
    with pytest.raises(InputError):
        m.bit_error_rate(b"\x00", b"\x00\x00")
    with pytest.raises(InputError):
        m.bit_error_rate(np.array([0, 2]), np.array([0, 1]))


def test_identity_diversity():
    e = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    # pairs: (0,1) cos 0, (0,2) cos 1, (1,2) cos 0 -> distances 1, 0, 1
    assert m.identity_diversity(e) == pytest.approx(2 / 3)
    with pytest.raises(InputError):
        m.identity_diversity(e[:1])


def test_frechet_embedding_distance():
    # 1-D: means 1 and 4, sample variances 2 and 2 -> (1 - 4)^2 + 2 + 2 - 2 * sqrt(2 * 2) = 9
    assert m.frechet_embedding_distance(np.array([[0.0], [2.0]]), np.array([[3.0], [5.0]])) == pytest.approx(9.0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 4))
    assert m.frechet_embedding_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    # shifting every embedding by v adds |v|^2 and nothing else
    v = np.array([1.0, 2.0, 0.0, -2.0])
    assert m.frechet_embedding_distance(x, x + v) == pytest.approx(9.0, rel=1e-6)


def test_frechet_small_sample_route_equals_covariance_route():
    rng = np.random.default_rng(2)
    for n_a, n_b, dim in ((6, 9, 40), (30, 25, 4)):
        xa = rng.normal(size=(n_a, dim))
        xb = rng.normal(size=(n_b, dim)) * 1.5 + 0.2
        xa, xb = xa - xa.mean(0), xb - xb.mean(0)
        gram = m_mod._covariance_trace_terms(xa, xb, route="gram")
        cov = m_mod._covariance_trace_terms(xa, xb, route="covariance")
        assert gram == pytest.approx(cov, rel=1e-6)  # rank-deficient covariances: sqrt of ~1e-15 round-off
