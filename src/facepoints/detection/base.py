"""Face detectors behind one interface: ``detect(image) -> Detections`` (boxes + scores).

Image-level rules live here, once for every detector: any size (images larger than the
detector's working size are downscaled for detection and the boxes mapped back), any
mode (callers pass RGB uint8 from :func:`facepoints.imageio.load_image`, which handles
grey, RGBA, 16-bit and EXIF rotation), any number of faces, and no face -> empty arrays.

Each detector also carries a *box calibration*: the median offset and scale that map its
boxes onto the box of the 68 landmarks, measured on training data
(``benchmarks/detectors.py --calibrate``), so the landmark model's first crop matches
the crops it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Detections", "FaceDetector", "register_detector", "get_detector", "list_detectors", "DEFAULT_ORDER"]


@dataclass
class Detections:
    """Face boxes ``(K, 4)`` as ``x1, y1, x2, y2`` in image pixels and scores ``(K,)``, best first."""

    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))


@dataclass(frozen=True)
class BoxCalibration:
    """landmark box centre = box centre + (dx, dy) * box size; landmark box size = box size * (sx, sy)."""

    dx: float = 0.0
    dy: float = 0.0
    sx: float = 1.0
    sy: float = 1.0

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        size = boxes[:, 2:] - boxes[:, :2]
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + size * (self.dx, self.dy)
        half = size * (self.sx, self.sy) / 2
        return np.concatenate([centre - half, centre + half], axis=1)


class FaceDetector:
    """Base class: subclasses implement :meth:`_detect` on an image no larger than ``max_side``."""

    name = "base"
    max_side = 1280
    calibration = BoxCalibration()
    #: landmark passes after the first that this detector's boxes need by default (each
    #: re-crops around the previous pass's points; see docs/default-model.md)
    refine_passes = 1
    #: ... given only to faces whose mean landmark confidence is below this
    refine_below = float("inf")

    def __init__(self, score_threshold: float | None = None) -> None:
        if score_threshold is not None:
            self.score_threshold = score_threshold

    def _detect(self, image: np.ndarray) -> Detections:  # pragma: no cover - interface
        raise NotImplementedError

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in an RGB uint8 image of any size, best score first."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = image if scale == 1.0 else cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        found = self._detect(np.ascontiguousarray(small))
        if len(found) == 0:
            return Detections.empty()
        boxes = found.boxes.astype(np.float64)
        if scale != 1.0:
            boxes = (boxes + 0.5) / scale - 0.5
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(-0.5, w - 0.5)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(-0.5, h - 0.5)
        order = np.argsort(-found.scores)
        return Detections(boxes[order].astype(np.float32), found.scores[order].astype(np.float32))

    def boxes(self, image: np.ndarray) -> np.ndarray:
        """Detected boxes mapped to the landmark-box convention (for the landmark model)."""
        return self.calibration.apply(self.detect(image).boxes).astype(np.float32)


_DETECTORS: dict[str, Callable[..., FaceDetector]] = {}
#: The default is the first of these that can run here (chosen by measured recall and speed,
#: see docs/default-model.md).
DEFAULT_ORDER = ("yunet", "haar")


def register_detector(name: str) -> Callable:
    """Class decorator adding a detector to the registry (one line per new detector)."""

    def wrap(cls):
        _DETECTORS[name] = cls
        cls.name = name
        return cls

    return wrap


def list_detectors(available_only: bool = False) -> list[str]:
    """Registered detector names (optionally only those whose dependencies are installed)."""
    names = sorted(_DETECTORS)
    return [n for n in names if _DETECTORS[n].available()] if available_only else names


def get_detector(name: str | None = None, **kwargs) -> FaceDetector:
    """A detector by name; ``None`` picks the default (first available of ``DEFAULT_ORDER``)."""
    if name is None:
        name = next((n for n in DEFAULT_ORDER if n in _DETECTORS and _DETECTORS[n].available()), None)
        if name is None:
            raise RuntimeError("no face detector can run here")
    if name not in _DETECTORS:
        raise KeyError(f"unknown face detector {name!r}; known: {', '.join(list_detectors())}")
    cls = _DETECTORS[name]
    if not cls.available():
        raise RuntimeError(f"face detector {name!r} cannot run here: {cls.missing_reason()}")
    return cls(**kwargs)
