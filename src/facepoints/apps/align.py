"""Face alignment: warp each face onto a canonical template with a similarity transform.

A template is a set of target positions for chosen landmark positions (each the mean of
some of the 68 points) in a ``size`` x ``size`` crop, with a weight per position:

- ``arcface``: the five points of the ArcFace / insightface 112 x 112 template (eye
  centres, nose tip, mouth corners), the input convention of most face recognition models;
- ``ibug``: the facepoints mean 68-point shape, fitted on brows, nose and eyes (the parts
  that move least with expression), with the whole face inside the crop.

The eyes weigh 10 times the other positions, so they land on the template's eye positions
(within about a pixel for frontal faces) and the rest of the face fixes the scale only
where the eyes cannot. The fit is a weighted least-squares similarity (rotation, uniform
scale, translation); ``AlignedFace.inverse`` maps crop pixels back to the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from facepoints.apps.eyes import LEFT_EYE, RIGHT_EYE
from facepoints.layouts import ibug68_mean_shape
from facepoints.transforms.geometry import warp_image

__all__ = ["Template", "AlignedFace", "get_template", "list_templates", "align_face", "fit_similarity", "TEMPLATES"]

EYE_WEIGHT = 10.0


@dataclass(frozen=True)
class Template:
    """Target positions (K, 2) in a crop of side ``base_size`` for K landmark groups."""

    name: str
    groups: tuple[tuple[int, ...], ...]  # each target position is the mean of these points
    positions: np.ndarray  # (K, 2) at base_size
    weights: np.ndarray  # (K,)
    base_size: int
    eyes: tuple[int, int]  # which targets are the subject's right and left eye centres

    def targets(self, size: int) -> np.ndarray:
        """Target positions for a crop of side ``size`` (pixel centres scale about -0.5)."""
        scale = size / self.base_size
        return (self.positions + 0.5) * scale - 0.5

    def sources(self, points: np.ndarray) -> np.ndarray:
        """The template's landmark positions (K, 2) taken from 68 points."""
        return _group_means(np.asarray(points, dtype=np.float64), self.groups)


def _group_means(points: np.ndarray, groups: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """The mean position of each group of points (K, 2)."""
    return np.array([points[list(g)].mean(axis=0) for g in groups])


def _arcface() -> Template:
    positions = np.array(
        [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
    )
    groups = (RIGHT_EYE, LEFT_EYE, (30,), (48,), (54,))
    return Template("arcface", groups, positions, np.array([EYE_WEIGHT, EYE_WEIGHT, 1, 1, 1]), 112, (0, 1))


def _ibug() -> Template:
    mean = ibug68_mean_shape().astype(np.float64)  # outer eye corners at (+-0.5, 0)
    size = 112
    scaled = mean * (0.42 * size)
    lo, hi = scaled.min(axis=0), scaled.max(axis=0)
    placed = scaled + size / 2 - (lo + hi) / 2  # the whole 68-point face centred in the crop
    groups = (RIGHT_EYE, LEFT_EYE) + tuple((i,) for i in range(17, 36))
    positions = _group_means(placed, groups)
    weights = np.array([EYE_WEIGHT, EYE_WEIGHT] + [3 / 19] * 19)  # the other points weigh 3 in all, as in arcface
    return Template("ibug", groups, positions, weights, size, (0, 1))


TEMPLATES = {"arcface": _arcface, "ibug": _ibug}


def list_templates() -> list[str]:
    return sorted(TEMPLATES)


@cache
def get_template(name: str) -> Template:
    """A template by name (``arcface`` or ``ibug``), built once."""
    if name not in TEMPLATES:
        raise ValueError(f"unknown alignment template {name!r}; choose from {', '.join(list_templates())}")
    return TEMPLATES[name]()


def fit_similarity(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """2x3 similarity matrix minimizing the weighted squared distance from mapped ``src`` to ``dst``."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    if len(src) < 2 or src.shape != dst.shape or len(w) != len(src):
        raise ValueError("a similarity needs at least two matching point pairs")
    x, y = src[:, 0], src[:, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    a = np.concatenate([np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)])  # [a, b, tx, ty]
    rhs = np.concatenate([dst[:, 0], dst[:, 1]])
    sw = np.sqrt(np.concatenate([w, w]))
    (ca, sb, tx, ty), *_ = np.linalg.lstsq(a * sw[:, None], rhs * sw, rcond=None)
    return np.array([[ca, -sb, tx], [sb, ca, ty]])


@dataclass
class AlignedFace:
    """One aligned crop with the transforms between image and crop pixels."""

    image: np.ndarray  # (size, size, 3)
    matrix: np.ndarray  # 2x3, image -> crop
    inverse: np.ndarray  # 2x3, crop -> image
    points: np.ndarray  # the face's landmarks in crop pixels
    template: str

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Map crop pixel positions (N, 2) back to the original image."""
        return cv2.transform(np.asarray(points, np.float64).reshape(-1, 1, 2), self.inverse).reshape(-1, 2)

    def to_dict(self) -> dict:
        return {
            "template": self.template,
            "size": self.image.shape[0],
            "matrix": np.round(self.matrix, 6).tolist(),
            "inverse": np.round(self.inverse, 6).tolist(),
        }


def align_face(image: np.ndarray, points: np.ndarray, size: int = 112, template: str | Template = "arcface") -> AlignedFace:
    """Warp the face with these 68 points onto ``template`` in a ``size`` x ``size`` crop."""
    if size < 16 or size > 4096:
        raise ValueError(f"aligned crop size must lie in [16, 4096], got {size}")
    tmpl = get_template(template) if isinstance(template, str) else template
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"alignment needs the 68 iBUG points, got an array of shape {pts.shape}")
    matrix = fit_similarity(tmpl.sources(pts), tmpl.targets(size), tmpl.weights)
    crop = warp_image(image, matrix, (size, size), border=cv2.BORDER_REPLICATE)
    inverse = cv2.invertAffineTransform(matrix)
    mapped = cv2.transform(pts.reshape(-1, 1, 2), matrix).reshape(-1, 2)
    return AlignedFace(crop, matrix, inverse, mapped, tmpl.name)
