"""Measures of a landmark shape read through its layout's anchors: the eye aspect ratio (EAR) and the
mouth aspect ratio (MAR). Below the applications, so training and tracking can use them too.

EAR (Soukupova & Cech, CVWW 2016) for an eye outlined by p1..p6 (corners p1, p4; upper lid p2, p3;
lower lid p6, p5)::

    EAR = (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|)

MAR: the same idea for the eight-point inner lip outline: the mean of the three vertical gaps over
the inner mouth width.
"""

from __future__ import annotations

import numpy as np

from facepoints.layouts import Layout, get_layout

__all__ = ["eye_aspect_ratio", "mouth_aspect_ratio"]


def _dist(points: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(points[..., a, :] - points[..., b, :], axis=-1)


def _outline(layout: Layout, anchor: str, count: int, purpose: str) -> tuple[int, ...]:
    """The points of an outline anchor, which must have ``count`` points for ``purpose``."""
    (idx,) = layout.require_anchors(anchor, purpose=purpose)
    if len(idx) != count:
        raise ValueError(f"{purpose} needs {count} points in anchor {anchor}; layout {layout.name} has {len(idx)}")
    return idx


def eye_aspect_ratio(points: np.ndarray, eye: str = "right_eye", layout: str | Layout = "ibug68") -> np.ndarray:
    """EAR of one eye (the ``right_eye`` or ``left_eye`` anchor) for shapes (..., N, 2) -> (...)."""
    p1, p2, p3, p4, p5, p6 = _outline(get_layout(layout), eye, 6, "the eye aspect ratio")
    pts = np.asarray(points, dtype=np.float64)
    return (_dist(pts, p2, p6) + _dist(pts, p3, p5)) / (2 * np.maximum(_dist(pts, p1, p4), 1e-9))


def mouth_aspect_ratio(points: np.ndarray, layout: str | Layout = "ibug68") -> np.ndarray:
    """MAR of the inner lip outline (the ``inner_lips`` anchor) for shapes (..., N, 2) -> (...)."""
    corner1, upper1, upper2, upper3, corner2, lower3, lower2, lower1 = _outline(
        get_layout(layout), "inner_lips", 8, "the mouth aspect ratio"
    )
    pts = np.asarray(points, dtype=np.float64)
    gaps = _dist(pts, upper1, lower1) + _dist(pts, upper2, lower2) + _dist(pts, upper3, lower3)
    return gaps / (3 * np.maximum(_dist(pts, corner1, corner2), 1e-9))
