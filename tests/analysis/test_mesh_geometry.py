"""Procrustes and Euler-angle conventions on synthetic point sets with known answers."""

import numpy as np
import pytest

from faceveil.analysis.mesh_geometry import (
    HeadPose,
    canonical_mesh,
    head_pose,
    pose_to_rotation,
    procrustes,
    rotation_to_pose,
)
from faceveil.errors import InputError


def test_procrustes_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(30, 3))
    rotation = pose_to_rotation(HeadPose(yaw=20, pitch=-10, roll=5))
    dst = 2.5 * src @ rotation.T + np.array([1.0, -2.0, 3.0])
    fit = procrustes(src, dst)
    assert fit.scale == pytest.approx(2.5)
    np.testing.assert_allclose(fit.rotation, rotation, atol=1e-9)
    np.testing.assert_allclose(fit.apply(src), dst, atol=1e-9)


def test_procrustes_never_reflects():
    src = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    fit = procrustes(src, src * [-1, 1, 1])  # a mirror image has no proper rotation onto it
    assert np.linalg.det(fit.rotation) == pytest.approx(1.0)


def test_euler_round_trip_and_hand_computed_axes():
    pose = HeadPose(yaw=30.0, pitch=-12.0, roll=7.0)
    back = rotation_to_pose(pose_to_rotation(pose))
    np.testing.assert_allclose(back.as_array(), pose.as_array(), atol=1e-9)
    # yaw 90: the nose direction (0, 0, -1) (toward the camera) turns to the image's left (-x)
    np.testing.assert_allclose(pose_to_rotation(HeadPose(90, 0, 0)) @ [0, 0, -1], [-1, 0, 0], atol=1e-12)
    # roll 90: +x (eye line) turns to +y (down): clockwise on screen
    np.testing.assert_allclose(pose_to_rotation(HeadPose(0, 0, 90)) @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_head_pose_of_rotated_canonical_mesh():
    canonical, mirror = canonical_mesh()
    assert head_pose(canonical * 100 + 50).as_array() == pytest.approx([0, 0, 0], abs=1e-6)
    pose = HeadPose(yaw=-25.0, pitch=10.0, roll=-4.0)
    turned = 80.0 * canonical @ pose_to_rotation(pose).T + [200, 150, 0]
    np.testing.assert_allclose(head_pose(turned).as_array(), pose.as_array(), atol=1e-6)
    # The mirror image as FaceMesh reports it: x negated, and index i is again the same facial point.
    mirrored_yaw = head_pose((turned * [-1, 1, 1])[mirror])
    assert mirrored_yaw.yaw == pytest.approx(25.0, abs=1e-6) and mirrored_yaw.roll == pytest.approx(4.0, abs=1e-6)


def test_bad_mesh_raises_input_error():
    with pytest.raises(InputError):
        head_pose(np.zeros((68, 2)))
    with pytest.raises(InputError):
        procrustes(np.zeros((2, 3)), np.zeros((2, 3)))
