"""Expression measures from landmarks alone (no extra model), read through the layout's anchors.

Every measure is a distance divided by the inter-ocular distance (outer eye corners, as in
NME), computed after rotating the face so that its eye line is level, so it does not
depend on the face's size in the picture or its roll:

- ``smile_width``: mouth corner to mouth corner;
- ``mouth_openness``: mean gap between facing points of the eight-point inner lip outline
  (as for the mouth aspect ratio);
- ``brow_raise``: mean height of the brow points above their eye's centre;
- ``mouth_corner_lift``: how far the corners sit above the middle of the lips (the upper and
  lower lip centres); positive in a smile, negative in a frown.

Typical neutral values on the 300-W labels: smile width about 0.5, brow raise about 0.25.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from facepoints.layouts import Layout, get_layout

__all__ = ["Expression", "expression", "level_face"]

#: the anchors whose positions the measures read
_POSITIONS = ("right_eye_centre", "left_eye_centre", "upper_lip_centre", "lower_lip_centre")
_POSITIONS += ("right_mouth_corner", "left_mouth_corner")


@dataclass
class Expression:
    """Size- and roll-free expression measures of one face (see the module docstring)."""

    smile_width: float
    mouth_openness: float
    brow_raise: float
    mouth_corner_lift: float

    def to_dict(self) -> dict:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def level_face(points: np.ndarray, layout: str | Layout = "ibug68") -> tuple[np.ndarray, float]:
    """Points rotated about the eye centre so that the right -> left outer eye corner points
    along +x, scaled so the outer eye corners are 1 apart; and that inter-ocular distance in pixels."""
    lay = get_layout(layout)
    lay.require_anchors("right_eye_outer", "left_eye_outer", purpose="levelling a face")
    pts = np.asarray(points, dtype=np.float64)
    right, left = lay.anchor_point(pts, "right_eye_outer"), lay.anchor_point(pts, "left_eye_outer")
    axis = left - right
    iod = float(np.linalg.norm(axis))
    if iod < 1e-9:
        raise ValueError("the outer eye corners coincide; cannot normalize")
    c, s = axis / iod
    rot = np.array([[c, s], [-s, c]])
    centre = (right + left) / 2
    return (pts - centre) @ rot.T / iod, iod


def expression(points: np.ndarray, layout: str | Layout = "ibug68") -> Expression:
    """Expression measures of one face from its points."""
    lay = get_layout(layout)
    pts = lay.require_points(points, "expression")
    needed = ("inner_lips", "right_eyebrow", "left_eyebrow") + _POSITIONS
    lips, right_brow, left_brow, *_ = lay.require_anchors(*needed, purpose="expression")
    if len(lips) != 8:
        raise ValueError(f"expression needs 8 points in anchor inner_lips; layout {lay.name} has {len(lips)}")
    p, _ = level_face(pts, lay)
    at = {name: lay.anchor_point(p, name) for name in _POSITIONS}
    gap = np.mean([np.linalg.norm(p[lips[k]] - p[lips[8 - k]]) for k in (1, 2, 3)])  # upper point k faces lower 8 - k
    right_heights = at["right_eye_centre"][1] - p[list(right_brow), 1]
    brow = np.concatenate([right_heights, at["left_eye_centre"][1] - p[list(left_brow), 1]])
    lips_middle = (at["upper_lip_centre"][1] + at["lower_lip_centre"][1]) / 2
    lift = lips_middle - (at["right_mouth_corner"][1] + at["left_mouth_corner"][1]) / 2
    width = np.linalg.norm(at["left_mouth_corner"] - at["right_mouth_corner"])
    return Expression(float(width), float(gap), float(brow.mean()), float(lift))


def measure(points: np.ndarray, image: np.ndarray, layout: str) -> Expression:
    """The ``expression`` measure (see :mod:`facepoints.measures`)."""
    return expression(points, layout)
