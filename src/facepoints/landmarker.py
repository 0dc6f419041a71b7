"""The main job as one small facade: faces in an image -> 68 landmarks each.

``FaceLandmarker`` joins a face detector and a landmark model; ``facepoints.detect(image)``
uses a shared default instance (the bundled model and the default detector).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from PIL import Image

from facepoints.detection import (
    DEFAULT_MIN_FACE,
    BoxCalibration,
    Detections,
    FaceDetector,
    detector_calibration,
    get_detector,
)
from facepoints.geometry import roll_from_parts
from facepoints.imageio import ImageReadError, load_image, to_rgb_uint8
from facepoints.measures import get_measure
from facepoints.predict import DEFAULT_MIN_ROLL, Predictor
from facepoints.resources import BUNDLED_MODELS, default_model_path, resolve_model_path, sample_image_path

__all__ = ["BUNDLED_MODELS", "Face", "FaceLandmarker", "default_model_path", "detect", "detect_batch", "resolve_model_path", "sample_image_path"]

@dataclass
class Face:
    """One detected face: detector box and score, and its landmarks in image pixels."""

    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float  # detector confidence
    points: np.ndarray  # (N, 2)
    point_confidence: np.ndarray  # (N,) in [0, 1]
    landmark_score: float  # mean point confidence
    layout: str
    pose: Any = None  # the measures, filled on request (FaceLandmarker.detect(pose=True)): see facepoints.measures
    eyes: Any = None
    expression: Any = None
    track_id: int | None = None  # stable identity across video frames (facepoints.tracking)
    keypoints5: np.ndarray | None = None  # (5, 2) the detector's eyes, nose tip, mouth corners; None without them

    def to_dict(self) -> dict:
        """JSON-ready, as ``resources/output.schema.json`` says: detector box, score and keypoints,
        the points rounded to 0.01 px with their confidences, and the pose, eye state and
        expression when they were asked for."""
        out = {} if self.track_id is None else {"track_id": self.track_id}
        out |= {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "keypoints5": None if self.keypoints5 is None else _xy(self.keypoints5),
            "layout": self.layout,
            "points": _xy(self.points),
            "point_confidence": [round(float(c), 4) for c in self.point_confidence],
            "landmark_score": round(float(self.landmark_score), 4),
        }
        for name in ("pose", "eyes", "expression"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.to_dict()
        return out

    def measure(self, image: np.ndarray, pose: bool = False, eyes: bool = False, expression: bool = False) -> Face:
        """Fill in head pose, eye state and expression of this face in ``image`` (RGB), through the
        measures registry (a layout without the anchors a measure needs gets a clear error)."""
        for name, wanted in (("pose", pose), ("eyes", eyes), ("expression", expression)):
            if wanted:
                setattr(self, name, get_measure(name)(self.points, image, self.layout))
        return self


def _xy(points: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2)] for x, y in points]


ImageLike = np.ndarray | Image.Image | str | os.PathLike


def as_rgb(image: ImageLike, bgr: bool = False) -> np.ndarray:
    """An RGB uint8 array from a path, a PIL image or an array of any mode (``bgr``: the array's
    colour channels are in OpenCV's order). Raises :class:`ImageReadError` for anything else."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    if not isinstance(image, (np.ndarray, Image.Image)):
        raise ImageReadError(f"expected an image path, a PIL image or an array, not {type(image).__name__}")
    rgb = to_rgb_uint8(image)
    return np.ascontiguousarray(rgb[:, :, ::-1]) if bgr and isinstance(image, np.ndarray) else rgb


class FaceLandmarker:
    """Face detector + landmark model. ``model`` is a bundled name, a checkpoint path, an ONNX export
    or a loaded PyTorch model (``facepoints.checkpoint.LoadedModel``); ``detector`` a registry name or instance (``None``: the default);
    ``min_face`` the narrowest face (landmark-box width, pixels) the detector searches for;
    ``any_angle`` when it also searches the image turned by quarter turns
    (:data:`facepoints.detection.ANY_ANGLE_MODES`); ``upright``
    turns each face's crop by its roll (from the detector's keypoints), ``min_roll`` degrees from a
    quarter turn and more (see :class:`facepoints.predict.Predictor`)."""

    def __init__(
        self,
        detector: str | FaceDetector | None = None,
        model: str | os.PathLike | Any = None,
        refine: int | None = None,
        flip: bool = False,
        backend: str = "auto",
        threads: int | None = None,
        min_face: float | None = DEFAULT_MIN_FACE,
        upright: bool = True,
        min_roll: float = DEFAULT_MIN_ROLL,
        any_angle: str = "auto",
    ) -> None:
        if isinstance(detector, FaceDetector):
            self.detector = detector
        else:
            self.detector = get_detector(detector, min_face=min_face, any_angle=any_angle)
        source = resolve_model_path(model) if isinstance(model, (str, os.PathLike)) else model or resolve_model_path("default")
        below = self.detector.refine_below if refine is None else float("inf")
        refine = self.detector.refine_passes if refine is None else refine
        self.predictor = Predictor(
            source, refine=refine, flip=flip, backend=backend, threads=threads, refine_below=below, upright=upright, min_roll=min_roll
        )

    @property
    def layout(self) -> str:
        return self.predictor.layout.name

    def detect(
        self,
        image: ImageLike,
        pose: bool = False,
        eyes: bool = False,
        expression: bool = False,
        boxes: np.ndarray | list | None = None,
        box_convention: str | None = None,
        bgr: bool = False,
    ) -> list[Face]:
        """Every face in ``image`` with its landmarks, best detector score first; optionally
        with head pose, eye state and expression measures.

        Arrays are RGB; pass ``bgr=True`` for arrays from ``cv2.imread``. ``boxes`` (``(K, 4)``
        x1, y1, x2, y2 in pixel-centre coordinates) replace the detector: faces from a detector of
        your own. ``box_convention`` says what they frame: ``"landmark"`` (the box of the 68
        points, what the model was trained on) or a registered detector's name, whose box
        calibration is applied (default: this landmarker's detector, so the boxes of
        :meth:`find_faces` give exactly the faces of a plain ``detect``).
        """
        rgb = as_rgb(image, bgr)
        if boxes is None:
            found = self.find_faces(rgb)
        else:
            boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
            found = Detections(boxes, np.ones(len(boxes), np.float32))
        return self.landmarks([rgb], [found], pose=pose, eyes=eyes, expression=expression, box_convention=box_convention)[0]

    def detect_batch(
        self, images: list[ImageLike], pose: bool = False, eyes: bool = False, expression: bool = False, bgr: bool = False
    ) -> list[list[Face]]:
        """:meth:`detect` for many images: the faces of all of them share one landmark-model batch."""
        rgbs = [as_rgb(image, bgr) for image in images]
        return self.landmarks(rgbs, [self.find_faces(rgb) for rgb in rgbs], pose=pose, eyes=eyes, expression=expression)

    def find_faces(self, image: np.ndarray) -> Detections:
        """The detector's step alone (boxes, scores and keypoints in its own convention)."""
        return self.detector.detect(image)

    def landmarks(
        self,
        images: list[np.ndarray],
        found: list[Detections],
        pose: bool = False,
        eyes: bool = False,
        expression: bool = False,
        box_convention: str | None = None,
    ) -> list[list[Face]]:
        """The landmark step for several RGB images and their detections, all faces in one batch."""
        crops = [self.first_crops(f, box_convention) for f in found]
        results = self.predictor.predict_batch(images, [b for b, _ in crops], rolls=[r for _, r in crops])
        out = []
        for image, f, res in zip(images, found, results):
            kps = [None] * len(f) if f.keypoints is None else f.keypoints
            out.append([
                Face(box, float(score), r.points, r.confidence, r.score, self.layout, keypoints5=k).measure(image, pose, eyes, expression)
                for box, score, k, r in zip(f.boxes, f.scores, kps, res)
            ])  # fmt: skip
        return out

    def first_crops(self, found: Detections, box_convention: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The candidate first crops of the landmark step for ``found``: oriented boxes
        (landmark-box convention) ``(K, C, 4)`` and rolls ``(K, C)``, each box mapped by its
        detector's calibration in the face's own upright frame. The candidates are the roll read
        from the detector's five keypoints, the turn of the detection pass (0 for upright
        detection), then that turn plus each other quarter turn. Keypoints on a tilted face are
        sometimes read upside down, and a detector may find a turned face in the wrong pass; the
        model's confidence picks, and the quarter turns run only for faces it is unsure of on the
        first two (see :meth:`facepoints.predict.Predictor.predict_batch`)."""
        if box_convention is None or box_convention == self.detector.name:
            calibration = self.detector.calibration
        else:
            calibration = BoxCalibration() if box_convention == "landmark" else detector_calibration(box_convention)
        passes = np.zeros(len(found)) if found.rolls is None else np.asarray(found.rolls, np.float64)
        if not self.predictor.upright:
            turns = self.predictor.crop_rolls(passes)[:, None]
        else:  # then the other quarter turns, tried only on faces the model is unsure of
            keypoints = passes if found.keypoints is None else keypoint_rolls(found.keypoints)
            turns = self.predictor.crop_rolls(np.stack([keypoints, passes, passes + 90.0, passes + 180.0, passes - 90.0], axis=1))
        count = turns.shape[1]
        boxes = calibration.apply(np.repeat(np.asarray(found.boxes).reshape(-1, 4), count, axis=0), turns.reshape(-1))
        return boxes.reshape(len(turns), count, 4), turns


def keypoint_rolls(keypoints: np.ndarray) -> np.ndarray:
    """The roll (degrees) of faces from a detector's five keypoints ``(K, 5, 2)`` (eyes, nose tip,
    mouth corners)."""
    k = np.asarray(keypoints, np.float64).reshape(-1, 5, 2)
    return roll_from_parts(k[:, 0], k[:, 1], (k[:, 3] + k[:, 4]) / 2)


@cache
def _default_landmarker(detector: str | None, model: str | None, min_face: float | None, any_angle: str) -> FaceLandmarker:
    return FaceLandmarker(detector, model, min_face=min_face, any_angle=any_angle)


def detect(
    image: ImageLike,
    detector: str | None = None,
    model: str | None = None,
    pose: bool = False,
    eyes: bool = False,
    expression: bool = False,
    min_face: float | None = DEFAULT_MIN_FACE,
    bgr: bool = False,
    any_angle: str = "auto",
) -> list[Face]:
    """Faces and 68 landmarks in ``image`` (path, PIL image or RGB array; ``bgr=True`` for OpenCV
    arrays), with a cached landmarker; ``pose``, ``eyes`` and ``expression`` add those measures to
    each face; ``any_angle`` says when faces turned sideways or upside down are searched for too
    (see :class:`FaceLandmarker`). Raises :class:`facepoints.ImageReadError` for input that is
    not a readable image."""
    landmarker = _default_landmarker(detector, model, min_face, any_angle)
    return landmarker.detect(image, pose=pose, eyes=eyes, expression=expression, bgr=bgr)


def detect_batch(
    images: list[ImageLike], detector: str | None = None, model: str | None = None, min_face: float | None = DEFAULT_MIN_FACE,
    bgr: bool = False, any_angle: str = "auto",
) -> list[list[Face]]:  # fmt: skip
    """:func:`detect` for a list of images, their faces in one landmark-model batch."""
    return _default_landmarker(detector, model, min_face, any_angle).detect_batch(images, bgr=bgr)
