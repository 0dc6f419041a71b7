"""Face detection: one interface, detectors by name. A new detector is one module plus one import here."""

from facepoints.detection import haar, yunet  # noqa: F401
from facepoints.detection.base import (
    DEFAULT_ORDER,
    BoxCalibration,
    Detections,
    FaceDetector,
    get_detector,
    list_detectors,
    register_detector,
)

__all__ = [
    "DEFAULT_ORDER",
    "BoxCalibration",
    "Detections",
    "FaceDetector",
    "get_detector",
    "list_detectors",
    "register_detector",
]
