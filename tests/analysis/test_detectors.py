"""Every evaluation detector finds the package-shipped faces and nothing on a face-free photo."""

import numpy as np
import pytest
from skimage import data

from faceveil.analysis.detectors import EVAL_DETECTORS, create_eval_detector
from faceveil.analysis.human_models import human_models_dir
from faceveil.errors import InputError
from faceveil.faces.detect import available_detectors

from .conftest import main_face

FAST = ["centerface", "dlib-hog", "blazeface", "haar"]  # dlib-mmod is covered in test_dlib_models


@pytest.fixture(scope="module", params=FAST)
def detector(request):
    if request.param == "blazeface" and not (human_models_dir() / "blazeface.bin").exists():
        pytest.skip("human-models not installed")
    return create_eval_detector(request.param)


def test_finds_the_sample_faces_where_hog_does(detector, hog, astronaut, grace_hopper):
    for rgb in (astronaut, grace_hopper):
        ref = main_face(hog, rgb)
        best = max(detector.detect(rgb), key=lambda f: f.score)
        centre = np.array([(best.box[0] + best.box[2]) / 2, (best.box[1] + best.box[3]) / 2])
        ref_centre = np.array([(ref.box[0] + ref.box[2]) / 2, (ref.box[1] + ref.box[3]) / 2])
        assert np.linalg.norm(centre - ref_centre) < 0.3 * ref.width
        assert 0.0 <= best.score <= 1.0


@pytest.mark.parametrize("photo", ["coffee", "rocket"])
def test_no_face_on_face_free_photos(detector, photo):
    assert detector.detect(np.ascontiguousarray(getattr(data, photo)())) == []


def test_registry_and_errors():
    assert set(EVAL_DETECTORS) == {"centerface", "dlib-hog", "dlib-mmod", "blazeface", "haar"}
    assert {"dlib-hog", "blazeface", "haar"} <= set(available_detectors())
    with pytest.raises(InputError):
        create_eval_detector("nope")
    with pytest.raises(InputError):
        create_eval_detector("haar", bogus=1)
