"""The main job as one small facade: faces in an image -> 68 landmarks each.

``FaceLandmarker`` joins a face detector and a landmark model; ``facepoints.detect(image)``
uses a shared default instance (the bundled model and the default detector).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from facepoints.apps.expression import Expression
from facepoints.apps.expression import expression as expression_of
from facepoints.apps.eyes import EyeState, eye_state
from facepoints.apps.pose import HeadPose, draw_pose, head_pose
from facepoints.checkpoint import LoadedModel
from facepoints.detection import FaceDetector, get_detector
from facepoints.detection.base import Detections
from facepoints.imageio import load_image, to_rgb_uint8
from facepoints.predict import Predictor
from facepoints.viz import draw_keypoints

__all__ = ["Face", "FaceLandmarker", "detect", "default_model_path", "resolve_model_path", "sample_image_path", "draw_faces", "BUNDLED_MODELS"]

#: Names accepted for ``model=``: bundled weights inside the package. ``default`` is the most
#: accurate; ``fast`` is a narrower network of the same design, about half the time per face.
BUNDLED_MODELS = {"default": "fpnet68.pt", "fpnet68": "fpnet68.pt", "fast": "fpnet68-fast.pt", "fpnet68-fast": "fpnet68-fast.pt"}


def _resource(name: str) -> Path:
    return Path(str(resources.files("facepoints.resources").joinpath(name)))


def resolve_model_path(model: str | os.PathLike) -> Path:
    """A bundled model name or a checkpoint path -> the checkpoint file."""
    if isinstance(model, str) and model in BUNDLED_MODELS:
        return _resource(BUNDLED_MODELS[model])
    return Path(model)


def default_model_path() -> Path:
    """The bundled default landmark model (see its model card in docs/default-model.md)."""
    return _resource(BUNDLED_MODELS["default"])


def sample_image_path() -> Path:
    """The bundled sample photo (NASA portrait of astronaut Eileen Collins, public domain)."""
    return _resource("astronaut.jpg")


@dataclass
class Face:
    """One detected face: detector box and score, and its landmarks in image pixels."""

    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float  # detector confidence
    points: np.ndarray  # (N, 2)
    point_confidence: np.ndarray  # (N,) in [0, 1]
    landmark_score: float  # mean point confidence
    layout: str
    pose: HeadPose | None = None  # filled on request (FaceLandmarker.detect(pose=True))
    eyes: EyeState | None = None
    expression: Expression | None = None
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
        """Fill in head pose, eye state and expression (68-point faces) of this face in ``image`` (RGB)."""
        if (pose or eyes or expression) and self.layout != "ibug68":
            raise ValueError(f"pose, eye state and expression need the ibug68 layout, not {self.layout!r}")
        if pose:
            self.pose = head_pose(self.points, (image.shape[1], image.shape[0]))
        if eyes:
            self.eyes = eye_state(self.points, image)
        if expression:
            self.expression = expression_of(self.points)
        return self


def _xy(points: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2)] for x, y in points]


ImageLike = np.ndarray | Image.Image | str | os.PathLike


def as_rgb(image: ImageLike) -> np.ndarray:
    """An RGB uint8 array from a path, a PIL image or an array of any mode."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    return to_rgb_uint8(image)


class FaceLandmarker:
    """Face detector + landmark model. ``model`` is a bundled name, a checkpoint path or a
    loaded model; ``detector`` a registry name or instance (``None``: the default)."""

    def __init__(
        self,
        detector: str | FaceDetector | None = None,
        model: str | os.PathLike | LoadedModel | None = None,
        refine: int | None = None,
        flip: bool = False,
        backend: str = "auto",
        threads: int | None = None,
    ) -> None:
        self.detector = detector if isinstance(detector, FaceDetector) else get_detector(detector)
        source = model if isinstance(model, LoadedModel) else resolve_model_path(model or "default")
        below = self.detector.refine_below if refine is None else float("inf")
        refine = self.detector.refine_passes if refine is None else refine
        self.predictor = Predictor(source, refine=refine, flip=flip, backend=backend, threads=threads, refine_below=below)

    @property
    def layout(self) -> str:
        return self.predictor.layout.name

    def detect(self, image: ImageLike, pose: bool = False, eyes: bool = False, expression: bool = False) -> list[Face]:
        """Every face in ``image`` with its landmarks, best detector score first; optionally
        with head pose, eye state and expression measures."""
        rgb = as_rgb(image)
        return self.landmarks([rgb], [self.find_faces(rgb)], pose=pose, eyes=eyes, expression=expression)[0]

    def find_faces(self, image: np.ndarray) -> Detections:
        """The detector's step alone (boxes and scores in its own convention)."""
        return self.detector.detect(image)

    def landmarks(
        self, images: list[np.ndarray], found: list[Detections], pose: bool = False, eyes: bool = False, expression: bool = False
    ) -> list[list[Face]]:
        """The landmark step for several RGB images and their detections, all faces in one batch."""
        boxes = [self.detector.calibration.apply(f.boxes) for f in found]
        results = self.predictor.predict_batch(images, boxes)
        out = []
        for image, f, res in zip(images, found, results):
            out.append([
                Face(box, float(score), r.points, r.confidence, r.score, self.layout).measure(image, pose, eyes, expression)
                for box, score, r in zip(f.boxes, f.scores, res)
            ])  # fmt: skip
        return out


@cache
def _default_landmarker(detector: str | None, model: str | None) -> FaceLandmarker:
    return FaceLandmarker(detector, model)


def detect(
    image: ImageLike,
    detector: str | None = None,
    model: str | None = None,
    pose: bool = False,
    eyes: bool = False,
    expression: bool = False,
) -> list[Face]:
    """Faces and 68 landmarks in ``image`` (path, PIL image or array), with a cached default
    landmarker; ``pose``, ``eyes`` and ``expression`` add those measures to each face."""
    return _default_landmarker(detector, model).detect(image, pose=pose, eyes=eyes, expression=expression)


def _labels(face: Face) -> list[str]:
    lines = [] if face.track_id is None else [f"face {face.track_id}"]
    if face.pose is not None:
        lines.append(f"yaw {face.pose.yaw:+.0f} pitch {face.pose.pitch:+.0f} roll {face.pose.roll:+.0f}")
    if face.eyes is not None:
        lines.append(f"eyes {'open' if face.eyes.eyes_open >= 0.5 else 'closed'} ({face.eyes.ear:.2f})"
                     f" mouth {'open' if face.eyes.mouth_open else 'closed'}")  # fmt: skip
    if face.expression is not None:
        e = face.expression
        lines.append(f"smile {e.smile_width:.2f} open {e.mouth_openness:.2f} brows {e.brow_raise:.2f}")
    return lines


def draw_faces(image: np.ndarray, faces: list[Face], numbers: bool = False) -> np.ndarray:
    """A copy of ``image`` with each face's box, points and contours drawn, plus its pose
    axes and measures when the face carries them."""
    out = image.copy()
    for face in faces:
        width = float(face.box[2] - face.box[0])
        radius = max(1.0, width / 70)  # dots scale with the face, not the photo
        out = draw_keypoints(out, face.points, face.layout, numbers=numbers, radius=radius, box=face.box)
        if face.pose is not None:
            draw_pose(out, face.pose)
        scale = max(0.35, width / 400)
        for i, text in enumerate(_labels(face)):
            y = int(face.box[3] + (i + 1) * 22 * scale)
            org = (int(face.box[0]), y)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), max(2, int(4 * scale)), cv2.LINE_AA)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 0), max(1, int(1.5 * scale)), cv2.LINE_AA)
    return out
