"""Peer runner: dlib's 68-point shape predictor on a benchmark job.

Runs inside its own virtual environment (see README.md beside this file) and does not
import facepoints, so the benchmark can run dlib on exactly the images and boxes it gives
our own model:

    python dlib_peer.py --job JOB.json --out RESULT.json [--threads 1]
    python dlib_peer.py --calibrate [--data ../shared/data]

Mode "detect" runs dlib's HOG face detector (upsample 1) and then the shape predictor on
every face it finds. Mode "boxes" takes tight boxes around ground-truth landmarks, turns
each into the box dlib's detector would give for that face (``CALIBRATION``) and runs
only the shape predictor. ``--calibrate`` re-measures ``CALIBRATION`` on the training sets.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# peer_common sets the thread limits, which must be in the environment before the native libraries load.
import peer_common

# isort: split
import dlib
import face_recognition_models
import numpy as np

UPSAMPLE = 1

# Median mapping from the tight box around the 68 true points (0-based) to dlib's HOG detector
# box for the same face: centre shift (dx, dy) as fractions of the landmark box's width and
# height, and size ratios (sx, sy). Measured with `--calibrate` on every 5th image of
# udacity-68/training, 300w/lfpw_train and 300w/helen_train (detections matched to the
# landmark box at IoU >= 0.3; medians over the 994 matched faces of 1,028 pooled; per set
# dx 0 to -0.02, dy -0.10 to -0.105 except -0.054 on HELEN, sx 1.03-1.05, sy 1.06).
CALIBRATION = {"dx": 0.0, "dy": -0.1, "sx": 1.0339, "sy": 1.0594}


def rect_to_box(rect: dlib.rectangle) -> list[int]:
    """Return a dlib rectangle as [left, top, right, bottom]."""
    return [rect.left(), rect.top(), rect.right(), rect.bottom()]


def box_to_rect(box: Sequence[float]) -> dlib.rectangle:
    """Round an (x1, y1, x2, y2) box to a dlib rectangle."""
    x1, y1, x2, y2 = (round(value) for value in box)
    return dlib.rectangle(x1, y1, x2, y2)


class DlibPeer:
    """dlib's HOG face detector and 68-point shape predictor, timed separately."""

    def __init__(self) -> None:
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
        self.landmark_seconds = 0.0
        self.landmark_faces = 0

    def detect(self, image: np.ndarray) -> list[dlib.rectangle]:
        """Return the HOG detector's face rectangles."""
        return list(self.detector(image, UPSAMPLE))

    def detect_boxes(self, image: np.ndarray) -> list[peer_common.Box]:
        """Return the HOG detector's face boxes as (left, top, right, bottom)."""
        return [(rect.left(), rect.top(), rect.right(), rect.bottom()) for rect in self.detect(image)]

    def landmarks(self, image: np.ndarray, rect: dlib.rectangle) -> list[list[int]]:
        """Run the shape predictor in one rectangle; return its 68 (x, y) points."""
        start = time.perf_counter()
        shape = self.predictor(image, rect)
        self.landmark_seconds += time.perf_counter() - start
        self.landmark_faces += 1
        return [[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)]

    def run_image(self, image: np.ndarray, mode: str, boxes: Sequence[Sequence[float]]) -> list[dict[str, Any]]:
        """Return the faces found ("detect") or one face per given landmark box ("boxes")."""
        if mode == "detect":
            rects = self.detect(image)
        else:
            rects = [box_to_rect(peer_common.to_detector_box(box, CALIBRATION)) for box in boxes]
        return [{"box": rect_to_box(rect), "points": self.landmarks(image, rect)} for rect in rects]


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run every image of a job and return the result document."""
    mode = peer_common.job_mode(job)
    peer = DlibPeer()
    images = peer_common.run_images(job, lambda image, boxes: peer.run_image(image, mode, boxes))
    return peer_common.result_document("dlib", mode, images, peer.landmark_seconds, peer.landmark_faces)


def calibrate(data: Path, step: int) -> None:
    """Re-measure and print ``CALIBRATION`` with dlib's HOG detector."""
    peer_common.measure_calibration(DlibPeer().detect_boxes, data, step)


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    peer_common.main(__doc__.splitlines()[0], run_job, calibrate, argv)


if __name__ == "__main__":
    main()
