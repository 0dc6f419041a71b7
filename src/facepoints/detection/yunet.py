"""YuNet (Wu, Peng & Yu, "YuNet: A Tiny Millisecond-level Face Detector", 2023) through OpenCV's own
``cv2.FaceDetectorYN`` (every opencv-python wheel since 4.8), with the ONNX weights bundled in the
package: the same results on every platform that has OpenCV wheels, and nothing downloaded.

The bundled file is YuNet-n (``yunet_n_640_640.onnx`` of ShiqiYu/libfacedetection.train; its
licence is ``resources/yunet.LICENSE``), chosen over YuNet-s by the measurements in
docs/detection.md. Other YuNet ONNX files load with ``get_detector("yunet", weights=PATH)``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np

from facepoints.detection.base import DEFAULT_MIN_FACE, BoxCalibration, Detections, FaceDetector, register_detector
from facepoints.resources import resource_path

WEIGHTS = "yunet_n_640_640.onnx"


@register_detector("yunet")
class YuNetDetector(FaceDetector):
    max_side = 960
    tile = 640
    smallest_face = 20.0  # landmark-box width at the detector's input found reliably (docs/detection.md)
    score_threshold = 0.6
    calibration = BoxCalibration(dx=0.000, dy=0.128, sx=1.057, sy=0.754)  # benchmarks/detectors.py --calibrate (1,713 faces)
    # Calibrated YuNet boxes are close to the training crops: a refinement pass for every face gains
    # 0.05 NME points on Udacity test and 0.04 on AFW for twice the landmark time. The one pass
    # (the base class's refine_passes) goes only to the faces the model is unsure of (mean point
    # confidence < 0.7: 7 % of the validation split).
    refine_below = 0.7
    # YuNet finds most upside-down and sideways faces as upright ones (scores mostly 0.6-0.9, eyes on
    # the mouth), so "auto" checks the turned region of each upright face scoring under this (docs/detection.md).
    turn_below = 0.91
    thread_safe = True  # one cv2.FaceDetectorYN per thread (see __init__)

    @classmethod
    def available(cls) -> bool:
        return hasattr(cv2, "FaceDetectorYN")

    @classmethod
    def missing_reason(cls) -> str:
        return "this OpenCV has no cv2.FaceDetectorYN (install opencv-python-headless>=4.8)"

    def __init__(
        self,
        score_threshold: float | None = None,
        min_face: float | None = DEFAULT_MIN_FACE,
        weights: str | os.PathLike | None = None,
        any_angle: str = "auto",
    ) -> None:
        super().__init__(score_threshold, min_face, any_angle)
        self.weights = Path(weights) if weights is not None else resource_path(WEIGHTS)
        if not self.weights.is_file():
            raise FileNotFoundError(f"YuNet weights not found: {self.weights}")
        # cv2.FaceDetectorYN is not thread-safe: networks per thread. Each thread keeps two: one for the
        # fixed-size regions of the turn check, one for everything else, because a network set to another
        # input size re-plans its layers (on a 759 x 500 photo, a 128 x 128 call in between cost 17 ms)
        self._local = threading.local()
        self._network((320, 320))

    def _network(self, size: tuple[int, int]) -> cv2.FaceDetectorYN:
        """This thread's network for images of ``size`` (width, height), set to that size."""
        nets = getattr(self._local, "nets", None)
        if nets is None:
            nets = self._local.nets = {}
        key = "check" if size == (self.check_side, self.check_side) else "image"
        net, current = nets.get(key, (None, None))
        if net is None:
            try:
                net = cv2.FaceDetectorYN.create(str(self.weights), "", size, self.score_threshold, 0.3, 5000)
            except cv2.error as exc:
                raise ValueError(f"{self.weights}: not a YuNet ONNX model ({exc.err.strip() or exc})") from None
        elif current != size:
            net.setInputSize(size)
        nets[key] = net, size
        return net

    def _detect(self, image: np.ndarray) -> Detections:
        net = self._network((image.shape[1], image.shape[0]))
        _, faces = net.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if faces is None or len(faces) == 0:
            return Detections.empty()
        faces = np.asarray(faces, np.float64)  # x, y, w, h, 5 keypoint (x, y) pairs, score
        xywh = faces[:, :4]
        boxes = np.concatenate([xywh[:, :2] - 0.5, xywh[:, :2] + xywh[:, 2:] - 0.5], axis=1)
        return Detections(boxes, faces[:, 14], faces[:, 4:14].reshape(-1, 5, 2))
