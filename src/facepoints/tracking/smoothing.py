"""Temporal smoothing of landmarks: the One-Euro filter, applied to head motion and face shape.

Casiez, Roussel and Vogel, "1 Euro Filter: A Simple Speed-based Low-pass Filter for Noisy
Input in Interactive Systems", CHI 2012. An exponential low-pass filter whose cutoff
frequency rises with the signal's speed: still points are smoothed hard (no jitter), moving
points are followed closely (little lag).

``min_cutoff`` (Hz) sets the smoothing at rest (lower: smoother, more lag); ``beta`` how
fast the cutoff grows with speed (higher: less lag in motion). Speeds are divided by a
``scale`` (the face's size), so the same parameters fit small and large faces.

:class:`LandmarkSmoother` does not filter the 136 coordinates independently. Each frame's
points are split into a similarity transform (position, size, roll: 4 numbers fitted to all
points, so they carry little noise) and the shape left once that motion is undone; the
motion is filtered with (``min_cutoff``, ``beta``) and the shape, which changes only with
expression, with half of each. Head motion is followed closely while the per-point noise,
which lives in the shape, is smoothed hard; blinks and mouth movements still come through
because a fast change of shape raises its cutoff too. Defaults chosen on clips made from
300-W HELEN training photos (``benchmarks/jitter.py --tune``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from facepoints.geometry import fit_similarity

__all__ = ["OneEuroFilter", "LandmarkSmoother", "DEFAULT_MIN_CUTOFF", "DEFAULT_BETA"]

DEFAULT_MIN_CUTOFF = 1.0
DEFAULT_BETA = 10.0
DEFAULT_D_CUTOFF = 1.0
SHAPE_FACTOR = 0.5  # the shape filter's min_cutoff and beta, relative to the motion filter's


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter over an array of coordinates (any shape), one filter per value."""

    def __init__(self, min_cutoff: float = DEFAULT_MIN_CUTOFF, beta: float = DEFAULT_BETA, d_cutoff: float = DEFAULT_D_CUTOFF) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("One-Euro filter needs min_cutoff > 0, d_cutoff > 0 and beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        """Forget the past (a track restarted)."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        """Filter the values ``x`` observed at time ``t`` (seconds); ``scale`` divides speeds."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt / max(scale, 1e-9)
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        a = _alpha(cutoff, dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x.copy()


class LandmarkSmoother:
    """One-Euro smoothing of a face's points as motion (similarity) plus shape (see the module)."""

    def __init__(self, min_cutoff: float = DEFAULT_MIN_CUTOFF, beta: float = DEFAULT_BETA, d_cutoff: float = DEFAULT_D_CUTOFF) -> None:
        self.motion = OneEuroFilter(min_cutoff, beta, d_cutoff)
        self.shape = OneEuroFilter(min_cutoff * SHAPE_FACTOR, beta * SHAPE_FACTOR, d_cutoff)
        self._reference: np.ndarray | None = None

    def __call__(self, points: np.ndarray, t: float) -> np.ndarray:
        """Smoothed points (N, 2) for the points observed at time ``t`` (seconds)."""
        pts = np.asarray(points, dtype=np.float64)
        if self._reference is None:  # the first frame's shape, centred and of unit size, is the reference
            centred = pts - pts.mean(axis=0)
            self._reference = centred / np.sqrt((centred**2).sum(axis=1).mean())
        matrix = fit_similarity(self._reference, pts)  # reference -> image
        (a, _, tx), (b, _, ty) = matrix
        inverse = cv2.invertAffineTransform(matrix)
        shape = pts @ inverse[:, :2].T + inverse[:, 2]
        a, b, tx, ty = self.motion(np.array([a, b, tx, ty]), t, scale=float(np.hypot(a, b)))
        shape = self.shape(shape, t)
        return shape @ np.array([[a, -b], [b, a]]).T + (tx, ty)

