"""faceveil.faces.boxes (--boxes import: schema, errors, merge) and faceveil.faces.draw (--preview overlays)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceveil.api import FileReport
from faceveil.errors import FaceveilError, UsageError
from faceveil.faces.boxes import BoxesFileError, box_iou, load_boxes, merge_faces, parse_boxes
from faceveil.faces.draw import DETECTED_COLOUR, IMPORTED_COLOUR, MASK_COLOUR, draw_faces, face_label
from faceveil.faces.mask import MaskSpec
from faceveil.faces.types import Face


@pytest.fixture(scope="module")
def detected(astronaut):
    from faceveil.faces.detect import create_detector

    faces = create_detector("centerface").detect(astronaut)
    assert len(faces) == 1
    return faces


def json_output(tmp_path, name: str, faces: list[Face]):
    """A boxes file written exactly as `faceveil anonymize --json` prints its summary."""
    report = FileReport(input=tmp_path / name, faces=[f.to_dict() | {"method": "mosaic", "rect": [0, 0, 1, 1]} for f in faces])
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps({"files": [report.to_dict()], "ok": 1, "failed": 0}, indent=2))
    return path


def test_json_output_round_trips_as_a_boxes_file(tmp_path, detected):
    path = json_output(tmp_path, "astronaut.png", detected)
    boxes = load_boxes(path)
    (face,) = boxes.faces_for(tmp_path / "astronaut.png")
    assert face.box == pytest.approx(detected[0].box, abs=0.01)
    assert face.score == pytest.approx(detected[0].score, abs=1e-4)
    np.testing.assert_allclose(face.landmarks, detected[0].landmarks, atol=0.01)
    assert boxes.faces_for(tmp_path / "other.png") == []
    assert len(boxes.faces_for(tmp_path / "sub" / "astronaut.png")) == 1  # matched by file name when unambiguous


def test_bare_lists_apply_to_every_input_and_video_frames_are_respected():
    boxes = parse_boxes([{"box": [1, 2, 30, 40]}, {"box": [5, 5, 9, 9], "frame": 3},
                         {"box": [0, 0, 4, 4], "first_frame": 2, "last_frame": 4}])
    assert len(boxes.faces_for("any.jpg")) == 3  # a photo: every face
    assert [f.box for f in boxes.faces_for("clip.mp4", 3)] == [(1, 2, 30, 40), (5, 5, 9, 9), (0, 0, 4, 4)]
    assert [f.box for f in boxes.faces_for("clip.mp4", 5)] == [(1, 2, 30, 40)]
    assert boxes.faces_for("x", 0)[0].score == 1.0 and boxes.faces_for("x", 0)[0].landmarks is None
    single = parse_boxes({"input": "a.jpg", "faces": [{"box": [0, 0, 10, 10]}]})
    assert len(single.faces_for("a.jpg")) == 1 and single.faces_for("b.jpg") == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON (line 1"),
        ('{"files": {}}', "must be a list"),
        ('{"something": 1}', "expected faceveil --json output"),
        ('[{"box": [0, 0, 10]}]', "faces[0]: \"box\" must be"),
        ('[{"box": [10, 0, 5, 10]}]', "is empty"),
        ('[{"box": [0, 0, 5, 5], "score": 2}]', "score"),
        ('[{"box": [0, 0, 5, 5], "landmarks": [[1, 2]]}]', "landmarks"),
        ('[{"box": [0, 0, 5, 5], "frame": -1}]', "frame"),
        ('{"files": [{"input": "a.jpg", "faces": [{"box": "x"}]}]}', "files[0].faces[0]"),
        ('[{"box": [0, 0, "NaN", 5]}]', "box"),
    ],
)
def test_malformed_boxes_files_give_one_clear_usage_error(tmp_path, content, message):
    path = tmp_path / "boxes.json"
    path.write_text(content)
    with pytest.raises(BoxesFileError) as info:
        load_boxes(path)
    assert message in str(info.value) and str(path) in str(info.value)
    assert isinstance(info.value, UsageError) and isinstance(info.value, FaceveilError)
    assert info.value.exit_code == 2


def test_missing_boxes_file(tmp_path):
    with pytest.raises(BoxesFileError, match="does not exist"):
        load_boxes(tmp_path / "nope.json")


def test_merge_replaces_overlapping_detections_and_adds_missed_faces(detected):
    det = detected[0]
    x0, y0, x1, y1 = det.box
    bigger = Face(box=(x0 - 5, y0 - 5, x1 + 5, y1 + 5))  # the same face, a box the person prefers
    missed = Face(box=(10.0, 10.0, 60.0, 70.0))  # a face the detector did not see
    assert box_iou(bigger.box, det.box) > 0.5 and box_iou(missed.box, det.box) == 0.0
    merged = merge_faces(detected, [bigger, missed])
    assert [f.box for f in merged.faces] == [bigger.box, missed.box]
    assert merged.imported == (0, 1) and merged.replaced == 1
    np.testing.assert_array_equal(merged.faces[0].landmarks, det.landmarks)  # kept: the import had none
    # a box overlapping by IoU <= 0.5 is a different face: added, the detection stays
    half = Face(box=(x0, y0, x0 + (x1 - x0) / 2, y1))
    assert box_iou(half.box, det.box) == pytest.approx(0.5)
    merged = merge_faces(detected, [half])
    assert merged.faces == [det, half] and merged.replaced == 0
    assert merge_faces(detected, []).faces == list(detected)


def test_merged_faces_are_anonymized(astronaut, detected):
    from faceveil.crypto.envelope import ContentKey
    from faceveil.methods.classical import SolidMethod
    from faceveil.pipeline import anonymize_frame, face_contexts

    missed = Face(box=(20.0, 300.0, 80.0, 380.0))
    faces = merge_faces(detected, [missed]).faces
    result = anonymize_frame(astronaut, faces, SolidMethod(), face_contexts(faces, ContentKey.generate()))
    assert len(result.outcomes) == 2
    assert (result.rgb[330:350, 40:60] == 128).all()  # the hand-added region is covered


def test_draw_faces_marks_boxes_labels_and_mask(astronaut, detected):
    faces = [*detected, Face(box=(20.0, 300.0, 80.0, 380.0), score=1.0, track_id=4)]
    out = draw_faces(astronaut, faces, imported={1}, mask=MaskSpec("ellipse", 1.3), landmarks=True)
    assert out.shape == astronaut.shape and not np.shares_memory(out, astronaut)
    changed = np.any(out != astronaut, axis=-1)
    x0, y0, x1, y1 = (int(round(v)) for v in detected[0].box)
    assert changed[y0, x0 + 5 : x1 - 5].mean() > 0.9  # the top edge of the detected box is drawn
    assert not changed[(y0 + y1) // 2 - 5 : (y0 + y1) // 2 + 5, (x0 + x1) // 2 - 5 : (x0 + x1) // 2 + 5].all()
    colours = {tuple(c) for c in out[changed].reshape(-1, 3)}
    assert DETECTED_COLOUR in colours and IMPORTED_COLOUR in colours and MASK_COLOUR in colours
    assert np.array_equal(out[340, 20], np.array(IMPORTED_COLOUR, np.uint8))  # left edge of the imported box
    assert face_label(faces[1]) == "#4 1.00" and face_label(detected[0], scores=False) == ""
    plain = draw_faces(astronaut, detected, scores=False)
    assert np.any(plain != astronaut) and np.array_equal(draw_faces(astronaut, []), astronaut)
