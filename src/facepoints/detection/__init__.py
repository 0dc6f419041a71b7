"""Face detection: one interface, detectors by name. A new detector is one module plus one import here."""

from facepoints.detection import haar, yunet  # noqa: F401
from facepoints.detection.base import (
    ANY_ANGLE_MODES,
    DEFAULT_DETECTOR,
    DEFAULT_MIN_FACE,
    BoxCalibration,
    Detections,
    FaceDetector,
    detector_calibration,
    get_detector,
    list_detectors,
    register_detector,
)

__all__ = [
    "ANY_ANGLE_MODES", "DEFAULT_DETECTOR", "DEFAULT_MIN_FACE", "BoxCalibration", "Detections", "FaceDetector",
    "detector_calibration", "get_detector", "list_detectors", "register_detector",
]  # fmt: skip
