"""OpenCV's frontal-face Haar cascade (Viola & Jones 2001; Lienhart's), as in the Udacity "P1 Facial Keypoints" project.

The XML ships with the opencv-python(-headless) 4.x wheels (``cv2.data.haarcascades``);
5.0 wheels do not, hence the ``<5`` pin. Scores are the cascade's level weights.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facepoints.detection.base import DEFAULT_MIN_FACE, BoxCalibration, Detections, FaceDetector, register_detector

CASCADE = "haarcascade_frontalface_default.xml"


def _cascade_path() -> Path | None:
    data = getattr(cv2, "data", None)
    path = Path(data.haarcascades) / CASCADE if data is not None else None
    return path if path is not None and path.is_file() else None


@register_detector("haar")
class HaarDetector(FaceDetector):
    max_side = 1024
    tile = 1024
    smallest_face = 44.0  # its minimum window below (1/20 of a 1024 px side) is about a 44 px landmark box
    score_threshold = 0.0
    calibration = BoxCalibration(dx=0.005, dy=0.164, sx=0.860, sy=0.831)  # benchmarks/detectors.py --calibrate

    @classmethod
    def available(cls) -> bool:
        return _cascade_path() is not None

    @classmethod
    def missing_reason(cls) -> str:
        return f"{CASCADE} not found in cv2.data.haarcascades (install opencv-python-headless<5)"

    def __init__(
        self,
        score_threshold: float | None = None,
        min_face: float | None = DEFAULT_MIN_FACE,
        min_neighbors: int = 5,
        any_angle: str = "auto",
    ) -> None:
        super().__init__(score_threshold, min_face, any_angle)
        self.cascade = cv2.CascadeClassifier(str(_cascade_path()))
        self.min_neighbors = min_neighbors

    def _detect(self, image: np.ndarray) -> Detections:
        grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        min_size = max(20, min(image.shape[:2]) // 20)
        rects, _, weights = self.cascade.detectMultiScale3(
            grey, scaleFactor=1.1, minNeighbors=self.min_neighbors, minSize=(min_size, min_size), outputRejectLevels=True
        )
        if len(rects) == 0:
            return Detections.empty()
        rects = np.asarray(rects, np.float64)
        scores = np.asarray(weights, np.float64).reshape(-1)
        keep = scores >= self.score_threshold
        boxes = np.concatenate([rects[:, :2] - 0.5, rects[:, :2] + rects[:, 2:] - 0.5], axis=1)
        return Detections(boxes[keep], scores[keep])
