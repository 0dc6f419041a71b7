"""The Python API for users: bundled models by name, OpenCV's BGR arrays, boxes from other detectors, batches."""

from __future__ import annotations

import numpy as np
import pytest

import facepoints
from facepoints import FaceLandmarker, ImageReadError, Predictor
from facepoints.detection import detector_calibration
from facepoints.imageio import load_image
from facepoints.landmarker import sample_image_path
from facepoints.predict import points_box


@pytest.fixture(scope="module")
def astronaut():
    return load_image(sample_image_path())


@pytest.fixture(scope="module")
def landmarker():
    return FaceLandmarker()


@pytest.mark.parametrize("name", ["default", "fast"])
def test_predictor_takes_bundled_model_names(name, astronaut, landmarker):
    predictor = Predictor(name)
    assert predictor.backend == "int8" and predictor.layout.name == "ibug68"
    (face,) = landmarker.detect(astronaut)
    (result,) = predictor.predict(astronaut, points_box(face.points)[None], refine=0)
    iod = np.linalg.norm(face.points[45] - face.points[36])
    assert np.abs(result.points - face.points).mean() < 0.05 * iod


def test_bgr_arrays_need_saying_so(astronaut, landmarker):
    (rgb_face,) = landmarker.detect(astronaut)
    (bgr_face,) = landmarker.detect(np.ascontiguousarray(astronaut[:, :, ::-1]), bgr=True)
    assert np.array_equal(rgb_face.points, bgr_face.points)


def test_boxes_of_the_same_detector_give_detects_faces(astronaut, landmarker):
    found = landmarker.find_faces(astronaut)
    (plain,) = landmarker.detect(astronaut)
    (given,) = landmarker.detect(astronaut, boxes=found.boxes)
    assert np.array_equal(plain.points, given.points) and np.array_equal(plain.box, given.box)
    # the same faces framed as landmark boxes, under their own convention
    landmark_boxes = detector_calibration("yunet").apply(found.boxes)
    (framed,) = landmarker.detect(astronaut, boxes=landmark_boxes, box_convention="landmark")
    assert np.abs(framed.points - plain.points).max() < 0.01
    # ... and under the wrong convention the crop is off: the convention matters
    (wrong,) = landmarker.detect(astronaut, boxes=landmark_boxes)
    assert np.abs(wrong.points - plain.points).max() > 0.01
    with pytest.raises(KeyError, match="unknown face detector"):
        landmarker.detect(astronaut, boxes=found.boxes, box_convention="retinaface")


def test_detect_batch_equals_one_image_at_a_time(astronaut, landmarker):
    images = [astronaut, np.ascontiguousarray(astronaut[:, ::-1]), np.zeros((64, 64, 3), np.uint8)]
    batch = landmarker.detect_batch(images)
    assert [len(faces) for faces in batch] == [1, 1, 0]
    for faces, image in zip(batch, images):
        for a, b in zip(faces, landmarker.detect(image)):
            assert np.abs(a.points - b.points).max() < 1e-3


@pytest.mark.parametrize("bad", [b"\x89PNG not really", "no/such/file.jpg", np.zeros((4, 4, 2), np.uint8), 3.5])
def test_bad_input_raises_image_read_error(bad):
    with pytest.raises(ImageReadError):
        facepoints.detect(bad)


NO_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is not installed here")
sys.meta_path.insert(0, NoTorch())
import importlib.util
importlib.util.find_spec = (lambda find: lambda name, *a: None if name.split(".")[0] == "torch" else find(name, *a))(
    importlib.util.find_spec
)
from facepoints.cli.main import main
code = main(sys.argv[1:])
assert "torch" not in sys.modules, "torch was imported"
sys.exit(code)
"""


@pytest.mark.slow
def test_detection_runs_without_torch(tmp_path):
    """The install without the train extra: detection, landmarks and measures on onnxruntime alone."""
    import json
    import subprocess
    import sys

    args = ["detect", str(sample_image_path()), "--out", str(tmp_path), "--no-progress", "--pose", "--eyes"]
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (face,) = json.loads((tmp_path / "astronaut.landmarks.json").read_text())["faces"]
    assert len(face["points"]) == 68 and "eyes" in face and "pose" in face


def test_a_stale_export_is_never_used_silently(tmp_path, caplog):
    import shutil

    from facepoints.resources import resolve_model_path

    source = resolve_model_path("fast")
    for suffix in (".pt", ".onnx", ".int8.onnx"):
        shutil.copy(source.with_name(source.name.replace(".pt", suffix)), tmp_path / f"m{suffix}")
    assert Predictor(tmp_path / "m.pt").backend == "int8"
    with open(tmp_path / "m.pt", "ab") as fh:  # the checkpoint changes (a retrain): its exports are stale
        fh.write(b"\0")
    with pytest.raises(ValueError, match="stale"):
        Predictor(tmp_path / "m.pt", backend="int8")
    # an ONNX export alone is a model: it describes itself
    assert Predictor(tmp_path / "m.int8.onnx").layout.name == "ibug68"
