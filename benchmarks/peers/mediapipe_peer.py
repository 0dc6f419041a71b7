"""Peer runner: MediaPipe FaceMesh, reduced to the iBUG 68 points, on a benchmark job.

Runs inside its own virtual environment (see README.md beside this file) and does not
import facepoints, so the benchmark can run FaceMesh on exactly the images and boxes it
gives our own model:

    python mediapipe_peer.py --job JOB.json --out RESULT.json [--threads 1]
    python mediapipe_peer.py --calibrate [--data ../shared/data]

Mode "detect" runs FaceMesh (static images, refined landmarks, up to 10 faces) with its own
internal face detector. Mode "boxes" takes tight boxes around ground-truth landmarks, turns
each into the box MediaPipe's short-range face detector would give for that face
(``CALIBRATION``), crops a square of ``CROP_SCALE`` times that box's longer side around it
and runs FaceMesh (one face) on the crop. ``--calibrate`` re-measures ``CALIBRATION`` on
the training sets and prints the training error of candidate crop scales.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# peer_common sets the thread limits, which must be in the environment before the native libraries load.
# MediaPipe's TFLite/XNNPACK inference uses one thread on desktop Linux.
import peer_common

# Quieter native logging, likewise set before the native libraries load.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# isort: split
import cv2
import mediapipe as mp
import numpy as np

cv2.setNumThreads(peer_common.THREADS)

MAX_FACES = 10
CANDIDATE_CROP_SCALES = (1.5, 2.0, 2.5, 3.0)

# For each iBUG 68 point (0-based, in order), the FaceMesh points whose mean gives it. This
# is the published correspondence of the PeizhiYan/Mediapipe_2_Dlib_Landmarks project
# (mp2dlib.py); it is approximate on the jaw.
MESH_TO_IBUG68: tuple[tuple[int, ...], ...] = (
    # jaw 0-16
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,),
    (400,), (379,), (365,), (397, 288), (361,), (323,), (454,), (356,),
    # eyebrows 17-26
    (70,), (63,), (105,), (66,), (107,), (336,), (296,), (334,), (293,), (300,),
    # nose 27-35
    (168, 6), (197, 195), (5,), (4,), (75,), (97,), (2,), (326,), (305,),
    # eyes 36-47
    (33,), (160,), (158,), (133,), (153,), (144,), (362,), (385,), (387,), (263,), (373,), (380,),
    # outer lips 48-59
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    # inner lips 60-67
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)  # fmt: skip

# Median mapping from the tight box around the 68 true points (0-based) to the box of
# MediaPipe's short-range face detector (the BlazeFace model FaceMesh runs internally) for the
# same face: centre shift (dx, dy) as fractions of the landmark box's width and height, and
# size ratios (sx, sy). Measured with `--calibrate` on every 5th image of udacity-68/training,
# 300w/lfpw_train and 300w/helen_train (detections matched to the landmark box at IoU >= 0.3;
# medians over all 1,028 faces, every one matched; per set dx 0.004 to 0.015, dy -0.04 to
# -0.07, sx and sy 1.02 to 1.09).
CALIBRATION = {"dx": 0.01, "dy": -0.0474, "sx": 1.038, "sy": 1.0735}
# Side of the square crop given to FaceMesh, in units of the converted box's longer side,
# chosen on the same training images (box-mode NME printed by `--calibrate`: 1.5 -> 5.76 %
# with 2 faces not found, 2.0 -> 5.97 %, 2.5 -> 5.94 %, 3.0 -> 5.72 %; medians all 5.2 %).
# 2.0 finds every face and keeps neighbouring faces out of the crop better than 3.0.
CROP_SCALE = 2.0


def square_crop(image: np.ndarray, box: Sequence[float], scale: float) -> tuple[np.ndarray, int, int]:
    """Cut a square of ``scale`` times the box's longer side centred on the box.

    Parts outside the image are black. Returns the crop and its top-left corner (x, y) in
    the image.
    """
    side = max(1, round(scale * max(box[2] - box[0], box[3] - box[1])))
    left = round((box[0] + box[2] - side) / 2)
    top = round((box[1] + box[3] - side) / 2)
    crop = np.zeros((side, side, 3), dtype=np.uint8)
    height, width = image.shape[:2]
    x1, y1 = max(left, 0), max(top, 0)
    x2, y2 = min(left + side, width), min(top + side, height)
    if x2 > x1 and y2 > y1:
        crop[y1 - top : y2 - top, x1 - left : x2 - left] = image[y1:y2, x1:x2]
    return crop, left, top


class MediaPipePeer:
    """MediaPipe FaceMesh with its points reduced to the iBUG 68; times the FaceMesh calls."""

    def __init__(self, max_faces: int) -> None:
        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, refine_landmarks=True, max_num_faces=max_faces
        )
        self.landmark_seconds = 0.0
        self.landmark_faces = 0

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self.mesh.close()

    def mesh_points(self, image: np.ndarray) -> list[np.ndarray]:
        """Run FaceMesh on an RGB image; return each face's mesh points in pixels (N x 2)."""
        start = time.perf_counter()
        result = self.mesh.process(image)
        self.landmark_seconds += time.perf_counter() - start
        height, width = image.shape[:2]
        return [
            np.array([[point.x * width, point.y * height] for point in face.landmark])
            for face in result.multi_face_landmarks or []
        ]

    def detect(self, image: np.ndarray) -> list[dict[str, Any]]:
        """Every face FaceMesh finds; its box is the extent of its mesh points."""
        faces = self.mesh_points(image)
        self.landmark_faces += len(faces)
        return [
            {"box": [*mesh.min(axis=0).tolist(), *mesh.max(axis=0).tolist()], "points": to_ibug68(mesh)}
            for mesh in faces
        ]

    def in_box(
        self, image: np.ndarray, landmark_box: Sequence[float], calibration: dict[str, float], crop_scale: float
    ) -> dict[str, Any]:
        """The face in a tight landmark box, found by FaceMesh in a square crop around it."""
        box = peer_common.to_detector_box(landmark_box, calibration)
        crop, left, top = square_crop(image, box, crop_scale)
        faces = self.mesh_points(crop)
        self.landmark_faces += 1
        points = to_ibug68(faces[0] + (left, top)) if faces else None
        return {"box": list(box), "points": points}

    def run_image(self, image: np.ndarray, mode: str, boxes: Sequence[Sequence[float]]) -> list[dict[str, Any]]:
        """Return the faces found ("detect") or one face per given landmark box ("boxes")."""
        if mode == "detect":
            return self.detect(image)
        return [self.in_box(image, box, CALIBRATION, CROP_SCALE) for box in boxes]


def to_ibug68(mesh: np.ndarray) -> list[list[float]]:
    """Reduce FaceMesh points (N x 2, pixels) to the 68 iBUG points."""
    return [mesh[list(indices)].mean(axis=0).tolist() for indices in MESH_TO_IBUG68]


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run every image of a job and return the result document."""
    mode = peer_common.job_mode(job)
    peer = MediaPipePeer(MAX_FACES if mode == "detect" else 1)
    if job["images"]:
        # The graph's first call costs about 20 ms more than later ones: keep it untimed.
        peer.mesh.process(peer_common.load_rgb(job["images"][0]["path"]))
    images = peer_common.run_images(job, lambda image, boxes: peer.run_image(image, mode, boxes))
    peer.close()
    return peer_common.result_document("mediapipe", mode, images, peer.landmark_seconds, peer.landmark_faces)


def short_range_boxes(detector: Any, image: np.ndarray) -> list[peer_common.Box]:
    """Face boxes, in pixels, of a MediaPipe ``FaceDetection`` (short-range model)."""
    height, width = image.shape[:2]
    boxes = []
    for detection in detector.process(image).detections or []:
        box = detection.location_data.relative_bounding_box
        x1, y1 = box.xmin * width, box.ymin * height
        boxes.append((x1, y1, x1 + box.width * width, y1 + box.height * height))
    return boxes


def crop_scale_errors(calibration: dict[str, float], data: Path, step: int) -> None:
    """Print box-mode training error (NME, outer-eye-corner distance) for each crop scale."""
    for scale in CANDIDATE_CROP_SCALES:
        peer = MediaPipePeer(1)
        errors, missed = [], 0
        for _, path, points in peer_common.training_samples(data, step):
            face = peer.in_box(peer_common.load_rgb(path), peer_common.landmark_box(points), calibration, scale)
            if face["points"] is None:
                missed += 1
                continue
            error = np.linalg.norm(np.asarray(face["points"]) - points, axis=1).mean()
            errors.append(error / np.linalg.norm(points[36] - points[45]))
        peer.close()
        print(
            f"crop scale {scale}: NME {100 * np.mean(errors):.2f} % (median {100 * np.median(errors):.2f} %),"
            f" {missed} of {len(errors) + missed} faces not found"
        )


def calibrate(data: Path, step: int) -> None:
    """Re-measure and print ``CALIBRATION`` with the short-range detector, then the crop-scale errors."""
    with mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5) as detector:
        calibration = peer_common.measure_calibration(lambda image: short_range_boxes(detector, image), data, step)
    crop_scale_errors(calibration, data, step)


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    peer_common.main(__doc__.splitlines()[0], run_job, calibrate, argv)


if __name__ == "__main__":
    main()
