"""Face detection at any photo size: the small-face pass (tiles + merging), degenerate images, the
bundled YuNet through cv2.FaceDetectorYN with its keypoints, and the detector registry's rules."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facepoints.detection import Detections, FaceDetector, get_detector
from facepoints.detection.base import _starts
from facepoints.imageio import load_image
from tests.conftest import ASSETS, needs_shared


class SquareDetector(FaceDetector):
    """Finds white squares, but only those at least ``smallest_face`` pixels wide in the image it is given
    (like a real detector's smallest findable face); reports each square's centre as its 5 keypoints."""

    max_side = 400
    tile = 500
    smallest_face = 20.0
    score_threshold = 0.0

    def __init__(self, min_face=None):
        super().__init__(min_face=min_face)
        self.inputs = []

    def _detect(self, image):
        self.inputs.append(image.shape[:2])
        mask = (image[:, :, 0] > 128).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        rows = [s for s in stats[1:] if min(s[2], s[3]) >= self.smallest_face]
        if not rows:
            return Detections.empty()
        xywh = np.asarray(rows, np.float64)[:, :4]
        boxes = np.concatenate([xywh[:, :2] - 0.5, xywh[:, :2] + xywh[:, 2:] - 0.5], axis=1)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        return Detections(boxes, np.full(len(boxes), 0.9), np.repeat(centres[:, None], 5, axis=1))


def squares_image(side: int, positions: list[tuple[int, int]], size=(1500, 2000)) -> np.ndarray:
    image = np.zeros((*size, 3), np.uint8)
    for x, y in positions:
        image[y : y + side, x : x + side] = 255
    return image


def test_small_face_pass_finds_each_small_face_once_in_original_coordinates():
    # 30 px squares in a 2000 px image: 8 px at the whole-image pass (max_side 400), so only the small-face
    # pass finds them; some straddle tile borders of that pass
    positions = [(x, y) for x in range(40, 1900, 233) for y in range(30, 1400, 311)]
    image = squares_image(30, positions)
    whole = SquareDetector(min_face=None)
    assert len(whole.detect(image)) == 0
    detector = SquareDetector(min_face=25)
    found = detector.detect(image)
    assert len(found) == len(positions)  # every square, none twice
    expected = np.array([[x - 0.5, y - 0.5, x + 29.5, y + 29.5] for x, y in positions])
    order = np.lexsort((found.boxes[:, 1], found.boxes[:, 0]))
    ref = np.lexsort((expected[:, 1], expected[:, 0]))
    assert np.abs(found.boxes[order] - expected[ref]).max() < 1.0
    centres = (expected[ref, :2] + expected[ref, 2:]) / 2
    assert np.abs(found.keypoints[order, 2] - centres).max() < 1.0
    assert max(max(shape) for shape in detector.inputs) <= detector.tile  # memory bounded by the tile


def test_large_faces_are_kept_once_when_both_passes_run():
    image = squares_image(400, [(500, 300)])
    found = SquareDetector(min_face=25).detect(image)
    assert len(found) == 1
    assert np.allclose(found.boxes[0], [499.5, 299.5, 899.5, 699.5], atol=3)


def test_tile_starts_cover_the_side_with_the_overlap():
    for length, tile, overlap in [(1000, 300, 50), (301, 300, 100), (5000, 960, 200), (300, 300, 10)]:
        starts = _starts(length, tile, overlap)
        assert starts[0] == 0 and starts[-1] + tile >= length
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_min_face_controls_the_resolutions_searched():
    detector = SquareDetector(min_face=None)
    assert detector.scales(4000, 3000) == [0.1]
    detector.min_face = 40
    assert detector.scales(4000, 3000) == [0.1, 0.5]
    assert detector.scales(300, 200) == [1.0]  # small photos: the whole-image pass already reaches 40 px
    with pytest.raises(ValueError, match="min_face"):
        SquareDetector(min_face=0)


@pytest.mark.parametrize("shape", [(1, 3000), (3000, 1), (2, 2), (7, 5000)])
@pytest.mark.parametrize("name", ["yunet", "haar"])
def test_degenerate_images_hold_no_face(name, shape):
    detector = get_detector(name)
    found = detector.detect(np.full((*shape, 3), 128, np.uint8))
    assert len(found) == 0 and found.boxes.shape == (0, 4)


def test_yunet_runs_through_opencv_with_the_bundled_weights_and_no_yuface():
    import importlib.util

    assert importlib.util.find_spec("yuface") is None
    detector = get_detector()
    assert detector.name == "yunet" and detector.weights.is_file()
    assert isinstance(detector._network(), cv2.FaceDetectorYN)


def test_unknown_or_corrupt_detector_weights_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a YuNet ONNX model"):
        get_detector("yunet", weights=bad)
    with pytest.raises(FileNotFoundError):
        get_detector("yunet", weights=tmp_path / "missing.onnx")


@needs_shared
@pytest.mark.parametrize("name, count", [("the_beatles.jpg", 4), ("obamas.jpg", 2), ("mona_lisa.jpg", 1)])
def test_yunet_finds_the_demo_faces_with_keypoints_on_them(name, count):
    import facepoints

    faces = facepoints.detect(ASSETS / name)
    assert len(faces) == count
    for face in faces:
        kps = face.keypoints5
        # right eye (the person's right: image left), left eye, nose tip, mouth right, mouth left
        assert np.linalg.norm(kps[0] - face.points[36:42].mean(0)) < 0.25 * np.linalg.norm(face.points[45] - face.points[36])
        assert np.linalg.norm(kps[1] - face.points[42:48].mean(0)) < 0.25 * np.linalg.norm(face.points[45] - face.points[36])
        assert np.linalg.norm(kps[3] - face.points[48]) < np.linalg.norm(kps[3] - face.points[54])


@needs_shared
def test_small_faces_in_a_large_photo_are_found_by_default():
    # the Beatles photo shrunk into a 4000 x 3000 canvas: faces about 32 px wide (landmark box)
    beatles = load_image(ASSETS / "the_beatles.jpg")
    canvas = np.full((3000, 4000, 3), 90, np.uint8)
    small = cv2.resize(beatles, None, fx=0.12, fy=0.12, interpolation=cv2.INTER_AREA)
    canvas[1000 : 1000 + small.shape[0], 1500 : 1500 + small.shape[1]] = small
    assert len(get_detector(min_face=None).detect(canvas)) < 4
    assert len(get_detector().detect(canvas)) == 4
