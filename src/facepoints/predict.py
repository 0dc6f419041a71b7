"""The prediction pipeline: face boxes -> the model's crops -> one batched pass -> points in image pixels.

``Predictor.predict(image, boxes)`` takes caller-given boxes, so benchmarks can feed every
method identical boxes. Models trained on ``face`` crops see the same square crop with
margin they were trained on; ``refine`` re-crops around the first pass's landmarks (the
box convention the model was trained with), which removes most of the difference
between a detector's box and a landmark box. ``flip`` averages with a mirrored pass. A
checkpoint's ``point_shift`` (its mean residual on its training faces) is added last.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from facepoints.backends import BACKENDS, Backend, ModelInfo, open_model
from facepoints.codec import LandmarkCodec
from facepoints.geometry import points_box
from facepoints.layouts import get_layout
from facepoints.resources import resolve_model_path

__all__ = ["Predictor", "LandmarkResult", "points_box", "BACKENDS"]


@dataclass
class LandmarkResult:
    """Landmarks of one face in original image pixels."""

    points: np.ndarray  # (N, 2)
    confidence: np.ndarray  # (N,) per point, in [0, 1]
    score: float  # mean point confidence
    box: np.ndarray  # (4,) the box the crop was made from


class Predictor:
    """Runs a landmark model on face boxes of an image."""

    def __init__(
        self,
        model,
        refine: int = 1,
        flip: bool = False,
        device: str = "cpu",
        backend: str = "auto",
        threads: int | None = None,
        refine_below: float = float("inf"),
    ) -> None:
        """``model``: a bundled model's name (``"default"``, ``"fast"``), a checkpoint path, an ONNX
        export, or a loaded PyTorch model. ``backend``: ``int8`` or ``onnx`` (the checkpoint's ONNX
        exports, through onnxruntime: no PyTorch needed), ``torch``, or ``auto`` (int8, then onnx,
        then torch, each passed-over export logged; see :func:`facepoints.backends.open_model`).
        ``refine`` passes go only to faces whose mean point confidence after the first pass is
        below ``refine_below`` (default: every face).

        Boxes given to :meth:`predict` frame the 68 points (the landmark-box convention the model
        was trained on); boxes of a detector need its calibration first
        (``facepoints.detection.detector_calibration(name).apply(boxes)``), or use
        ``FaceLandmarker.detect(image, boxes=..., box_convention=name)``, which applies it."""
        if isinstance(model, (str, os.PathLike)):
            model = resolve_model_path(model)
        self.engine: Backend
        self.info: ModelInfo
        self.engine, self.info = open_model(model, backend, threads, device)
        self.backend = self.engine.name
        self.spec = self.info.input
        self.layout = get_layout(self.info.layout)
        self.codec = LandmarkCodec(self.spec, self.layout.flip_perm, self.info.point_shift)
        self.refine = refine if self.spec.crop == "face" else 0
        self.refine_below = refine_below
        self.flip = flip
        if flip:
            self.layout.require_flip()

    @property
    def can_flip(self) -> bool:
        """Whether the layout has a flip permutation (needed for a mirrored pass)."""
        return self.layout.flip_perm is not None

    def _run(self, crops: list[np.ndarray], flip: bool) -> tuple[np.ndarray, np.ndarray]:
        """Model output for the crops, in crop pixels: points (B, N, 2), confidences (B, N)."""
        points, confidence = self.engine.run(self.codec.encode(crops))
        points = self.codec.to_crop_pixels(points)
        if flip:
            mirrored, mirrored_confidence = self.engine.run(self.codec.encode(crops, mirror=True))
            points, confidence = self.codec.merge_mirror(points, confidence, self.codec.to_crop_pixels(mirrored), mirrored_confidence)
        return points, confidence

    def _pass(self, images: list[np.ndarray], owner: np.ndarray, boxes: np.ndarray, flip: bool) -> tuple[np.ndarray, np.ndarray]:
        """One model pass over faces (``boxes[k]`` in ``images[owner[k]]``): points in image pixels and confidences."""
        crops, matrices = self.codec.crops(images, owner, boxes)
        points, confidence = self._run(crops, flip)
        return self.codec.decode(points, matrices), confidence

    def predict(
        self, image: np.ndarray, boxes: np.ndarray | list | None = None, refine: int | None = None, flip: bool | None = None
    ) -> list[LandmarkResult]:
        """Landmarks for each box (``(x1, y1, x2, y2)`` in ``image`` pixels; ``None`` for
        whole-image models), all faces in one batched forward pass per stage. ``refine``
        overrides the predictor's refinement passes (0 when the boxes already are landmark
        boxes, as in tracking) and ``flip`` its mirrored pass."""
        return self.predict_batch([image], [boxes], refine, flip)[0]

    def predict_batch(
        self,
        images: list[np.ndarray],
        boxes: list[np.ndarray | list | None],
        refine: int | None = None,
        flip: bool | None = None,
    ) -> list[list[LandmarkResult]]:
        """:meth:`predict` for several images at once: the faces of all of them go through the
        model in one batch per stage (directory mode uses this)."""
        per_image = []
        for image, b in zip(images, boxes, strict=True):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
            if self.spec.crop == "face":
                if b is None:
                    raise ValueError("this model works on face crops: give face boxes (or use facepoints.detect)")
                per_image.append(np.asarray(b, dtype=np.float64).reshape(-1, 4))
            else:
                per_image.append(np.array([[0, 0, image.shape[1], image.shape[0]]], np.float64))
        owner = np.concatenate([np.full(len(b), i) for i, b in enumerate(per_image)]).astype(int) if per_image else np.zeros(0, int)
        used = np.concatenate(per_image) if per_image else np.zeros((0, 4))
        if len(used) == 0:
            return [[] for _ in images]
        passes = self.refine if refine is None or self.spec.crop != "face" else refine
        flip = self.flip if flip is None else flip
        points, conf = self._pass(images, owner, used, flip)
        active = np.flatnonzero(conf.mean(axis=1) < self.refine_below)  # the faces the model is unsure of
        for _ in range(passes):
            if len(active) == 0:
                break
            used[active] = np.stack([points_box(p) for p in points[active]])
            points[active], conf[active] = self._pass(images, owner[active], used[active], flip)
        results: list[list[LandmarkResult]] = [[] for _ in images]
        for i, p, c, b in zip(owner, points, conf, used):
            results[i].append(LandmarkResult(p.astype(np.float32), c.astype(np.float32), float(c.mean()), b.astype(np.float32)))
        return results
