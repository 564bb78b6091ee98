"""BlazeFace and FaceMesh (MediaPipe via human-models) and head pose on real faces."""

import numpy as np
import pytest
import torch

from faceveil.analysis.human_models import human_models_dir
from faceveil.analysis.mediapipe_models import BlazeFaceDetector, FaceMesh, blazeface_anchors, weighted_nms
from faceveil.analysis.mesh_geometry import (
    EXPRESSION_POINTS,
    EYE_OUTER,
    LIPS,
    canonical_mesh,
    expression_descriptor,
    head_pose,
    normalized_mesh,
)

from .conftest import CAMERAMAN_FACE, flip_face, main_face, rotate

needs_models = pytest.mark.skipif(
    not (human_models_dir() / "facemesh.bin").exists(), reason="human-models not installed (scripts/fetch_npm_models.sh)"
)


@pytest.fixture(scope="module")
def mesh_model() -> FaceMesh:
    torch.set_num_threads(1)
    return FaceMesh()


def test_anchor_layout():
    anchors = blazeface_anchors()
    assert anchors.shape == (896, 2)
    np.testing.assert_array_equal(anchors[:3], [[8, 8], [8, 8], [24, 8]])  # 2 anchors per 16-px cell
    np.testing.assert_array_equal(anchors[512:518], [[16, 16]] * 6)  # then 6 per 32-px cell


def test_weighted_nms_blends_overlaps_and_keeps_separate_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float64)
    kept = weighted_nms(boxes, np.array([0.9, 0.3, 0.8]), iou=0.3)
    assert len(kept) == 2
    np.testing.assert_allclose(kept[0][0], [0.25, 0.25, 10.25, 10.25])  # (0.9*0 + 0.3*1) / 1.2
    assert kept[0][1] == 0.9 and kept[1][1] == 0.8


@needs_models
def test_blazeface_finds_each_sample_face(astronaut, grace_hopper, cameraman, hog):
    detector = BlazeFaceDetector()
    for rgb, ref in ((astronaut, main_face(hog, astronaut)), (grace_hopper, main_face(hog, grace_hopper)), (cameraman, CAMERAMAN_FACE)):
        faces = detector.detect(rgb)
        assert len(faces) == 1
        box = np.array(faces[0].box)
        ref_centre = np.array([(ref.box[0] + ref.box[2]) / 2, (ref.box[1] + ref.box[3]) / 2])
        assert np.linalg.norm((box[:2] + box[2:]) / 2 - ref_centre) < 0.25 * ref.width
        eyes = faces[0].landmarks[:2]
        assert eyes[0, 0] < eyes[1, 0]  # viewer-left eye first


@needs_models
def test_mesh_lands_on_the_face(mesh_model, astronaut, hog):
    face = main_face(hog, astronaut)
    result = mesh_model.mesh(astronaut, face)
    assert result.points.shape == (468, 3) and result.score > 0.9
    x0, y0, x1, y1 = face.box
    assert x0 - 20 < result.points[:, 0].mean() < x1 + 20 and y0 - 20 < result.points[:, 1].mean() < y1 + 20
    left, right = result.points[list(EYE_OUTER), 0]
    assert left < right
    # the mouth lies below the eyes
    assert result.points[list(LIPS), 1].mean() > result.points[list(EYE_OUTER), 1].mean() + 20


def test_canonical_mesh_is_symmetric():
    canonical, mirror = canonical_mesh()
    assert canonical.shape == (468, 3)
    np.testing.assert_array_equal(mirror[mirror], np.arange(468))
    np.testing.assert_allclose(canonical * [-1, 1, 1], canonical[mirror], atol=1e-4)
    assert mirror[EYE_OUTER[0]] == EYE_OUTER[1]


@needs_models
def test_pose_of_flipped_face_mirrors_yaw(mesh_model, cameraman):
    pose = head_pose(mesh_model.mesh(cameraman, CAMERAMAN_FACE).points)
    assert pose.yaw < -35  # he looks into a camera on the image's right
    flipped, face = flip_face(cameraman, CAMERAMAN_FACE)
    mirrored = head_pose(mesh_model.mesh(flipped, face).points)
    assert abs(mirrored.yaw + pose.yaw) < 6
    assert abs(mirrored.pitch - pose.pitch) < 6
    assert abs(mirrored.roll + pose.roll) < 6


@needs_models
def test_frontal_faces_and_in_plane_rotation(mesh_model, astronaut, grace_hopper, hog):
    for rgb in (astronaut, grace_hopper):
        face = main_face(hog, rgb)
        pose = head_pose(mesh_model.mesh(rgb, face).points)
        assert abs(pose.yaw) < 10 and abs(pose.pitch) < 10 and abs(pose.roll) < 10
        turned, turned_face = rotate(rgb, face, 15.0)  # PIL: counter-clockwise -> roll decreases by 15
        turned_pose = head_pose(mesh_model.mesh(turned, turned_face).points)
        assert abs((turned_pose.roll - pose.roll) + 15.0) < 3
        assert abs(turned_pose.yaw - pose.yaw) < 4


@needs_models
def test_normalized_mesh_removes_pose_but_keeps_identity_shape(mesh_model, astronaut, grace_hopper, hog):
    a_face = main_face(hog, astronaut)
    a = mesh_model.mesh(astronaut, a_face).points
    turned, turned_face = rotate(astronaut, a_face, 15.0)
    a_turned = mesh_model.mesh(turned, turned_face).points
    g = mesh_model.mesh(grace_hopper, main_face(hog, grace_hopper)).points
    same = np.abs(normalized_mesh(a) - normalized_mesh(a_turned)).mean()
    different = np.abs(normalized_mesh(a) - normalized_mesh(g)).mean()
    assert same < 0.5 * different
    assert expression_descriptor(a).shape == (len(EXPRESSION_POINTS) * 3,)
