"""Faces at any roll: roll conventions, oriented boxes and crops, and the landmark step on turned images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facepoints.apps.align import align_face
from facepoints.apps.filters import apply_overlay
from facepoints.apps.overlays import get_overlay
from facepoints.detection import BoxCalibration
from facepoints.geometry import (
    oriented_points_box,
    points_box,
    roll_from_parts,
    snap_roll,
    square_crop_matrix,
    transform_points,
    upright_matrix,
)
from facepoints.headpose import head_pose
from facepoints.imageio import load_image
from facepoints.landmarker import FaceLandmarker, keypoint_rolls
from facepoints.layouts import IBUG68, ibug68_mean_shape
from facepoints.predict import Predictor
from facepoints.resources import sample_image_path

#: cv2.rotate codes and the roll they give an upright face
QUARTERS = [(cv2.ROTATE_90_CLOCKWISE, 90.0), (cv2.ROTATE_180, 180.0), (cv2.ROTATE_90_COUNTERCLOCKWISE, -90.0)]


def turn_points(points: np.ndarray, code: int, width: int, height: int) -> np.ndarray:
    """Pixel-centre coordinates of ``points`` after ``cv2.rotate(image, code)`` of a ``width`` x ``height`` image."""
    x, y = points[..., 0], points[..., 1]
    if code == cv2.ROTATE_90_CLOCKWISE:
        return np.stack([height - 1 - y, x], -1)
    if code == cv2.ROTATE_180:
        return np.stack([width - 1 - x, height - 1 - y], -1)
    return np.stack([y, width - 1 - x], -1)


def turned_face(roll: float) -> np.ndarray:
    """The mean 68-point shape, 100 px wide, turned clockwise on screen by ``roll`` degrees about (200, 200)."""
    shape = ibug68_mean_shape() * 50 + 200
    return transform_points(np.linalg.inv(upright_matrix((200, 200), roll)), shape).astype(np.float64)


def test_turn_points_matches_cv2_rotate():
    image = np.zeros((5, 7), np.uint8)
    image[1, 5] = 255
    for code, _ in QUARTERS:
        y, x = np.argwhere(cv2.rotate(image, code))[0]
        np.testing.assert_array_equal(turn_points(np.array([5.0, 1.0]), code, 7, 5), [x, y])


@pytest.mark.parametrize("roll", [0.0, 30.0, 90.0, 135.0, 180.0, -90.0, -45.0])
def test_roll_reads_back_from_the_eyes_and_mouth(roll):
    face = turned_face(roll)
    assert IBUG68.roll(face) == pytest.approx(roll if roll != -180 else 180, abs=0.5)
    right_eye, left_eye, mouth = face[36:42].mean(0), face[42:48].mean(0), face[[48, 54]].mean(0)
    assert float(roll_from_parts(right_eye, left_eye, mouth)) == pytest.approx(roll, abs=0.5)


def test_roll_sign_follows_image_coordinates():
    # subject's right eye on the image's left, left eye on the right, mouth below: upright
    assert float(roll_from_parts(np.array([0, 0]), np.array([10, 0]), np.array([5, 10]))) == 0
    # eyes one above the other, the left eye lower, mouth to the image's left: turned clockwise
    assert float(roll_from_parts(np.array([0, 0]), np.array([0, 10]), np.array([-10, 5]))) == 90
    assert IBUG68.has_roll


def test_snap_roll_keeps_quarter_turns_and_wraps():
    got = snap_roll(np.array([3.0, -14.0, 16.0, 80.0, 100.0, 181.0, -179.0, 270.0, -180.0]), 15.0)
    np.testing.assert_allclose(got, [0, 0, 16, 90, 90, 180, 180, -90, 180])
    assert float(snap_roll(7.0, 0.0)) == 7.0


@pytest.mark.parametrize("roll", [0.0, 25.0, 90.0, 180.0, -120.0])
def test_oriented_box_crop_shows_the_face_upright(roll):
    upright, turned = turned_face(0.0), turned_face(roll)
    box = oriented_points_box(turned, roll)
    np.testing.assert_allclose(box[2:] - box[:2], np.ptp(upright, 0), atol=1e-3)  # the upright face's size
    crop = transform_points(square_crop_matrix(box, 128, 0.25, roll), turned)
    reference = transform_points(square_crop_matrix(points_box(upright), 128, 0.25), upright)
    np.testing.assert_allclose(crop, reference, atol=1e-3)


@pytest.mark.parametrize("code,roll", QUARTERS)
def test_calibration_of_a_quarter_turned_box_turns_with_the_face(code, roll):
    calibration = BoxCalibration(dx=0.02, dy=0.128, sx=1.057, sy=0.754)
    box = np.array([[40.0, 30.0, 120.0, 140.0]])
    upright = calibration.apply(box)[0]
    corners = turn_points(box.reshape(2, 2), code, 200, 180)
    turned_box = np.concatenate([corners.min(0), corners.max(0)])[None]
    turned = calibration.apply(turned_box, np.array([roll]))[0]
    middle = turn_points((upright[:2] + upright[2:]) / 2, code, 200, 180)
    np.testing.assert_allclose((turned[:2] + turned[2:]) / 2, middle, atol=1e-6)
    np.testing.assert_allclose(turned[2:] - turned[:2], upright[2:] - upright[:2], atol=1e-6)  # face-frame size


def test_calibration_without_rolls_is_unchanged():
    calibration = BoxCalibration(dx=0.02, dy=0.128, sx=1.057, sy=0.754)
    boxes = np.array([[40.0, 30.0, 120.0, 140.0], [5.0, 6.0, 50.0, 70.0]])
    np.testing.assert_array_equal(calibration.apply(boxes, np.zeros(2)), calibration.apply(boxes))


@pytest.fixture(scope="module")
def predictor():
    """The float export: int8 activations turn the crops' last-bit rounding differences into 0.3 px."""
    return Predictor("default", refine=0, backend="onnx", threads=1)


@pytest.fixture(scope="module")
def astronaut():
    image = load_image(sample_image_path())
    found = FaceLandmarker(model="default", backend="int8", threads=1).detect(image)
    return image, found[0]


@pytest.mark.parametrize("code,roll", QUARTERS)
def test_quarter_turned_image_gives_the_same_points(predictor, astronaut, code, roll):
    image, face = astronaut
    h, w = image.shape[:2]
    box = points_box(face.points)
    (upright,) = predictor.predict(image, [box])
    turned_image = cv2.rotate(image, code)
    turned_box = oriented_points_box(turn_points(face.points, code, w, h), roll)
    (turned,) = predictor.predict(turned_image, [turned_box], rolls=[roll])
    assert turned.roll == roll
    np.testing.assert_allclose(turned.points, turn_points(upright.points, code, w, h), atol=0.05)


def test_without_upright_a_turned_face_is_lost(astronaut):
    image, face = astronaut
    h, w = image.shape[:2]
    plain = Predictor("default", refine=0, backend="int8", threads=1, upright=False)
    turned_image = cv2.rotate(image, cv2.ROTATE_180)
    box = points_box(turn_points(face.points, cv2.ROTATE_180, w, h))
    (result,) = plain.predict(turned_image, [box], rolls=[180.0])
    truth = turn_points(face.points, cv2.ROTATE_180, w, h)
    assert np.abs(result.points - truth).mean() > 10 * np.abs(face.points - face.points.round()).mean() + 5


def test_refinement_turns_the_crop_by_the_first_pass_roll(astronaut):
    """A face 40 degrees from upright, cropped upright first: the refinement reads its roll from the
    first pass's points and re-crops it upright."""
    image, face = astronaut
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -40.0, 1.0)
    turned_image = cv2.warpAffine(image, m, (w, h))
    truth = transform_points(m, face.points)
    refined = Predictor("default", refine=1, backend="int8", threads=1)
    (result,) = refined.predict(turned_image, [points_box(truth)])
    assert abs(result.roll - IBUG68.roll(truth)) < 5
    scale = np.linalg.norm(truth[45] - truth[36])
    assert np.linalg.norm(result.points - truth, axis=1).mean() / scale < 0.06


@pytest.mark.parametrize("face_roll,first_turn,passes", [(13.0, 17.0, 1), (-17.0, 0.0, 2), (40.0, 0.0, 2), (0.0, 0.0, 1)])
def test_roll_passes_run_only_while_the_crop_is_off_by_min_roll(monkeypatch, face_roll, first_turn, passes):
    """A face whose points lie within ``min_roll`` of its crop's turn is not cropped again (a crop
    turned by 17 degrees for a face at 13 is upright enough, though the two snap differently); one
    15 or more away gets one levelled pass, which settles it."""
    predictor = Predictor("default", refine=1, backend="int8", threads=1)
    predictor.refine_below = 0.0  # no face is unsure: only the roll rule adds passes
    turns = []

    def fake_pass(images, owner, boxes, rolls, flip):
        turns.append(float(rolls[0]))
        return turned_face(face_roll)[None].astype(np.float32), np.full((1, 68), 0.9, np.float32)

    monkeypatch.setattr(predictor, "_pass", fake_pass)
    (result,) = predictor.predict(np.zeros((400, 400, 3), np.uint8), [[150, 150, 250, 250]], rolls=[first_turn])
    assert len(turns) == passes
    assert turns[0] == float(snap_roll(first_turn, predictor.min_roll))
    if passes == 2:
        assert turns[1] == pytest.approx(float(snap_roll(face_roll, predictor.min_roll)), abs=0.5)
    assert abs(IBUG68.roll(result.points) - result.roll) < predictor.min_roll


def test_keypoint_rolls_and_candidate_crops(astronaut):
    image, _ = astronaut
    landmarker = FaceLandmarker(model="default", backend="int8", threads=1)
    found = landmarker.find_faces(cv2.rotate(image, cv2.ROTATE_180))
    boxes, turns = landmarker.first_crops(found)
    assert boxes.shape[:2] == turns.shape and boxes.shape[2] == 4
    assert abs(abs(float(keypoint_rolls(found.keypoints)[0])) - 180) < 30  # found upside down, read upside down


@pytest.mark.parametrize("code,roll", QUARTERS)
def test_head_pose_reads_the_roll_of_a_turned_face(astronaut, code, roll):
    image, face = astronaut
    h, w = image.shape[:2]
    upright = head_pose(face.points, (w, h))
    size = (w, h) if roll == 180 else (h, w)
    turned = head_pose(turn_points(face.points, code, w, h), size)
    assert (turned.roll - upright.roll - roll + 180) % 360 - 180 == pytest.approx(0, abs=1.0)
    assert turned.yaw == pytest.approx(upright.yaw, abs=1.0) and turned.pitch == pytest.approx(upright.pitch, abs=1.0)
    assert turned.error_px < 2 * upright.error_px + 1


@pytest.mark.parametrize("code,roll", QUARTERS)
def test_alignment_of_a_turned_face_is_upright(astronaut, code, roll):
    image, face = astronaut
    h, w = image.shape[:2]
    upright = align_face(image, face.points, 112)
    turned = align_face(cv2.rotate(image, code), turn_points(face.points, code, w, h), 112)
    np.testing.assert_allclose(turned.points, upright.points, atol=1e-3)
    assert np.abs(turned.image.astype(int) - upright.image.astype(int)).mean() < 2.0


def test_overlay_turns_with_the_face(astronaut):
    image, face = astronaut
    h, w = image.shape[:2]
    overlay = get_overlay("sunglasses")
    upright = apply_overlay(image, [face.points], overlay)
    code = cv2.ROTATE_90_CLOCKWISE
    turned = apply_overlay(cv2.rotate(image, code), [turn_points(face.points, code, w, h)], overlay)
    drawn = np.abs(upright.astype(int) - image.astype(int)).mean()
    assert (upright != image).any(axis=2).mean() > 0.005  # the overlay was drawn
    assert np.abs(cv2.rotate(upright, code).astype(int) - turned.astype(int)).mean() < 0.1 * drawn
