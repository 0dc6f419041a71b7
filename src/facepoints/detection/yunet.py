"""YuNet (Wu, Peng & Yu, "YuNet: A Tiny Millisecond-level Face Detector", 2023), through
the ``yuface`` wheel of libfacedetection (BSD licence), which compiles the model weights
into the library: nothing is downloaded. The wheel exists for CPython 3.11 on x86-64
Linux; elsewhere this detector reports itself unavailable and the default falls back.
"""

from __future__ import annotations

import importlib.util
import warnings

import cv2
import numpy as np

from facepoints.detection.base import BoxCalibration, Detections, FaceDetector, register_detector


@register_detector("yunet")
class YuNetDetector(FaceDetector):
    max_side = 960  # libfacedetection's own working limit
    score_threshold = 0.6
    calibration = BoxCalibration(dx=0.017, dy=0.144, sx=1.054, sy=0.769)  # benchmarks/detectors.py --calibrate
    # Calibrated YuNet boxes are close to the training crops: a refinement pass for every face gains
    # 0.05 NME points on Udacity test and 0.04 on AFW for twice the landmark time. The one pass
    # (the base class's refine_passes) goes only to the faces the model is unsure of (mean point
    # confidence < 0.7: 7 % of the validation split).
    refine_below = 0.7

    @classmethod
    def available(cls) -> bool:
        return importlib.util.find_spec("yuface") is not None

    @classmethod
    def missing_reason(cls) -> str:
        return "the yuface package is not installed (pip install yuface; CPython 3.11, x86-64 Linux)"

    def __init__(self, score_threshold: float | None = None) -> None:
        super().__init__(score_threshold)
        from yuface import c_detect

        self._c_detect = c_detect

    def _detect(self, image: np.ndarray) -> Detections:
        bgr = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = np.asarray(self._c_detect(bgr), dtype=np.float64)
        if result.size == 0:
            return Detections.empty()
        result = result.reshape(len(result), -1)  # score, x, y, w, h, 5 landmark (x, y) pairs, ...
        scores = result[:, 0] / 100.0
        keep = scores >= self.score_threshold
        xywh = result[keep, 1:5]
        boxes = np.concatenate([xywh[:, :2] - 0.5, xywh[:, :2] + xywh[:, 2:] - 0.5], axis=1)
        return Detections(boxes, scores[keep])
