"""A 3D reference of the 68 iBUG points, derived from 2D annotations by factorization.

Head pose needs the 68 points in 3D. Rather than borrowing a model, facepoints derives one
from its own training labels with the Tomasi-Kanade factorization: thousands of centred
2D shapes of faces seen from different angles form a matrix of rank about 3 (an affine
camera per face times one 3D shape). Its SVD gives shape and cameras up to an affine
ambiguity; the metric upgrade (each camera's two rows orthogonal and of equal length) fixes
it up to a rotation and a mirror in depth. The result is then put in a frontal, canonical
frame, made left/right symmetric with the layout's flip permutation and scaled to
millimetres. ``python scripts/derive_face3d.py`` reruns the derivation; the bundled
``ibug68_3d.json`` records the data it used.

Frame: x to the image right for a face looking at the camera (from its right eye to its
left eye), y down, z away from the camera (the nose tip has the smallest z); origin at
the point between the outer eye corners; units: mm, with the outer eye corners 90 mm apart
(the adult mean exocanthion distance is about 87-92 mm).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import numpy as np

from facepoints.layouts import Layout, conversion_table, get_layout

__all__ = ["factorize", "canonical_frame", "symmetrize", "derive_reference", "face3d_reference", "EYE_CORNER_MM"]

#: Outer eye corner distance the reference is scaled to (mm).
EYE_CORNER_MM = 90.0


def factorize(shapes: np.ndarray) -> np.ndarray:
    """3D shape (N, 3) explaining 2D shapes (F, N, 2) under scaled orthographic cameras.

    Rank-3 factorization of the centred measurement matrix, then the metric upgrade. The
    answer is unique up to a rotation, a scale and a mirror in depth (see :func:`canonical_frame`).
    """
    shapes = np.asarray(shapes, dtype=np.float64)
    if shapes.ndim != 3 or shapes.shape[2] != 2 or len(shapes) < 3:
        raise ValueError(f"need (F >= 3, N, 2) shapes, got {shapes.shape}")
    centred = shapes - shapes.mean(axis=1, keepdims=True)
    centred /= np.sqrt((centred**2).sum(axis=(1, 2), keepdims=True) / shapes.shape[1])  # equal weight per face
    w = centred.transpose(0, 2, 1).reshape(-1, shapes.shape[1])  # rows: x of face 0, y of face 0, x of face 1...
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    motion = u[:, :3] * np.sqrt(s[:3])
    structure = np.sqrt(s[:3])[:, None] * vt[:3]

    def quad(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # coefficients of a^T L b in the 6 unknowns of the symmetric 3x3 matrix L
        return np.stack(
            [a[:, 0] * b[:, 0], a[:, 0] * b[:, 1] + a[:, 1] * b[:, 0], a[:, 0] * b[:, 2] + a[:, 2] * b[:, 0],
             a[:, 1] * b[:, 1], a[:, 1] * b[:, 2] + a[:, 2] * b[:, 1], a[:, 2] * b[:, 2]], axis=1,
        )  # fmt: skip

    rx, ry = motion[0::2], motion[1::2]
    system = np.concatenate([quad(rx, rx) - quad(ry, ry), quad(rx, ry)])
    l6 = np.linalg.svd(system)[2][-1]
    big_l = np.array([[l6[0], l6[1], l6[2]], [l6[1], l6[3], l6[4]], [l6[2], l6[4], l6[5]]])
    if np.trace(big_l) < 0:
        big_l = -big_l
    vals, vecs = np.linalg.eigh(big_l)
    if vals.min() <= 0:
        raise ValueError("metric upgrade failed: the shapes show too little change of viewpoint")
    q = vecs * np.sqrt(vals)  # L = Q Q^T
    return (np.linalg.inv(q) @ structure).T


def canonical_frame(points: np.ndarray, layout: str | Layout = "ibug68") -> np.ndarray:
    """Rotate, centre, orient and scale a 3D face into the documented frame (see the module)."""
    lay = get_layout(layout)
    lay.require_anchors("right_eye_outer", "left_eye_outer", "chin", "nose_tip", "jaw", purpose="the canonical frame")
    p = np.asarray(points, dtype=np.float64)
    perm = lay.require_flip()
    pairs = [(i, j) for i, j in enumerate(perm) if i < j]
    # the mid-sagittal plane's normal: the mean direction between mirrored points
    d = np.array([p[j] - p[i] for i, j in pairs])
    right_corner, left_corner = lay.anchor_point(p, "right_eye_outer"), lay.anchor_point(p, "left_eye_outer")
    ref = left_corner - right_corner
    d *= np.sign(d @ ref)[:, None]
    x = d.sum(axis=0)
    x /= np.linalg.norm(x)
    eyes = (right_corner + left_corner) / 2
    down = lay.anchor_point(p, "chin") - eyes  # towards the chin
    y = down - (down @ x) * x
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    q = (p - eyes) @ np.stack([x, y, z]).T
    jaw = q[list(lay.anchors["jaw"])]
    # factorization cannot tell a face from its depth mirror: the nose towards the camera
    if lay.anchor_point(q, "nose_tip")[2] > jaw[:, 2].mean():
        q[:, 2] = -q[:, 2]
    corners = lay.anchor_point(q, "left_eye_outer") - lay.anchor_point(q, "right_eye_outer")
    return q * (EYE_CORNER_MM / np.linalg.norm(corners))


def symmetrize(points: np.ndarray, layout: str = "ibug68") -> np.ndarray:
    """Average a canonical face with its mirror image (x -> -x with the flip permutation)."""
    mirrored = np.asarray(points, dtype=np.float64)[list(get_layout(layout).flip_perm)] * np.array([-1.0, 1.0, 1.0])
    return (points + mirrored) / 2


def derive_reference(shapes: np.ndarray, layout: str = "ibug68") -> np.ndarray:
    """The canonical, symmetric 3D reference (N, 3) in mm from many 2D shapes (F, N, 2)."""
    return symmetrize(canonical_frame(factorize(shapes), layout), layout)


@cache
def _bundled() -> np.ndarray:
    text = resources.files("facepoints.resources").joinpath("ibug68_3d.json").read_text()
    return np.asarray(json.loads(text)["points"], dtype=np.float64)


@cache
def _converted(table: tuple[tuple[int, ...], ...]) -> np.ndarray:
    reference = _bundled()
    return np.array([reference[list(idx)].mean(axis=0) for idx in table])


def face3d_reference(layout: str | Layout = "ibug68") -> np.ndarray:
    """The bundled 3D reference (N, 3) in mm (a copy): the 68 iBUG points, or the points of a
    layout made from them (a subset, a reordering or a conversion such as kaggle15)."""
    return _converted(conversion_table("ibug68", layout)).copy()
