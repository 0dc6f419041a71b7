"""Thread settings of inference (issue 24): onnxruntime sessions do not spin, folder runs decode and
detect on several reader threads with OpenCV's pool at one thread, and give the same records in the
same order as with one reader; ``facepoints detect FOLDER`` runs the model on one thread."""

from __future__ import annotations

import json
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import face, save

from facepoints.cli.detect import folder_threads
from facepoints.detection import Detections, FaceDetector
from facepoints.files import RESULTS_NAME, _reader_count, detect_files
from facepoints.landmarker import FaceLandmarker


class CentreDetector(FaceDetector):
    """One face in the middle of any image, found in 20 ms (so that every reader gets images); notes
    the threads it ran on and OpenCV's thread count."""

    thread_safe = True

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()
        self.opencv_threads: set[int] = set()
        self.lock = threading.Lock()

    def detect(self, image: np.ndarray) -> Detections:
        with self.lock:
            self.threads.add(threading.current_thread().name)
            self.opencv_threads.add(cv2.getNumThreads())
        time.sleep(0.02)
        h, w = image.shape[:2]
        return Detections(np.array([[w / 4, h / 4, 3 * w / 4, 3 * h / 4]], np.float32), np.array([0.9], np.float32))


class SerialDetector(CentreDetector):
    """The same, declared unsafe to call from several threads at once."""

    thread_safe = False


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for k in range(12):
        save(folder / f"f{k:02d}.png", face(k))
    (folder / "bad.png").write_bytes(b"not an image")
    return folder


def test_onnx_sessions_do_not_spin():
    backend = FaceLandmarker(model="fast", threads=2).predictor.engine
    options = backend.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"


def test_reader_threads_give_the_records_of_one_reader_in_order(tmp_path, folder):
    before = cv2.getNumThreads()
    records = {}
    for readers in (1, 3):
        detector = CentreDetector()
        landmarker = FaceLandmarker(detector, "fast", threads=1)
        results = list(detect_files([folder], landmarker, tmp_path / str(readers), progress=False, readers=readers))
        assert [r.path for r in results] == sorted(str(p) for p in folder.iterdir())
        assert len(detector.threads) == readers  # each reader thread detected some images
        assert detector.opencv_threads == {1}
        lines = (tmp_path / str(readers) / RESULTS_NAME).read_text().splitlines()
        records[readers] = [json.loads(line) for line in lines]
    assert cv2.getNumThreads() == before  # OpenCV's pool is given back as it was
    assert records[1] == records[3]
    assert sum("error" in r for r in records[3]) == 1


def test_a_detector_not_declared_thread_safe_gets_one_reader():
    assert _reader_count(FaceLandmarker(SerialDetector(), "fast"), 4) == 1
    assert _reader_count(FaceLandmarker(CentreDetector(), "fast"), 4) == 4
    assert _reader_count(FaceLandmarker(CentreDetector(), "fast"), None) >= 1


def test_cli_runs_the_model_on_one_thread_for_folders(tmp_path, folder):
    photo = save(tmp_path / "one.png", face(0))
    assert folder_threads(None, [str(folder)]) == 1
    assert folder_threads(None, [str(photo), str(folder)]) == 1
    assert folder_threads(None, [str(photo)]) is None  # one photo: all cores for its faces
    assert folder_threads(3, [str(folder)]) == 3
