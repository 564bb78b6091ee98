import numpy as np
import pytest

from faceveil.analysis.dlib_models import (
    DlibLandmarks68,
    DlibMmodDetector,
    DlibRecognizer,
)
from faceveil.analysis.recognizer import Recognizer
from faceveil.errors import InputError
from faceveil.faces.types import Face

from .conftest import crop_face, flip_face, jpeg, main_face, rotate


@pytest.fixture(scope="module")
def recognizer() -> DlibRecognizer:
    return DlibRecognizer()


def test_hog_finds_the_sample_faces(hog, astronaut, grace_hopper):
    face = main_face(hog, astronaut)
    # astronaut's face is around (175..265, 76..166); Grace Hopper's around (180..366, 139..325)
    assert 150 < face.box[0] < 200 and 50 < face.box[1] < 100 and 80 < face.width < 110
    face = main_face(hog, grace_hopper)
    assert 160 < face.box[0] < 210 and 120 < face.box[1] < 160 and 160 < face.width < 210


def test_descriptor_shape_and_protocol(recognizer, hog, astronaut):
    emb = recognizer.embed(astronaut, main_face(hog, astronaut))
    assert emb.shape == (128,) and emb.dtype == np.float32
    assert 1.3 < np.linalg.norm(emb) < 1.6  # the norm same_person_cosine is derived from
    assert isinstance(recognizer, Recognizer)


def test_same_person_variants_are_close(recognizer, hog, astronaut):
    face = main_face(hog, astronaut)
    variants = {
        "flip": flip_face(astronaut, face),
        "jpeg30": (jpeg(astronaut, 30), face),
        "crop": crop_face(astronaut, face, left=40, top=30),
        "rotate5": rotate(astronaut, face, 5.0),
    }
    for name, (img, f) in variants.items():
        d = recognizer.distance(astronaut, face, img, f)
        assert d < 0.6, f"{name}: distance {d:.3f}"
        assert d > 0.0  # distinct pixels give a distinct descriptor


def test_different_people_are_far(recognizer, hog, astronaut, grace_hopper):
    d = recognizer.distance(astronaut, main_face(hog, astronaut), grace_hopper, main_face(hog, grace_hopper))
    assert d > 0.6
    a = recognizer.embed(astronaut, main_face(hog, astronaut))
    g = recognizer.embed(grace_hopper, main_face(hog, grace_hopper))
    assert recognizer.similarity(a, g) < recognizer.same_person_cosine
    assert not recognizer.same_person(a, g) and recognizer.same_person(a, a)


def test_descriptor_works_without_detection(recognizer, hog, astronaut):
    """Anonymized faces: a heavy blur defeats detection, the descriptor still runs on the original box."""
    import cv2

    face = main_face(hog, astronaut)
    x0, y0, x1, y1 = (int(v) for v in face.box)
    blurred = astronaut.copy()
    blurred[y0:y1, x0:x1] = cv2.GaussianBlur(blurred[y0:y1, x0:x1], (0, 0), 12)
    assert all(f.width < 60 or abs(f.box[0] - face.box[0]) > 40 for f in hog.detect(blurred))
    d = recognizer.distance(astronaut, face, blurred, face)
    assert np.isfinite(d) and d > 0.1  # blur moves the identity measurably


def test_bad_input_raises_typed_errors(recognizer, astronaut):
    with pytest.raises(InputError):
        recognizer.embed(astronaut[..., 0], Face(box=(0, 0, 50, 50)))
    with pytest.raises(InputError):
        recognizer.embed(astronaut.astype(np.float32), Face(box=(0, 0, 50, 50)))
    with pytest.raises(InputError):
        recognizer.embed(astronaut, Face(box=(600, 600, 700, 700)))
    with pytest.raises(InputError):
        recognizer.embed(astronaut, Face(box=(10, 10, 11, 11)))


def test_landmarks68_fall_inside_face(hog, astronaut):
    face = main_face(hog, astronaut)
    pts = DlibLandmarks68().landmarks(astronaut, face)
    assert pts.shape == (68, 2)
    x0, y0, x1, y1 = face.box
    inside = (pts[:, 0] > x0 - 15) & (pts[:, 0] < x1 + 15) & (pts[:, 1] > y0 - 15) & (pts[:, 1] < y1 + 25)
    assert inside.all()
    # iBUG order: points 36-41 are the viewer-left eye, 42-47 the viewer-right eye
    assert pts[36:42, 0].mean() < pts[42:48, 0].mean()
    # nose tip (30) below the eyes and above the mouth (48-67)
    assert pts[36:48, 1].mean() < pts[30, 1] < pts[48:68, 1].mean()


def test_mmod_finds_grace_hopper(grace_hopper, hog):
    faces = DlibMmodDetector().detect(grace_hopper)
    assert len(faces) == 1
    ref = main_face(hog, grace_hopper)
    centre = np.array([(faces[0].box[0] + faces[0].box[2]) / 2, (faces[0].box[1] + faces[0].box[3]) / 2])
    ref_centre = np.array([(ref.box[0] + ref.box[2]) / 2, (ref.box[1] + ref.box[3]) / 2])
    assert np.linalg.norm(centre - ref_centre) < 30
