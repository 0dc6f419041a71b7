"""Face alignment: warp each face onto a canonical template with a similarity transform.

A template is a set of target positions for chosen landmark positions (each a layout
anchor, or one point of one) in a ``size`` x ``size`` crop, with a weight per position:

- ``arcface``: the five points of the ArcFace / insightface 112 x 112 template (eye
  centres, nose tip, mouth corners), the input convention of most face recognition models;
- ``ibug``: the facepoints mean 68-point shape, fitted on the eye centres and every point
  of the brows and nose (the parts that move least with expression), with the whole face
  inside the crop; it needs a layout whose brows and nose have as many points as iBUG 68's.

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

from facepoints.geometry import fit_similarity  # noqa: F401
from facepoints.layouts import IBUG68, Layout, get_layout, ibug68_mean_shape
from facepoints.transforms.geometry import warp_image

__all__ = ["Template", "AlignedFace", "get_template", "list_templates", "align_face", "fit_similarity", "TEMPLATES"]

EYE_WEIGHT = 10.0

#: a landmark position: an anchor (the mean of its points) or, with an index, that point of the anchor
Part = tuple[str, int | None]


@dataclass(frozen=True)
class Template:
    """Target positions (K, 2) in a crop of side ``base_size`` for K landmark positions."""

    name: str
    parts: tuple[Part, ...]  # the landmark position each target is for
    positions: np.ndarray  # (K, 2) at base_size
    weights: np.ndarray  # (K,)
    base_size: int
    eyes: tuple[int, int]  # which targets are the subject's right and left eye centres

    def targets(self, size: int) -> np.ndarray:
        """Target positions for a crop of side ``size`` (pixel centres scale about -0.5)."""
        scale = size / self.base_size
        return (self.positions + 0.5) * scale - 0.5

    def sources(self, points: np.ndarray, layout: str | Layout = "ibug68") -> np.ndarray:
        """The template's landmark positions (K, 2) taken from a face's points."""
        return _part_means(np.asarray(points, dtype=np.float64), self.parts, get_layout(layout), self.name)


def _part_means(points: np.ndarray, parts: tuple[Part, ...], layout: Layout, template: str) -> np.ndarray:
    """The position (K, 2) of each part in ``points``."""
    names = tuple(dict.fromkeys(anchor for anchor, _ in parts))
    found = dict(zip(names, layout.require_anchors(*names, purpose=f"the {template} alignment template")))
    groups = []
    for anchor, k in parts:
        if k is not None and k >= len(found[anchor]):
            raise ValueError(
                f"the {template} alignment template needs point {k} of anchor {anchor}, "
                f"which has {len(found[anchor])} points in layout {layout.name}"
            )
        groups.append(found[anchor] if k is None else (found[anchor][k],))
    return np.array([points[list(g)].mean(axis=0) for g in groups])


def _arcface() -> Template:
    positions = np.array(
        [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
    )
    names = ("right_eye_centre", "left_eye_centre", "nose_tip", "right_mouth_corner", "left_mouth_corner")
    parts = tuple((name, None) for name in names)
    return Template("arcface", parts, positions, np.array([EYE_WEIGHT, EYE_WEIGHT, 1, 1, 1]), 112, (0, 1))


def _ibug() -> Template:
    mean = ibug68_mean_shape().astype(np.float64)  # outer eye corners at (+-0.5, 0)
    size = 112
    scaled = mean * (0.42 * size)
    lo, hi = scaled.min(axis=0), scaled.max(axis=0)
    placed = scaled + size / 2 - (lo + hi) / 2  # the whole 68-point face centred in the crop
    steady = ("right_eyebrow", "left_eyebrow", "nose_bridge", "nose_base")
    points = tuple((anchor, k) for anchor in steady for k in range(len(IBUG68.anchors[anchor])))
    parts = (("right_eye_centre", None), ("left_eye_centre", None)) + points
    positions = _part_means(placed, parts, IBUG68, "ibug")
    weights = np.array([EYE_WEIGHT, EYE_WEIGHT] + [3 / len(points)] * len(points))  # 3 in all, as in arcface
    return Template("ibug", parts, positions, weights, size, (0, 1))


TEMPLATES = {"arcface": _arcface, "ibug": _ibug}


def list_templates() -> list[str]:
    return sorted(TEMPLATES)


@cache
def get_template(name: str) -> Template:
    """A template by name (``arcface`` or ``ibug``), built once."""
    if name not in TEMPLATES:
        raise ValueError(f"unknown alignment template {name!r}; choose from {', '.join(list_templates())}")
    return TEMPLATES[name]()


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


def align_face(
    image: np.ndarray,
    points: np.ndarray,
    size: int = 112,
    template: str | Template = "arcface",
    layout: str | Layout = "ibug68",
) -> AlignedFace:
    """Warp the face with these points onto ``template`` in a ``size`` x ``size`` crop."""
    if size < 16 or size > 4096:
        raise ValueError(f"aligned crop size must lie in [16, 4096], got {size}")
    tmpl = get_template(template) if isinstance(template, str) else template
    lay = get_layout(layout)
    pts = lay.require_points(points, "alignment")
    matrix = fit_similarity(tmpl.sources(pts, lay), tmpl.targets(size), tmpl.weights)
    crop = warp_image(image, matrix, (size, size), border=cv2.BORDER_REPLICATE)
    inverse = cv2.invertAffineTransform(matrix)
    mapped = cv2.transform(pts.reshape(-1, 1, 2), matrix).reshape(-1, 2)
    return AlignedFace(crop, matrix, inverse, mapped, tmpl.name)
