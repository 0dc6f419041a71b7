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
from pathlib import Path

import cv2
import numpy as np
import torch

from facepoints.checkpoint import LoadedModel, load_model
from facepoints.export import OnnxRunner, onnx_available
from facepoints.layouts import get_layout
from facepoints.resources import resolve_model_path
from facepoints.transforms import resize_matrix, square_crop_matrix
from facepoints.transforms.geometry import warp_image

__all__ = ["Predictor", "LandmarkResult", "points_box", "BACKENDS"]

BACKENDS = ("auto", "int8", "onnx", "torch")


@dataclass
class LandmarkResult:
    """Landmarks of one face in original image pixels."""

    points: np.ndarray  # (N, 2)
    confidence: np.ndarray  # (N,) per point, in [0, 1]
    score: float  # mean point confidence
    box: np.ndarray  # (4,) the box the crop was made from


def points_box(points: np.ndarray) -> np.ndarray:
    """The landmark box (x1, y1, x2, y2) of points: the box convention face-crop models train on."""
    return np.concatenate([points.min(0), points.max(0)]).astype(np.float64)


class Predictor:
    """Runs a landmark model on face boxes of an image."""

    def __init__(
        self,
        model: LoadedModel | str | os.PathLike,
        refine: int = 1,
        flip: bool = False,
        device: str = "cpu",
        backend: str = "auto",
        threads: int | None = None,
        refine_below: float = float("inf"),
    ) -> None:
        """``backend``: ``torch``, ``onnx`` (the checkpoint's ``.onnx`` sibling through onnxruntime),
        ``int8`` (its ``.int8.onnx`` sibling, quantized) or ``auto`` (the fastest there: int8, then
        onnx, then torch). ``refine`` passes go only to faces whose mean point confidence after
        the first pass is below ``refine_below`` (default: every face). ``model``: a loaded model,
        a checkpoint path, or a bundled model's name (``"default"``, ``"fast"``).

        Boxes given to :meth:`predict` frame the 68 points (the landmark-box convention the model
        was trained on); boxes of a detector need its calibration first
        (``facepoints.detection.detector_calibration(name).apply(boxes)``), or use
        ``FaceLandmarker.detect(image, boxes=..., box_convention=name)``, which applies it."""
        if isinstance(model, (str, os.PathLike)):
            model = resolve_model_path(model)
        self.loaded = model if isinstance(model, LoadedModel) else load_model(model, device)
        self.model = self.loaded.model.eval()
        self.runner = None
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose {', '.join(BACKENDS)}")
        files = {}
        if isinstance(model, (str, os.PathLike)):
            files = {"int8": Path(model).with_suffix(".int8.onnx"), "onnx": Path(model).with_suffix(".onnx")}
        self.backend = "torch"
        if backend in files and not files[backend].is_file():
            raise ValueError(f"no {files[backend].name} beside {model} (make one with facepoints export)")
        for kind in ("int8", "onnx"):
            if (backend == kind or backend == "auto") and kind in files and files[kind].is_file() and onnx_available():
                self.runner, self.backend = OnnxRunner(files[kind], threads), kind
                break
        if self.backend == "torch" and threads:
            torch.set_num_threads(threads)
        self.spec = self.loaded.input
        self.layout = get_layout(self.loaded.layout)
        shift = np.asarray(self.loaded.meta.get("point_shift", 0.0), np.float32)  # see training/point_shift.py
        self.shift = shift * self.spec.normalization.scale  # crop pixels, added after any mirrored pass
        self.refine = refine if self.spec.crop == "face" else 0
        self.refine_below = refine_below
        self.flip = flip
        self.device = device
        if flip:
            self.layout.require_flip()

    @property
    def can_flip(self) -> bool:
        """Whether the layout has a flip permutation (needed for a mirrored pass)."""
        return self.layout.flip_perm is not None

    def _crops(self, image: np.ndarray, boxes: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Model-sized crops of ``image`` (one per box, or the whole image for full-image models)
        and the 3x3 matrices that made them (image -> crop)."""
        h, w = self.spec.size
        if self.spec.crop != "face":
            matrices = [resize_matrix((image.shape[1], image.shape[0]), (w, h))]
        else:
            matrices = [square_crop_matrix(box, h, self.spec.margin) for box in boxes]
        return [warp_image(image, m, (w, h)) for m in matrices], matrices

    def _tensor(self, crops: list[np.ndarray], mirror: bool) -> np.ndarray:
        images = []
        for c in crops:
            img = c[:, ::-1] if mirror else c
            if self.spec.grey:  # the same conversion as training's Normalize
                img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)[None].astype(np.float32)
            else:
                img = img.transpose(2, 0, 1).astype(np.float32)
            images.append(img / 255.0)
        return np.ascontiguousarray(np.stack(images), dtype=np.float32)

    @torch.no_grad()
    def _run(self, crops: list[np.ndarray], flip: bool) -> tuple[np.ndarray, np.ndarray]:
        """Model output for the crops, in crop pixels: points (B, N, 2), confidences (B, N)."""
        forward = getattr(self.model, "forward_with_confidence", None)

        def once(mirror: bool):
            x = self._tensor(crops, mirror)
            if self.runner is not None:
                pts, conf = self.runner.run(x)
            else:
                x = torch.from_numpy(x).to(self.device)
                if forward is not None:
                    pts, conf = (t.cpu().numpy() for t in forward(x))
                else:
                    pts = self.model(x).cpu().numpy()
                    conf = np.ones(pts.shape[:2], np.float32)
            return self.spec.normalization.inverse(pts), conf

        pts, conf = once(False)
        if flip:
            width = self.spec.size[1]
            perm = self.layout.require_flip()
            mp, mc = once(True)
            mp = mp[:, perm]
            mp[..., 0] = width - 1 - mp[..., 0]
            pts, conf = (pts + mp) / 2, (conf + mc[:, perm]) / 2
        return pts + self.shift, conf

    def _pass(self, images: list[np.ndarray], owner: np.ndarray, boxes: np.ndarray, flip: bool) -> tuple[np.ndarray, np.ndarray]:
        """One model pass over faces (``boxes[k]`` in ``images[owner[k]]``): points in image pixels and confidences."""
        crops, matrices = [], []
        for k, box in zip(owner, boxes):
            c, m = self._crops(images[k], box[None])
            crops += c
            matrices += m
        pts, conf = self._run(crops, flip)
        inverse = np.stack([cv2.invertAffineTransform(m[:2]) for m in matrices])  # (B, 2, 3): crop -> image
        points = np.einsum("bij,bnj->bni", inverse[:, :, :2], pts) + inverse[:, None, :, 2]
        return points, conf

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
