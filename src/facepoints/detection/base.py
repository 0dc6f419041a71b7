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

Faces at any angle (``any_angle``): besides the upright image, the detector can search the image
turned by 90, 180 and 270 degrees (``cv2.rotate``: exact, no resampling), each turn with the
whole-image and small-face passes, and map its boxes and keypoints back exactly. ``"always"`` turns
the whole image every time, ``"off"`` never; ``"auto"`` (the default) checks each upright face scoring
under the detector's ``turn_below`` on its own region turned three ways, and turns the whole image
only when nothing is found upright. Unless ``"off"``, each face carries
the roll implied by the turn it was found in (docs/detection.md).

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
    "ANY_ANGLE_MODES",
    "DEFAULT_DETECTOR",
    "DEFAULT_MIN_FACE",
    "MIN_SIDE",
    "TURNS",
    "BoxCalibration",
    "Detections",
    "FaceDetector",
    "detector_calibration",
    "get_detector",
    "list_detectors",
    "register_detector",
    "unturn_points",
]  # fmt: skip

#: Faces this wide (landmark box, pixels) and wider are searched for by default, at any photo size.
DEFAULT_MIN_FACE = 40
#: Images with a side shorter than this hold no findable face.
MIN_SIDE = 8
#: ``any_angle`` modes: upright only; the turned copies too when no upright face scores ``turn_below``; always all four.
ANY_ANGLE_MODES = ("off", "auto", "always")
#: The turned copies searched besides the upright image: ``cv2.rotate`` code -> roll (degrees, see
#: :class:`Detections`) of a face that stands upright in that copy.
TURNS = {cv2.ROTATE_90_CLOCKWISE: -90.0, cv2.ROTATE_180: 180.0, cv2.ROTATE_90_COUNTERCLOCKWISE: 90.0}


def unturn_points(xy: np.ndarray, turn: int, width: int, height: int) -> np.ndarray:
    """Points ``(..., 2)`` in pixel-centre coordinates of ``cv2.rotate(image, turn)`` -> the same
    points in ``image`` (``width`` x ``height``). Exact: each pixel centre goes to a pixel centre."""
    xy = np.asarray(xy, np.float64)
    x, y = xy[..., 0], xy[..., 1]
    if turn == cv2.ROTATE_90_CLOCKWISE:
        back = (y, height - 1 - x)
    elif turn == cv2.ROTATE_180:
        back = (width - 1 - x, height - 1 - y)
    elif turn == cv2.ROTATE_90_COUNTERCLOCKWISE:
        back = (width - 1 - y, x)
    else:
        raise ValueError(f"not a cv2.rotate code: {turn!r}")
    return np.stack(back, axis=-1)


@dataclass
class Detections:
    """Face boxes ``(K, 4)`` as ``x1, y1, x2, y2`` in image pixels, scores ``(K,)``, best first, and
    the detector's five keypoints ``(K, 5, 2)`` (right eye, left eye, nose tip, right and left
    mouth corners, of the person) where the detector gives them, else ``None``.

    ``rolls`` ``(K,)`` (only when the detector searched at any angle, else ``None``): the roll of each
    face implied by the turn of the image it was found in, in degrees: the image-coordinate angle
    ``degrees(atan2(dy, dx))`` (y pointing down) of the vector from the person's right eye to their
    left eye. Upright faces have roll 0; a face turned clockwise on screen by 90 degrees has +90;
    one upside down has 180."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray | None = None
    rolls: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls, rolls: bool = False) -> Detections:
        """No face (``rolls``: with an empty roll array, as an any-angle search gives)."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), rolls=np.zeros(0, np.float32) if rolls else None)

    def select(self, keep: np.ndarray) -> Detections:
        """The detections at indices (or mask) ``keep``."""
        kps = None if self.keypoints is None else self.keypoints[keep]
        rolls = None if self.rolls is None else self.rolls[keep]
        return Detections(self.boxes[keep], self.scores[keep], kps, rolls)

    def mapped(self, scale: float, dx: float = 0.0, dy: float = 0.0) -> Detections:
        """Boxes and keypoints found on a copy resized by ``scale`` whose origin sits at image pixel
        ``(dx, dy)`` (of the resized copy), mapped back to the original's pixel-centre coordinates."""

        def back(xy: np.ndarray) -> np.ndarray:
            return (xy + (dx, dy) + 0.5) / scale - 0.5

        boxes = np.asarray(self.boxes, np.float64).reshape(-1, 2, 2)
        kps = None if self.keypoints is None else back(np.asarray(self.keypoints, np.float64))
        return Detections(back(boxes).reshape(-1, 4), np.asarray(self.scores, np.float64), kps, self.rolls)

    def unturned(self, turn: int, width: int, height: int) -> Detections:
        """Detections found upright in ``cv2.rotate(image, turn)``, mapped back into ``image``
        (``width`` x ``height``), with the roll of that turn (:data:`TURNS`). Boxes stay boxes; the
        keypoints keep their order (the person's right eye stays the right eye)."""
        corners = unturn_points(np.asarray(self.boxes, np.float64).reshape(-1, 2, 2), turn, width, height)
        boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
        kps = None if self.keypoints is None else unturn_points(self.keypoints, turn, width, height)
        return Detections(boxes, np.asarray(self.scores, np.float64), kps, np.full(len(boxes), TURNS[turn]))

    def upright(self) -> Detections:
        """These detections with roll 0 each (found in the upright image)."""
        return Detections(self.boxes, self.scores, self.keypoints, np.zeros(len(self.boxes)))

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        """All detections of ``parts`` in one; keypoints (rolls) only if every non-empty part has them;
        no detection at all gives :meth:`empty`, with rolls if every part has them."""
        with_rolls = bool(parts) and all(p.rolls is not None for p in parts)
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty(rolls=with_rolls)
        kps = None if any(p.keypoints is None for p in parts) else np.concatenate([p.keypoints for p in parts])
        rolls = None if any(p.rolls is None for p in parts) else np.concatenate([p.rolls for p in parts])
        return cls(np.concatenate([p.boxes for p in parts]), np.concatenate([p.scores for p in parts]), kps, rolls)


@dataclass(frozen=True)
class BoxCalibration:
    """landmark box centre = box centre + (dx, dy) * box size; landmark box size = box size * (sx, sy)."""

    dx: float = 0.0
    dy: float = 0.0
    sx: float = 1.0
    sy: float = 1.0

    def apply(self, boxes: np.ndarray, rolls: np.ndarray | None = None) -> np.ndarray:
        """Landmark boxes from detector boxes. With ``rolls`` (degrees, one per box), the boxes are
        axis-aligned boxes of faces of those rolls and the results are oriented boxes: the offset
        and scale apply in each face's upright frame. A quarter turn swaps the box's sides; other
        turns take the face-frame size from the box's diagonal, reading the detector's upright box
        as ``sx / sy`` times taller than wide (a square landmark box)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        size = boxes[:, 2:] - boxes[:, :2]
        middle = (boxes[:, :2] + boxes[:, 2:]) / 2
        if rolls is None or not np.any(rolls):
            centre = middle + size * (self.dx, self.dy)
            half = size * (self.sx, self.sy) / 2
            return np.concatenate([centre - half, centre + half], axis=1)
        rolls = np.asarray(rolls, np.float64).reshape(-1, 1)
        quarter = np.round(rolls / 90.0)
        size = np.where(quarter % 2 == 1, size[:, ::-1], size)
        tall = self.sx / self.sy
        width = np.sqrt((size**2).sum(1, keepdims=True) / (1 + tall**2))
        size = np.where(rolls == quarter * 90.0, size, width * (1.0, tall))
        angle = np.radians(rolls)
        cos_sin, shift = np.concatenate([np.cos(angle), np.sin(angle)], 1), size * (self.dx, self.dy)
        centre = middle + cos_sin * shift[:, :1] + cos_sin[:, ::-1] * (-1.0, 1.0) * shift[:, 1:]  # across and down axes
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
    #: ``any_angle="auto"`` checks the turned region of each upright face scoring under this
    #: (a detector that finds turned faces upright, with wrong keypoints, sets it: see docs/detection.md)
    turn_below = float("-inf")
    #: side (pixels) of the region around an unsure face as the detector sees it in ``"auto"``'s turn check
    #: (twice the face's box: the face at half of it, well above ``smallest_face``)
    check_side = 128
    #: whether one instance may be called from several threads at once (folder runs then detect in
    #: several reader threads); a subclass that keeps its state per thread says so
    thread_safe = False

    def __init__(
        self, score_threshold: float | None = None, min_face: float | None = DEFAULT_MIN_FACE, any_angle: str = "auto"
    ) -> None:
        """``min_face``: the narrowest face (landmark-box width, pixels) to search for; smaller
        values cost a higher-resolution pass on large photos (``None``: the whole-image pass only).
        ``any_angle``: when to search the image turned by 90, 180 and 270 degrees too
        (:data:`ANY_ANGLE_MODES`; ``"auto"``: the region of each face scoring under :attr:`turn_below`,
        and the whole image when no face is found upright)."""
        if score_threshold is not None:
            self.score_threshold = score_threshold
        if min_face is not None and not min_face > 0:
            raise ValueError(f"min_face must be a positive number of pixels, got {min_face}")
        if any_angle not in ANY_ANGLE_MODES:
            raise ValueError(f"any_angle must be one of {', '.join(ANY_ANGLE_MODES)}; got {any_angle!r}")
        self.min_face = min_face
        self.any_angle = any_angle

    @classmethod
    def available(cls) -> bool:
        """Whether this detector can run here (a subclass that needs more than onnxruntime and OpenCV says)."""
        return True

    @classmethod
    def missing_reason(cls) -> str:
        """What to install when :meth:`available` is false."""
        return ""

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
        """Faces in an RGB uint8 image of any size, best score first; with ``rolls`` unless
        ``any_angle`` is ``"off"``."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        if min(h, w) < MIN_SIDE:
            return Detections.empty(rolls=self.any_angle != "off")
        found = self._search(image)
        if self.any_angle != "off":
            found = self._any_angle(image, found.upright())
        if len(found) == 0:
            return Detections.empty(rolls=found.rolls is not None)
        boxes = found.boxes.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(-0.5, w - 0.5)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(-0.5, h - 0.5)
        order = np.argsort(-found.scores, kind="stable")
        kps = None if found.keypoints is None else found.keypoints[order].astype(np.float32)
        rolls = None if found.rolls is None else found.rolls[order].astype(np.float32)
        return Detections(boxes[order].astype(np.float32), found.scores[order].astype(np.float32), kps, rolls)

    def _any_angle(self, image: np.ndarray, found: Detections) -> Detections:
        """The upright detections ``found`` with the turned searches of ``any_angle`` merged in: the whole image
        turned three ways ("always", or "auto" when nothing was found upright), else (only "auto") each face
        scoring under :attr:`turn_below` checked on its own region (:meth:`_check_turns`)."""
        h, w = image.shape[:2]
        if self.any_angle == "always" or len(found) == 0:
            parts = [found, *(self._search(cv2.rotate(image, turn)).unturned(turn, w, h) for turn in TURNS)]
        else:
            unsure = np.flatnonzero(found.scores < self.turn_below)
            if len(unsure) == 0:
                return found
            checked = [self._check_turns(image, found.select([i])) for i in unsure]
            parts = [found.select(found.scores >= self.turn_below), *checked]
        found = Detections.concat(parts)
        return found.select(_nms(found.boxes, found.scores, self.nms_iou)) if len(found) else found

    def _check_turns(self, image: np.ndarray, face: Detections) -> Detections:
        """One unsure upright detection, or what the turned region around it shows better: the square region
        (twice its box's longer side, centred, padded black beyond the image) is resized to :attr:`check_side`
        and searched turned by 90, 180 and 270 degrees; the finds centred in the region that outscore the face
        replace it (three small detector calls instead of three whole-image searches; the box YuNet puts on a
        sideways face is often beside the face, so a find need not lie in it). Finds are mapped back exactly
        (offset, scale, turn), with the turn's roll; duplicates across turns are merged by the caller."""
        h, w = image.shape[:2]
        x1, y1, x2, y2 = face.boxes[0]
        side = max(MIN_SIDE, round(2 * max(x2 - x1, y2 - y1)))
        x0, y0 = (round(c - (side - 1) / 2) for c in ((x1 + x2) / 2, (y1 + y2) / 2))  # region pixels x0 .. x0 + side - 1
        region = image[max(y0, 0) : y0 + side, max(x0, 0) : x0 + side]
        pad = (max(-y0, 0), max(y0 + side - h, 0), max(-x0, 0), max(x0 + side - w, 0))
        scale = self.check_side / side
        small = _resized(cv2.copyMakeBorder(region, *pad, cv2.BORDER_CONSTANT, value=0), scale)
        n = self.check_side
        finds = Detections.concat(
            [self._detect(cv2.rotate(small, turn)).unturned(turn, n, n).mapped(scale, x0 * scale, y0 * scale) for turn in TURNS]
        )
        centres = (finds.boxes[:, :2] + finds.boxes[:, 2:]) / 2
        inside = ((centres >= (x0 - 0.5, y0 - 0.5)) & (centres <= (x0 + side - 0.5, y0 + side - 0.5))).all(axis=1)
        better = inside & (finds.scores > face.scores[0])
        return finds.select(better) if better.any() else face

    def _search(self, image: np.ndarray) -> Detections:
        """The upright search: the whole-image pass and the small-face pass, merged (not yet clipped or sorted)."""
        h, w = image.shape[:2]
        first, *finer = self.scales(w, h)
        parts = [self._detect_at(image, first)]
        if finer:
            parts.append(self._detect_tiled(image, finer[0], first))
        found = Detections.concat(parts)
        return found.select(_nms(found.boxes, found.scores, self.nms_iou)) if len(parts) > 1 and len(found) else found

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
