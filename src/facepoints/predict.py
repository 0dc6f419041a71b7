"""The prediction pipeline: face boxes -> the model's crops -> one batched pass -> points in image pixels.

``Predictor.predict(image, boxes)`` takes caller-given boxes, so benchmarks can feed every
method identical boxes. Models trained on ``face`` crops see the same square crop with
margin they were trained on; ``refine`` re-crops around the first pass's landmarks (the
box convention the model was trained with), which removes most of the difference
between a detector's box and a landmark box. ``flip`` averages with a mirrored pass. A
checkpoint's ``point_shift`` (its mean residual on its training faces) is added last.

Faces at any roll: a face's roll (from the detector's keypoints, or on a refinement pass from
the previous pass's eyes and mouth) turns its crop so that the model sees the face upright, and
the points are mapped back through the same matrix. Rolls within ``min_roll`` degrees of a quarter
turn are left to the model, which was trained on crops turned by up to 35 degrees. A face whose
points show a roll ``min_roll`` or more away from its crop's gets up to ``ROLL_PASSES`` more
passes, each turned by the previous points' roll.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from facepoints.backends import BACKENDS, Backend, ModelInfo, open_model
from facepoints.codec import LandmarkCodec
from facepoints.geometry import oriented_points_box, points_box, snap_roll
from facepoints.layouts import get_layout
from facepoints.resources import resolve_model_path

__all__ = ["BACKENDS", "DEFAULT_MIN_ROLL", "LandmarkResult", "Predictor", "points_box"]

#: Rolls closer than this (degrees) to a quarter turn are left to the model (docs/inference.md).
DEFAULT_MIN_ROLL = 15.0
#: Candidate first crops (``predict_batch``) tried for every face; the others only for unsure faces.
FALLBACK_FROM = 2
#: ... that is, faces whose mean point confidence on those stays below this (a crop turned the wrong
#: way scores 0.35-0.55 with the default model, a right one 0.75-0.8).
DEFAULT_UNSURE_BELOW = 0.6
#: Refinement passes a face may get while its crop is not upright (its points' roll differs from
#: the crop's by ``min_roll`` or more), when refinement is on: detector keypoints lag large rolls.
ROLL_PASSES = 2
#: Candidate first crops closer than this (degrees) to an earlier candidate are not run: the model,
#: trained on crops turned by up to 35 degrees, and the roll passes settle a face between them.
CANDIDATES_APART = 45.0


@dataclass
class LandmarkResult:
    """Landmarks of one face in original image pixels."""

    points: np.ndarray  # (N, 2)
    confidence: np.ndarray  # (N,) per point, in [0, 1]
    score: float  # mean point confidence
    box: np.ndarray  # (4,) the box the crop was made from (an oriented box, turned by ``roll``)
    roll: float = 0.0  # degrees: the turn of that crop (see facepoints.geometry)


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
        upright: bool = True,
        min_roll: float = DEFAULT_MIN_ROLL,
        unsure_below: float = DEFAULT_UNSURE_BELOW,
    ) -> None:
        """``model``: a bundled model's name (``"default"``, ``"fast"``), a checkpoint path, an ONNX
        export, or a loaded PyTorch model. ``backend``: ``int8`` or ``onnx`` (the checkpoint's ONNX
        exports, through onnxruntime: no PyTorch needed), ``torch``, or ``auto`` (int8, then onnx,
        then torch, each passed-over export logged; see :func:`facepoints.backends.open_model`).
        ``refine`` passes go only to faces whose mean point confidence after the first pass is
        below ``refine_below`` (default: every face). ``upright``: turn each crop by the face's roll
        (given rolls on the first pass, the previous pass's points on refinement passes; rolls
        within ``min_roll`` degrees of a quarter turn snap to it).

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
        self.upright = upright and self.spec.crop == "face" and self.layout.has_roll
        self.min_roll = min_roll
        self.unsure_below = unsure_below
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

    def crop_rolls(self, rolls: np.ndarray) -> np.ndarray:
        """The turns (degrees) the crops of faces of these rolls get: snapped, or none without ``upright``."""
        rolls = np.asarray(rolls, np.float64)
        return snap_roll(rolls, self.min_roll) if self.upright else np.zeros_like(rolls)

    def point_turns(self, points: np.ndarray) -> np.ndarray:
        """The turns (degrees) of crops taken around faces' points ``(K, N, 2)`` (refinement passes,
        tracking): the points' roll, snapped; none without ``upright``."""
        points = np.asarray(points)
        return self.crop_rolls(self.layout.roll(points)) if self.upright else np.zeros(len(points))

    def _pass(
        self, images: list[np.ndarray], owner: np.ndarray, boxes: np.ndarray, rolls: np.ndarray, flip: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """One model pass over faces (``boxes[k]`` turned by ``rolls[k]`` in ``images[owner[k]]``):
        points in image pixels and confidences."""
        crops, matrices = self.codec.crops(images, owner, boxes, rolls)
        points, confidence = self._run(crops, flip)
        return self.codec.decode(points, matrices), confidence

    def predict(
        self,
        image: np.ndarray,
        boxes: np.ndarray | list | None = None,
        refine: int | None = None,
        flip: bool | None = None,
        rolls: np.ndarray | list | None = None,
    ) -> list[LandmarkResult]:
        """Landmarks for each box (``(x1, y1, x2, y2)`` in ``image`` pixels; ``None`` for
        whole-image models), all faces in one batched forward pass per stage. ``refine``
        overrides the predictor's refinement passes (0 when the boxes already are landmark
        boxes, as in tracking) and ``flip`` its mirrored pass. ``rolls`` (degrees, one per box)
        make the boxes oriented boxes of faces of those rolls."""
        return self.predict_batch([image], [boxes], refine, flip, None if rolls is None else [rolls])[0]

    def predict_batch(
        self,
        images: list[np.ndarray],
        boxes: list[np.ndarray | list | None],
        refine: int | None = None,
        flip: bool | None = None,
        rolls: list[np.ndarray | list | None] | None = None,
    ) -> list[list[LandmarkResult]]:
        """:meth:`predict` for several images at once: the faces of all of them go through the
        model in one batch per stage (directory mode uses this).

        A face may come with several candidate crops: boxes ``(K, C, 4)`` and rolls ``(K, C)``
        (a detector's keypoints may read a face upside down, so the landmarker also offers the
        roll of the detection pass). Candidates whose crops turn alike are run once; the first
        pass keeps, per face, the candidate the model is most confident on."""
        per_image, per_roll = [], []
        for k, (image, b) in enumerate(zip(images, boxes, strict=True)):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
            if self.spec.crop == "face":
                if b is None:
                    raise ValueError("this model works on face crops: give face boxes (or use facepoints.detect)")
                b = np.asarray(b, dtype=np.float64)
                b = b if b.ndim == 3 else b.reshape(-1, 1, 4)
            else:
                b = np.array([[[0, 0, image.shape[1], image.shape[0]]]], np.float64)
            r = None if rolls is None or rolls[k] is None else np.asarray(rolls[k], np.float64)
            if r is not None and r.size != b.shape[0] * b.shape[1]:
                raise ValueError(f"got rolls of shape {r.shape} for face boxes of shape {b.shape}")
            per_image.append(b)
            per_roll.append(np.zeros(b.shape[:2]) if r is None else r.reshape(b.shape[:2]))
        if not any(len(b) for b in per_image):
            return [[] for _ in images]
        owner = np.concatenate([np.full(len(b), i) for i, b in enumerate(per_image)]).astype(int)
        passes = self.refine if refine is None or self.spec.crop != "face" else refine
        flip = self.flip if flip is None else flip
        most = max(b.shape[1] for b in per_image)  # candidates per face: pad with each face's first
        boxes_c = np.concatenate([np.concatenate([b] + [b[:, :1]] * (most - b.shape[1]), axis=1) for b in per_image])
        rolls_c = np.concatenate([np.concatenate([r] + [r[:, :1]] * (most - r.shape[1]), axis=1) for r in per_roll])
        turns_c = self.crop_rolls(rolls_c) if rolls is not None else rolls_c
        points, conf, used, turn = self._first_pass(images, owner, boxes_c, turns_c, flip)
        unsure = conf.mean(axis=1) < self.refine_below  # the faces the model is unsure of
        for step in range(max(passes, ROLL_PASSES if self.upright and passes else 0)):
            roll = self.layout.roll(points) if self.upright else turn  # where the faces now look
            active = np.flatnonzero((unsure & (step < passes)) | (_turn_between(roll, turn) >= self.min_roll))
            if len(active) == 0:
                break
            turn[active] = self.crop_rolls(roll[active])
            used[active] = np.stack([oriented_points_box(p, r) for p, r in zip(points[active], turn[active])])
            points[active], conf[active] = self._pass(images, owner[active], used[active], turn[active], flip)
        results: list[list[LandmarkResult]] = [[] for _ in images]
        for i, p, c, b, r in zip(owner, points, conf, used, turn):
            result = LandmarkResult(p.astype(np.float32), c.astype(np.float32), float(c.mean()), b.astype(np.float32), float(r))
            results[i].append(result)
        return results

    def _first_pass(
        self, images: list[np.ndarray], owner: np.ndarray, boxes: np.ndarray, turns: np.ndarray, flip: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The first pass over candidate crops ``boxes (F, C, 4)``, ``turns (F, C)``: each face's
        most confident candidate's points, confidences, box and turn. The first
        ``FALLBACK_FROM`` candidates run for every face, the others only for faces whose mean
        point confidence stays below ``unsure_below`` on those; a candidate turned within
        :data:`CANDIDATES_APART` of an earlier one is not run."""
        if turns.shape[1] == 1:
            points, conf = self._pass(images, owner, boxes[:, 0], turns[:, 0], flip)
            return points, conf, boxes[:, 0].copy(), turns[:, 0].copy()
        earlier = np.tri(turns.shape[1], k=-1, dtype=bool)  # [c, d]: candidate d comes before c
        distinct = ~((_turn_between(turns[:, :, None], turns[:, None, :]) < CANDIDATES_APART) & earlier).any(axis=2)
        score = np.full(turns.shape, -np.inf)
        points = np.zeros((*turns.shape, self.layout.num_points, 2), np.float32)
        conf = np.zeros((*turns.shape, self.layout.num_points), np.float32)
        first = distinct.copy()
        first[:, FALLBACK_FROM:] = False

        def run(chosen: np.ndarray) -> None:
            face, cand = np.nonzero(chosen)
            if len(face):
                points[face, cand], conf[face, cand] = self._pass(images, owner[face], boxes[face, cand], turns[face, cand], flip)
                score[face, cand] = conf[face, cand].mean(axis=1)

        run(first)
        run(distinct & ~first & (score[:, :FALLBACK_FROM].max(axis=1) < self.unsure_below)[:, None])
        rows, best = np.arange(len(turns)), score.argmax(axis=1)
        return points[rows, best], conf[rows, best], boxes[rows, best], turns[rows, best].copy()


def _turn_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The absolute angle (degrees, 0-180) between turns ``a`` and ``b``."""
    return np.abs((np.asarray(a) - b + 180.0) % 360.0 - 180.0)
