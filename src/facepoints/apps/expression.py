"""Expression measures from 68 landmarks alone (no extra model).

Every measure is a distance divided by the inter-ocular distance (outer eye corners 36-45,
as in NME), computed after rotating the face so that its eye line is level, so it does not
depend on the face's size in the picture or its roll:

- ``smile_width``: mouth corner to mouth corner (48-54);
- ``mouth_openness``: mean gap between the inner lips (61-67, 62-66, 63-65);
- ``brow_raise``: mean height of the brow points (17-26) above their eye's centre;
- ``mouth_corner_lift``: how far the corners (48, 54) sit above the middle of the lips
  (51, 57); positive in a smile, negative in a frown.

Typical neutral values on the 300-W labels: smile width about 0.5, brow raise about 0.25.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Expression", "expression", "level_face"]


@dataclass
class Expression:
    """Size- and roll-free expression measures of one face (see the module docstring)."""

    smile_width: float
    mouth_openness: float
    brow_raise: float
    mouth_corner_lift: float

    def to_dict(self) -> dict:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def level_face(points: np.ndarray) -> tuple[np.ndarray, float]:
    """68 points rotated about the eye centre so that 36 -> 45 points along +x, scaled so the
    outer eye corners are 1 apart; and that inter-ocular distance in pixels."""
    pts = np.asarray(points, dtype=np.float64)
    axis = pts[45] - pts[36]
    iod = float(np.linalg.norm(axis))
    if iod < 1e-9:
        raise ValueError("the outer eye corners coincide; cannot normalize")
    c, s = axis / iod
    rot = np.array([[c, s], [-s, c]])
    centre = (pts[36] + pts[45]) / 2
    return (pts - centre) @ rot.T / iod, iod


def expression(points: np.ndarray) -> Expression:
    """Expression measures of one face from its 68 points."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"expression needs the 68 iBUG points, got an array of shape {pts.shape}")
    p, _ = level_face(pts)
    gap = np.mean([np.linalg.norm(p[a] - p[b]) for a, b in ((61, 67), (62, 66), (63, 65))])
    right_eye, left_eye = p[36:42].mean(axis=0), p[42:48].mean(axis=0)
    brow = np.concatenate([right_eye[1] - p[17:22, 1], left_eye[1] - p[22:27, 1]]).mean()
    lift = (p[51, 1] + p[57, 1]) / 2 - (p[48, 1] + p[54, 1]) / 2
    return Expression(float(np.linalg.norm(p[54] - p[48])), float(gap), float(brow), float(lift))
