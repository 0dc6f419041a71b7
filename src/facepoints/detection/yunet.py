"""YuNet (Wu, Peng & Yu, "YuNet: A Tiny Millisecond-level Face Detector", 2023) run by onnxruntime,
with the ONNX weights bundled in the package: nothing downloaded, and no second inference engine.

The bundled file is YuNet-n (``yunet_n_640_640.onnx`` of ShiqiYu/libfacedetection.train, chosen over
YuNet-s by the measurements in docs/detection.md; its licence is ``resources/yunet.LICENSE``), with its
input declared free in size by ``scripts/yunet_any_size.py`` (weights and operators unchanged), as
``resources/yunet_n.onnx``. The pre- and post-processing are those of OpenCV's ``cv2.FaceDetectorYN``
(objdetect/src/face_detect.cpp), which ran it before: the image padded to a multiple of 32, the
per-cell scores, boxes and keypoints decoded on the 8, 16 and 32 px grids, and non-maximum
suppression on integer boxes, so boxes, keypoints and scores match it. onnxruntime runs the same
network in about half of OpenCV DNN's time on this project's CPUs (docs/detection.md).
Other YuNet ONNX files load with ``get_detector("yunet", weights=PATH)`` once made free in size.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from facepoints.detection.base import DEFAULT_MIN_FACE, BoxCalibration, Detections, FaceDetector, register_detector
from facepoints.ortsession import ort_session
from facepoints.resources import resource_path

WEIGHTS = "yunet_n.onnx"
STRIDES = (8, 16, 32)
OUTPUTS = [f"{name}_{stride}" for name in ("cls", "obj", "bbox", "kps") for stride in STRIDES]
NMS_IOU = 0.3  # OpenCV's FaceDetectorYN settings, which the box calibration was measured with
TOP_K = 5000
#: photos of more pixels than this hand the network's buffers back after their search (a tiny run that
#: shrinks the session's arena): otherwise a large photo's buffers stay held through the landmark step
#: and the drawing; smaller photos keep them for the next image, which saves reallocating them
RELEASE_ABOVE = 1280 * 960
SHRINK = ort.RunOptions()
SHRINK.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")


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
    thread_safe = True  # onnxruntime sessions run from several threads at once

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
        # one session per thread count: the count follows OpenCV's (cv2.setNumThreads), which folder runs
        # and Ray actors set for their threads, as they did when OpenCV's DNN ran this network
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._session()

    def _session(self) -> Any:
        """The onnxruntime session for OpenCV's current thread count (sessions run from any thread)."""
        threads = max(1, cv2.getNumThreads())
        session = self._sessions.get(threads)  # made once per thread count: no lock on the per-call path
        if session is not None:
            return session
        with self._lock:
            session = self._sessions.get(threads)
            if session is None:
                try:
                    session = ort_session(self.weights, threads)
                except ValueError as exc:
                    raise ValueError(f"{self.weights}: not a YuNet ONNX model ({exc})") from None
                shape = session.get_inputs()[0].shape
                names = {o.name for o in session.get_outputs()}
                if len(shape) != 4 or not names >= set(OUTPUTS):
                    raise ValueError(f"{self.weights}: not a YuNet ONNX model (input {shape}, outputs {sorted(names)})")
                if all(isinstance(d, int) for d in shape[2:]):
                    raise ValueError(
                        f"{self.weights}: its input size is fixed at {shape[3]} x {shape[2]}; make it free with "
                        "`python scripts/yunet_any_size.py SOURCE OUT` (weights unchanged)"
                    )
                self._sessions[threads] = session
        return session

    def detect(self, image: np.ndarray) -> Detections:
        """:meth:`FaceDetector.detect`; after a photo of more than :data:`RELEASE_ABOVE` pixels, the
        network's buffers are handed back."""
        found = super().detect(image)
        if image.shape[0] * image.shape[1] > RELEASE_ABOVE:
            self._session().run(OUTPUTS[:1], {"input": np.zeros((1, 3, 32, 32), np.float32)}, SHRINK)
        return found

    def _detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        padded_h, padded_w = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, padded_h, padded_w), np.float32)  # BGR planes, 0-255, zero padding bottom/right
        blob[0, :, :h, :w] = image[:, :, ::-1].transpose(2, 0, 1)
        outputs = dict(zip(OUTPUTS, self._session().run(OUTPUTS, {"input": blob})))
        parts = []
        for stride in STRIDES:
            cols = padded_w // stride
            cls, obj = (outputs[f"{name}_{stride}"][0, :, 0].clip(0, 1) for name in ("cls", "obj"))
            score = np.sqrt(cls * obj)
            keep = np.flatnonzero(score >= self.score_threshold)
            if len(keep) == 0:
                continue
            cell = np.stack([keep % cols, keep // cols], axis=1).astype(np.float32)  # (c, r)
            bbox, kps = outputs[f"bbox_{stride}"][0, keep], outputs[f"kps_{stride}"][0, keep].reshape(-1, 5, 2)
            centre = (cell + bbox[:, :2]) * stride
            size = np.exp(bbox[:, 2:]) * stride
            corner = centre - size / 2
            parts.append((np.concatenate([corner, size], 1), (kps + cell[:, None]) * stride, score[keep]))
        if not parts:
            return Detections.empty()
        xywh, points, scores = (np.concatenate(p) for p in zip(*parts))
        if len(scores) > 1:  # OpenCV's suppression, on boxes truncated to integers as it does
            kept = cv2.dnn.NMSBoxes(xywh.astype(np.int32).tolist(), scores.tolist(), self.score_threshold, NMS_IOU, top_k=TOP_K)
            kept = np.asarray(kept, np.int64).reshape(-1)
            xywh, points, scores = xywh[kept], points[kept], scores[kept]
        xywh = xywh.astype(np.float64)
        boxes = np.concatenate([xywh[:, :2] - 0.5, xywh[:, :2] + xywh[:, 2:] - 0.5], axis=1)
        return Detections(boxes, scores.astype(np.float64), points.astype(np.float64))
