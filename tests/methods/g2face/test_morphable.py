"""BFM geometry terms on a synthetic basis (the real BFM file cannot ship) and a written .mat file."""

import math

import numpy as np
import pytest
import torch
from scipy.io import savemat

from faceveil.errors import InputError
from faceveil.methods.g2face.morphable import MorphableModel, rotation_matrix


def synthetic_basis_mat(path, n_side: int = 6):
    """A flat n x n vertex grid (1-based indices like the real file), random bases."""
    rng = np.random.default_rng(0)
    xs, ys = np.meshgrid(np.linspace(-1, 1, n_side), np.linspace(-1, 1, n_side))
    verts = np.stack([xs.ravel(), ys.ravel(), np.zeros(n_side * n_side)], 1) + 5  # off-centre: must be re-centred
    tris = []
    for r in range(n_side - 1):
        for c in range(n_side - 1):
            i = r * n_side + c
            tris += [[i, i + 1, i + n_side], [i + 1, i + n_side + 1, i + n_side]]
    tris = np.array(tris)
    n, f = verts.shape[0], tris.shape[0]
    point_buf = np.full((n, 8), f)  # padding index = F (the zero normal), 0-based here
    for v in range(n):
        adj = np.nonzero((tris == v).any(1))[0][:8]
        point_buf[v, : len(adj)] = adj
    savemat(path, {
        "meanshape": verts.reshape(1, -1), "idBase": rng.normal(size=(3 * n, 80)) * 0.01,
        "exBase": rng.normal(size=(3 * n, 64)) * 0.01, "meantex": np.full((1, 3 * n), 128.0),
        "texBase": rng.normal(size=(3 * n, 80)), "tri": tris + 1, "point_buf": point_buf + 1,
        "keypoints": (np.arange(68) % n + 1).reshape(-1, 1),
    })


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> MorphableModel:
    path = tmp_path_factory.mktemp("bfm") / "BFM_model_front.mat"
    synthetic_basis_mat(path)
    return MorphableModel.from_mat(path)


def test_rotation_is_orthonormal_and_matches_single_axis_formula():
    r = rotation_matrix(torch.tensor([[0.3, -0.2, 0.5]]))
    torch.testing.assert_close(r @ r.transpose(1, 2), torch.eye(3)[None], atol=1e-6, rtol=0)
    ry = rotation_matrix(torch.tensor([[0.0, math.pi / 2, 0.0]]))[0]
    torch.testing.assert_close(ry @ torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 0, -1]), atol=1e-6, rtol=0)


def test_zero_coefficients_give_centred_flat_face_facing_the_camera(model):
    t = model.terms(torch.zeros(1, 257))
    assert t["shape"].shape == (1, 36, 3) and t["landmark"].shape == (1, 68, 2)
    torch.testing.assert_close(t["shape"].mean(1), torch.zeros(1, 3), atol=1e-5, rtol=0)
    # the centre of the re-centred mesh projects to the principal point
    centre = model.project(torch.zeros(1, 1, 3), torch.eye(3)[None], torch.zeros(1, 3))
    torch.testing.assert_close(centre, torch.full((1, 1, 2), 112.0))
    normals = model.normals(t["shape"])
    torch.testing.assert_close(normals.abs()[..., 2], torch.ones(1, 36), atol=1e-5, rtol=0)  # flat grid: +-z


def test_ambient_light_only_gives_albedo_times_constant(model):
    color = model.terms(torch.zeros(1, 257))["color"]
    expected = 128 / 255 * 0.8 * math.pi / math.sqrt(4 * math.pi)
    torch.testing.assert_close(color, torch.full_like(color, expected), atol=1e-5, rtol=0)


def test_shape_is_linear_in_identity_and_expression(model):
    a, b = torch.randn(1, 257), torch.randn(1, 257)
    sa, sb, sab = (model.shape(c[:, :80], c[:, 80:144]) for c in (a, b, a + b))
    torch.testing.assert_close(sab - model.shape(torch.zeros(1, 80), torch.zeros(1, 64)), (sa - model.mean_shape.view(1, -1, 3)) + (sb - model.mean_shape.view(1, -1, 3)), atol=1e-5, rtol=0)


def test_not_a_basis_file_is_an_input_error(tmp_path):
    savemat(tmp_path / "x.mat", {"foo": np.zeros(3)})
    with pytest.raises(InputError):
        MorphableModel.from_mat(tmp_path / "x.mat")
