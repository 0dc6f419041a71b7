"""Face detectors behind one interface: ``detect(image) -> Detections`` (boxes + scores).

Image-level rules live here, once for every detector: any size, any mode (callers pass RGB
uint8 from :func:`facepoints.imageio.load_image`, which handles grey, RGBA, 16-bit and EXIF
rotation), any number of faces, and no face -> empty arrays. Degenerate images (a side under
:data:`MIN_SIDE` pixels, e.g. 3000 x 1) hold no face and give empty arrays.

Small faces in large photos: the whole image is first searched at the detector's working size
(``max_side``); when faces down to ``min_face`` pixels (landmark-box width) would fall under the
smallest face the detector finds at its input (``smallest_face``), the image is searched again
at a higher resolution, in overlapping tiles of at most ``tile`` pixels a side (memory stays
bounded at any photo size), and the boxes of all passes are merged by non-maximum suppression.

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

__all__ = [
    "Detections", "FaceDetector", "register_detector", "get_detector", "list_detectors", "DEFAULT_DETECTOR",
    "DEFAULT_MIN_FACE", "MIN_SIDE", "BoxCalibration", "detector_calibration",
]  # fmt: skip

#: Faces this wide (landmark box, pixels) and wider are searched for by default, at any photo size.
DEFAULT_MIN_FACE = 40
#: Images with a side shorter than this hold no findable face.
MIN_SIDE = 8


@dataclass
class Detections:
    """Face boxes ``(K, 4)`` as ``x1, y1, x2, y2`` in image pixels, scores ``(K,)``, best first, and
    the detector's five keypoints ``(K, 5, 2)`` (right eye, left eye, nose tip, right and left
    mouth corners, of the person) where the detector gives them, else ``None``."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def select(self, keep: np.ndarray) -> Detections:
        """The detections at indices (or mask) ``keep``."""
        kps = None if self.keypoints is None else self.keypoints[keep]
        return Detections(self.boxes[keep], self.scores[keep], kps)

    def mapped(self, scale: float, dx: float = 0.0, dy: float = 0.0) -> Detections:
        """Boxes and keypoints found on a copy resized by ``scale`` whose origin sits at image pixel
        ``(dx, dy)`` (of the resized copy), mapped back to the original's pixel-centre coordinates."""

        def back(xy: np.ndarray) -> np.ndarray:
            return (xy + (dx, dy) + 0.5) / scale - 0.5

        boxes = np.asarray(self.boxes, np.float64).reshape(-1, 2, 2)
        kps = None if self.keypoints is None else back(np.asarray(self.keypoints, np.float64))
        return Detections(back(boxes).reshape(-1, 4), np.asarray(self.scores, np.float64), kps)

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        """All detections of ``parts`` in one; keypoints only if every part has them."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        kps = None if any(p.keypoints is None for p in parts) else np.concatenate([p.keypoints for p in parts])
        return cls(np.concatenate([p.boxes for p in parts]), np.concatenate([p.scores for p in parts]), kps)


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
    """Base class: subclasses implement :meth:`_detect` on an RGB image of any size; :meth:`detect`
    chooses the resolutions and tiles it sees."""

    name = "base"
    #: side of the whole-image pass, and of each tile of the small-face pass
    max_side = 1280
    tile = 1280
    #: the smallest landmark-box width (pixels at the detector's input) found reliably
    smallest_face = 24.0
    #: boxes overlapping by more than this IoU are one face (merging passes and tiles)
    nms_iou = 0.4
    calibration = BoxCalibration()
    #: landmark passes after the first that this detector's boxes need by default (each
    #: re-crops around the previous pass's points; see docs/default-model.md)
    refine_passes = 1
    #: ... given only to faces whose mean landmark confidence is below this
    refine_below = float("inf")

    def __init__(self, score_threshold: float | None = None, min_face: float | None = DEFAULT_MIN_FACE) -> None:
        """``min_face``: the narrowest face (landmark-box width, pixels) to search for; smaller
        values cost a higher-resolution pass on large photos (``None``: the whole-image pass only)."""
        if score_threshold is not None:
            self.score_threshold = score_threshold
        if min_face is not None and not min_face > 0:
            raise ValueError(f"min_face must be a positive number of pixels, got {min_face}")
        self.min_face = min_face

    def _detect(self, image: np.ndarray) -> Detections:  # pragma: no cover - interface
        raise NotImplementedError

    def scales(self, width: int, height: int) -> list[float]:
        """The resolutions searched, as scales of the image: the whole-image pass, then the
        small-face pass when ``min_face`` needs more than the first gives (at most 2x upsampling)."""
        first = min(1.0, self.max_side / max(width, height))
        if self.min_face is None:
            return [first]
        small = min(2.0, self.smallest_face / self.min_face)
        return [first, small] if small > first * 1.25 else [first]

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in an RGB uint8 image of any size, best score first."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        if min(h, w) < MIN_SIDE:
            return Detections.empty()
        first, *finer = self.scales(w, h)
        parts = [self._detect_at(image, first)]
        if finer:
            parts.append(self._detect_tiled(image, finer[0], first))
        found = Detections.concat(parts)
        if len(found) == 0:
            return Detections.empty()
        if len(parts) > 1:
            found = found.select(_nms(found.boxes, found.scores, self.nms_iou))
        boxes = found.boxes.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(-0.5, w - 0.5)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(-0.5, h - 0.5)
        order = np.argsort(-found.scores, kind="stable")
        kps = None if found.keypoints is None else found.keypoints[order].astype(np.float32)
        return Detections(boxes[order].astype(np.float32), found.scores[order].astype(np.float32), kps)

    def _detect_at(self, image: np.ndarray, scale: float) -> Detections:
        """The detector on the whole image resized by ``scale``, in original coordinates."""
        return self._detect(_resized(image, scale)).mapped(scale) if scale != 1.0 else self._detect(image).mapped(1.0)

    def _detect_tiled(self, image: np.ndarray, scale: float, coarse: float) -> Detections:
        """The detector on overlapping tiles of the image resized by ``scale``. Tiles overlap by
        twice the largest face the ``coarse`` pass may miss, so every such face lies whole in one
        tile; detections touching an inner tile edge are dropped (cut faces)."""
        big = _resized(image, scale)
        bh, bw = big.shape[:2]
        overlap = int(np.ceil(2 * self.smallest_face * scale / coarse / 0.75))  # detector boxes run taller than landmark boxes
        tile = max(self.tile, 2 * overlap)
        parts = []
        for y0 in _starts(bh, tile, overlap):
            for x0 in _starts(bw, tile, overlap):
                part = self._detect(np.ascontiguousarray(big[y0 : y0 + tile, x0 : x0 + tile]))
                if len(part):
                    th, tw = min(tile, bh - y0), min(tile, bw - x0)
                    b = part.boxes
                    cut = ((b[:, 0] < 1) & (x0 > 0)) | ((b[:, 1] < 1) & (y0 > 0))
                    cut |= ((b[:, 2] > tw - 2) & (x0 + tw < bw)) | ((b[:, 3] > th - 2) & (y0 + th < bh))
                    parts.append(part.select(~cut).mapped(scale, x0, y0))
        return Detections.concat(parts)

    def boxes(self, image: np.ndarray) -> np.ndarray:
        """Detected boxes mapped to the landmark-box convention (for the landmark model)."""
        return self.calibration.apply(self.detect(image).boxes).astype(np.float32)


def _resized(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins covering ``[0, length)`` with tiles of ``tile`` overlapping by at least ``overlap``."""
    if length <= tile:
        return [0]
    count = int(np.ceil((length - overlap) / (tile - overlap)))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes kept by OpenCV's non-maximum suppression."""
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(float).tolist(), 0.0, iou)
    return np.asarray(keep, np.int64).reshape(-1)


_DETECTORS: dict[str, Callable[..., FaceDetector]] = {}
#: The default face detector (chosen by measured recall, false positives and speed: docs/detection.md).
DEFAULT_DETECTOR = "yunet"


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


def detector_calibration(name: str) -> BoxCalibration:
    """The box calibration of a registered detector (without building it)."""
    if name not in _DETECTORS:
        raise KeyError(f"unknown face detector {name!r}; known: {', '.join(list_detectors())}")
    return _DETECTORS[name].calibration


def get_detector(name: str | None = None, **kwargs) -> FaceDetector:
    """A detector by name; ``None`` is :data:`DEFAULT_DETECTOR`. Never falls back to another one."""
    name = name or DEFAULT_DETECTOR
    if name not in _DETECTORS:
        raise KeyError(f"unknown face detector {name!r}; known: {', '.join(list_detectors())}")
    cls = _DETECTORS[name]
    if not cls.available():
        raise RuntimeError(f"face detector {name!r} cannot run here: {cls.missing_reason()}")
    return cls(**kwargs)
