"""Face detection at any photo size: the small-face pass (tiles + merging), degenerate images, the
bundled YuNet on onnxruntime (OpenCV's FaceDetectorYN's results) with its keypoints, the detector registry's rules, and faces
at any angle (turned copies, mapped back exactly, with their rolls)."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from facepoints.detection import Detections, FaceDetector, get_detector
from facepoints.detection.base import ANY_ANGLE_MODES, _starts, unturn_points
from facepoints.imageio import load_image
from facepoints.landmarker import sample_image_path
from conftest import ASSETS, DATA, needs_shared

#: an AFW photo whose face YuNet finds upright when turned (scores under turn_below), with wrong keypoints
AFW_STEM = "2288136183_1"


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
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
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
        assert all(b - a <= tile - overlap for a, b in itertools.pairwise(starts))


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


def test_yunet_on_onnxruntime_gives_opencvs_facedetectoryn_detections():
    """The decoding and suppression written here reproduce OpenCV's FaceDetectorYN on the same network."""
    detector = get_detector()
    assert detector.name == "yunet" and detector.weights.is_file()
    image = load_image(sample_image_path())
    for scale in (1.0, 0.55, 1.7):  # sizes that are and are not multiples of 32
        im = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ours = detector._detect(im)
        net = cv2.FaceDetectorYN.create(str(detector.weights), "", (im.shape[1], im.shape[0]), 0.6, 0.3, 5000)
        _, theirs = net.detect(cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
        assert theirs is not None and len(theirs) == len(ours) >= 1
        theirs = theirs[np.argsort(-theirs[:, 14])]
        order = np.argsort(-ours.scores)
        boxes = np.concatenate([theirs[:, :2] - 0.5, theirs[:, :2] + theirs[:, 2:4] - 0.5], axis=1)
        np.testing.assert_allclose(ours.boxes[order], boxes, atol=0.01)
        np.testing.assert_allclose(ours.keypoints[order], theirs[:, 4:14].reshape(-1, 5, 2), atol=0.01)
        np.testing.assert_allclose(ours.scores[order], theirs[:, 14], atol=1e-4)


def test_yunet_weights_of_a_fixed_input_size_are_a_clear_error(tmp_path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(get_detector().weights))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = 640, 640
    fixed = tmp_path / "fixed.onnx"
    onnx.save(model, str(fixed))
    with pytest.raises(ValueError, match="fixed at 640 x 640.*yunet_any_size.py"):
        get_detector("yunet", weights=fixed)


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
    # upright only: these small faces score under YuNet's turn_below, so "auto" would search three turns too
    assert len(get_detector(min_face=None, any_angle="off").detect(canvas)) < 4
    assert len(get_detector(any_angle="off").detect(canvas)) == 4


# Faces at any angle (issue 27): the turned copies, the exact mapping back and the rolls.

TURN_CODES = [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE]


@pytest.mark.parametrize("turn", TURN_CODES)
def test_unturn_points_maps_every_pixel_centre_of_the_turned_copy_onto_its_original_pixel(turn):
    h, w = 7, 11
    index = np.arange(h * w, dtype=np.int32).reshape(h, w)  # each pixel marked by its own number
    turned = cv2.rotate(index, turn)
    ys, xs = np.mgrid[: turned.shape[0], : turned.shape[1]]
    back = unturn_points(np.stack([xs, ys], axis=-1).astype(float), turn, w, h)
    assert np.array_equal(back, np.round(back))
    bx, by = back[..., 0].astype(int), back[..., 1].astype(int)
    assert np.array_equal(index[by, bx], turned)
    assert back.min() >= 0 and back[..., 0].max() == w - 1 and back[..., 1].max() == h - 1


def test_unturn_points_rejects_what_is_not_a_turn():
    with pytest.raises(ValueError, match="cv2.rotate"):
        unturn_points(np.zeros((1, 2)), 7, 10, 10)


class MarkerDetector(FaceDetector):
    """Finds a grey square 'face' with a red dot (the person's right eye), a green dot (left eye) and a blue
    dot (mouth), but only upright: both eyes in the top half, the right eye on the image's left. Keypoints
    are the dots' centres (right eye, left eye, then the mouth three times)."""

    max_side = 10_000
    score_threshold = 0.0

    def __init__(self, any_angle="auto"):
        super().__init__(min_face=None, any_angle=any_angle)
        self.inputs = []

    def _detect(self, image):
        self.inputs.append(image.shape[:2])
        r, g, b = (image[:, :, c].astype(int) for c in range(3))
        dots = [(r > 200) & (g < 50) & (b < 50), (g > 200) & (r < 50) & (b < 50), (b > 200) & (r < 50) & (g < 50)]
        if not all(d.any() for d in dots):
            return Detections.empty()
        ys, xs = np.nonzero(image.max(axis=2) > 0)
        box = np.array([[xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5]])
        right, left, mouth = (np.argwhere(d).mean(axis=0)[::-1] for d in dots)
        top = (box[0, 1] + box[0, 3]) / 2
        if not (right[1] < top and left[1] < top and right[0] < left[0]):
            return Detections.empty()
        return Detections(box, np.array([0.9]), np.array([[right, left, mouth, mouth, mouth]]))


def marker_image() -> np.ndarray:
    """An upright marker face (40 x 40) in a 90 x 130 image."""
    image = np.zeros((90, 130, 3), np.uint8)
    image[20:60, 50:90] = 128
    image[28:31, 58:61] = (255, 0, 0)  # the person's right eye: the image's left
    image[28:31, 78:81] = (0, 255, 0)
    image[48:51, 68:71] = (0, 0, 255)
    return image


@pytest.mark.parametrize(
    "turn, roll", [(cv2.ROTATE_90_CLOCKWISE, 90.0), (cv2.ROTATE_180, 180.0), (cv2.ROTATE_90_COUNTERCLOCKWISE, -90.0)]
)
def test_a_turned_face_is_found_with_its_roll_and_exact_keypoints(turn, roll):
    image = cv2.rotate(marker_image(), turn)  # a face turned clockwise on screen by 90 degrees has roll +90
    assert len(MarkerDetector(any_angle="off").detect(image)) == 0
    found = MarkerDetector(any_angle="auto").detect(image)
    assert len(found) == 1 and found.rolls.tolist() == [roll]
    right_eye, left_eye = found.keypoints[0, :2]
    assert np.array_equal(right_eye, np.argwhere(image[:, :, 0] > 200).mean(axis=0)[::-1])  # on the red dot
    assert np.array_equal(left_eye, np.argwhere(image[:, :, 1] > 200).mean(axis=0)[::-1])
    dx, dy = left_eye - right_eye
    assert np.degrees(np.arctan2(dy, dx)) == pytest.approx(roll)  # the roll convention, from the keypoints
    ys, xs = np.nonzero(image.max(axis=2))
    assert found.boxes[0].tolist() == [xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5]


def test_off_searches_upright_only_and_auto_turns_only_when_the_upright_search_finds_nothing():
    upright, turned = marker_image(), cv2.rotate(marker_image(), cv2.ROTATE_180)
    off, auto, always = MarkerDetector("off"), MarkerDetector("auto"), MarkerDetector("always")
    found = off.detect(upright)
    assert len(found) == 1 and found.rolls is None  # "off" is the upright search of old, no rolls
    assert len(off.detect(turned)) == 0 and off.inputs == [(90, 130), (90, 130)]
    found = auto.detect(upright)
    assert auto.inputs == [(90, 130)] and found.rolls.tolist() == [0.0]
    assert len(auto.detect(np.zeros((90, 130, 3), np.uint8))) == 0
    assert sorted(auto.inputs[1:]) == [(90, 130), (90, 130), (130, 90), (130, 90)]  # upright, then three turns
    found = always.detect(upright)
    assert len(always.inputs) == 4 and len(found) == 1 and found.rolls.tolist() == [0.0]


def test_auto_turns_when_no_upright_face_scores_turn_below():
    detector = MarkerDetector("auto")
    detector.turn_below = 0.95  # the marker scores 0.9
    assert len(detector.detect(marker_image())) == 1 and len(detector.inputs) == 4


class UnsureMarkerDetector(MarkerDetector):
    """The marker detector that also 'finds' a turned marker face upright, unsure (score 0.5), with its
    keypoints all on the box's centre: how YuNet sees a face lying on its side."""

    turn_below = 0.8

    def _detect(self, image):
        found = super()._detect(image)
        ys, xs = np.nonzero(image.max(axis=2) > 0)
        if len(found) or len(xs) == 0:
            return found
        box = np.array([[xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5]])
        centre = (box[0, :2] + box[0, 2:]) / 2
        return Detections(box, np.array([0.5]), np.tile(centre, (1, 5, 1)))


@pytest.mark.parametrize("check_side, atol", [(80, 0.0), (160, 0.3)])  # the region at its own size, and doubled
def test_auto_checks_an_unsure_upright_face_on_its_region_turned_and_maps_the_better_find_back(check_side, atol):
    image = np.ascontiguousarray(cv2.rotate(marker_image(), cv2.ROTATE_180)[20:, 30:])  # near the corner: padded
    detector = UnsureMarkerDetector("auto")
    detector.check_side = check_side  # the 40-pixel face's region is 80 pixels a side
    found = detector.detect(image)
    assert detector.inputs == [(70, 100)] + [(check_side, check_side)] * 3  # the upright search, then 3 small turns
    assert len(found) == 1 and found.rolls.tolist() == [180.0] and found.scores[0] == pytest.approx(0.9)
    for k, channel in enumerate([0, 1]):  # the eyes on the red and green dots of the photo
        centre = np.argwhere(image[:, :, channel] > 200).mean(axis=0)[::-1]
        np.testing.assert_allclose(found.keypoints[0, k], centre, atol=atol + 1e-9)
    ys, xs = np.nonzero(image.max(axis=2))
    np.testing.assert_allclose(found.boxes[0], [xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5], atol=2 * atol + 1e-9)


def test_auto_keeps_an_unsure_face_no_turn_explains_better_and_skips_sure_ones():
    blank = np.zeros((90, 130, 3), np.uint8)
    blank[20:60, 50:90] = 128  # a face-like square with no eyes: found unsure upright, and in no turn
    detector = UnsureMarkerDetector("auto")
    found = detector.detect(blank)
    assert len(found) == 1 and found.scores.tolist() == [0.5] and found.rolls.tolist() == [0.0]
    assert len(detector.inputs) == 4
    sure = UnsureMarkerDetector("auto")
    assert len(sure.detect(marker_image())) == 1 and sure.inputs == [(90, 130)]  # 0.9 >= turn_below: no check


def test_detections_carry_rolls_through_select_mapped_and_concat():
    a = Detections(np.zeros((2, 4)), np.array([0.9, 0.8]), rolls=np.array([0.0, 90.0]))
    b = Detections(np.ones((1, 4)), np.array([0.7]), rolls=np.array([180.0]))
    assert Detections.concat([a, b]).rolls.tolist() == [0.0, 90.0, 180.0]
    assert Detections.concat([a, Detections.empty(rolls=True), b]).select([2, 0]).rolls.tolist() == [180.0, 0.0]
    assert a.mapped(0.5, 3, 4).rolls.tolist() == [0.0, 90.0]
    assert Detections.concat([Detections.empty(rolls=True)]).rolls.shape == (0,)
    assert Detections.concat([a, Detections(np.ones((1, 4)), np.array([0.7]))]).rolls is None  # a part without rolls
    assert Detections.empty().rolls is None


@pytest.mark.parametrize("name", ["yunet", "haar"])
def test_any_angle_modes_are_checked(name):
    assert ANY_ANGLE_MODES == ("off", "auto", "always")
    assert get_detector(name).any_angle == "auto"
    assert get_detector(name, any_angle="always").any_angle == "always"
    with pytest.raises(ValueError, match="any_angle must be one of off, auto, always"):
        get_detector(name, any_angle="sideways")


def afw_face(stem: str) -> tuple[np.ndarray, np.ndarray]:
    """An AFW photo and its 68 points (0-based pixel centres)."""
    from facepoints.datasets import read_pts

    folder = DATA / "300w/afw"
    return load_image(folder / f"{stem}.jpg"), read_pts(folder / f"{stem}.pts") - 1.0


@needs_shared
@pytest.mark.parametrize(
    "turn, inverse, roll",
    [
        (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE, 90.0),
        (cv2.ROTATE_180, cv2.ROTATE_180, 180.0),
        (cv2.ROTATE_90_COUNTERCLOCKWISE, cv2.ROTATE_90_CLOCKWISE, -90.0),
    ],
)
def test_yunet_finds_a_turned_face_in_auto_with_its_keypoints_on_the_eyes(turn, inverse, roll):
    image, points = afw_face(AFW_STEM)
    turned = cv2.rotate(image, turn)
    th, tw = turned.shape[:2]
    points = unturn_points(points, inverse, tw, th)  # the labels, turned with the photo
    right_eye, left_eye = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    tolerance = 0.25 * np.linalg.norm(left_eye - right_eye)
    upright = get_detector(any_angle="off").detect(turned)  # YuNet alone finds the turned face, eyes misplaced
    assert len(upright) == 1 and upright.scores[0] < 0.9
    assert np.linalg.norm(upright.keypoints[0, 1] - left_eye) > tolerance
    found = get_detector().detect(turned)
    assert len(found) == 1 and found.rolls[0] == roll and found.scores[0] > 0.9
    assert np.linalg.norm(found.keypoints[0, 0] - right_eye) < tolerance
    assert np.linalg.norm(found.keypoints[0, 1] - left_eye) < tolerance
    # the face found in the turned region is the upright photo's face: all five points agree (the region is
    # searched at 128 pixels, coarser than the photo, so to a fraction of the eye distance, not exactly)
    reference = get_detector(any_angle="off").detect(image)
    near = np.linalg.norm(found.keypoints[0] - unturn_points(reference.keypoints[0], inverse, tw, th), axis=1)
    assert near.max() < tolerance


@needs_shared
def test_any_angle_off_and_auto_agree_on_an_upright_photo():
    image = load_image(ASSETS / "obamas.jpg")
    off, auto = get_detector(any_angle="off").detect(image), get_detector().detect(image)
    assert off.rolls is None and auto.rolls.tolist() == [0.0, 0.0]
    for a, b in [(off.boxes, auto.boxes), (off.scores, auto.scores), (off.keypoints, auto.keypoints)]:
        assert np.array_equal(a, b)


@needs_shared
@pytest.mark.slow
def test_the_upside_down_beatles_are_found_upright_by_auto():
    beatles = cv2.rotate(load_image(ASSETS / "the_beatles.jpg"), cv2.ROTATE_180)
    found = get_detector().detect(beatles)
    assert len(found) == 4 and found.rolls.tolist() == [180.0] * 4
    assert (found.scores > 0.9).all()  # the upright pass's upside-down faces (scores about 0.85-0.89) are gone
