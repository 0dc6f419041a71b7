"""Eye and mouth state from 68 landmarks: eye aspect ratio (EAR) and mouth aspect ratio (MAR).

EAR (Soukupova & Cech, "Real-Time Eye Blink Detection using Facial Landmarks", CVWW 2016)
for an eye outlined by p1..p6 (corners p1, p4; upper lid p2, p3; lower lid p6, p5)::

    EAR = (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|)

About 0.3 for an open eye, near 0 for a closed one: on the 300-W and Udacity labels the
median EAR is 0.27-0.36 and the faces we checked by eye as closed lie below 0.1
(``docs/applications.md``). ``EAR_THRESHOLD = 0.2``, the usual choice since the paper, splits
them; ``eyes_open`` reports a probability that is 0.5 at the threshold (a logistic of slope
``1 / EAR_SCALE``).

MAR: the same idea for the inner lip contour (60-67): the mean of the three vertical gaps
over the inner mouth width; 0 for closed lips, above ``MAR_THRESHOLD`` for an open mouth.

Given the image as well, :func:`eye_state` also asks the eye-state classifier
(:mod:`facepoints.apps.eye_classifier`), which looks at the eye's pixels: landmark models
rarely close the eyelids they draw, so the EAR of predicted points misses most closed eyes.
The open probabilities then come from the classifier (open when P(closed) < 0.5); the EARs
are still reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EyeState", "eye_state", "eye_aspect_ratio", "mouth_aspect_ratio", "EAR_THRESHOLD", "MAR_THRESHOLD"]

EAR_THRESHOLD = 0.2
EAR_SCALE = 0.03
MAR_THRESHOLD = 0.3

#: p1..p6 of each eye in iBUG 68 indices (subject's right eye, then left eye)
RIGHT_EYE = (36, 37, 38, 39, 40, 41)
LEFT_EYE = (42, 43, 44, 45, 46, 47)


def _dist(points: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(points[..., a, :] - points[..., b, :], axis=-1)


def eye_aspect_ratio(points: np.ndarray, eye: tuple[int, ...] = RIGHT_EYE) -> np.ndarray:
    """EAR of one eye for 68-point shapes (..., 68, 2) -> (...)."""
    p1, p2, p3, p4, p5, p6 = eye
    pts = np.asarray(points, dtype=np.float64)
    return (_dist(pts, p2, p6) + _dist(pts, p3, p5)) / (2 * np.maximum(_dist(pts, p1, p4), 1e-9))


def mouth_aspect_ratio(points: np.ndarray) -> np.ndarray:
    """MAR of the inner lip contour for 68-point shapes (..., 68, 2) -> (...)."""
    pts = np.asarray(points, dtype=np.float64)
    gaps = _dist(pts, 61, 67) + _dist(pts, 62, 66) + _dist(pts, 63, 65)
    return gaps / (3 * np.maximum(_dist(pts, 60, 64), 1e-9))


def _open_probability(ear: float) -> float:
    return float(1.0 / (1.0 + np.exp(-(ear - EAR_THRESHOLD) / EAR_SCALE)))


@dataclass
class EyeState:
    """Per-eye EAR and open probabilities, and the mouth's MAR."""

    ear_right: float  # subject's right eye (image left for a face looking at the camera)
    ear_left: float
    mar: float
    closed_right: float | None = None  # P(closed) from the eye-state classifier, when it ran
    closed_left: float | None = None

    @property
    def right_open(self) -> float:
        """Probability that the subject's right eye is open."""
        return 1 - self.closed_right if self.closed_right is not None else _open_probability(self.ear_right)

    @property
    def left_open(self) -> float:
        return 1 - self.closed_left if self.closed_left is not None else _open_probability(self.ear_left)

    @property
    def ear(self) -> float:
        """Mean EAR of both eyes (what blink detectors threshold)."""
        return (self.ear_right + self.ear_left) / 2

    @property
    def eyes_open(self) -> float:
        """Probability that the eyes are open: the classifier's mean over both eyes, or without
        it a logistic of the mean EAR (0.5 at ``EAR_THRESHOLD``)."""
        if self.closed_right is not None and self.closed_left is not None:
            return 1 - (self.closed_right + self.closed_left) / 2
        return _open_probability(self.ear)

    @property
    def mouth_open(self) -> bool:
        return self.mar > MAR_THRESHOLD

    def to_dict(self) -> dict:
        """JSON-ready ratios, probabilities and flags."""
        return {
            "ear_right": round(self.ear_right, 4),
            "ear_left": round(self.ear_left, 4),
            "ear": round(self.ear, 4),
            "right_open": round(self.right_open, 4),
            "left_open": round(self.left_open, 4),
            "eyes_open": round(self.eyes_open, 4),
            "eye_method": "classifier" if self.closed_right is not None else "ear",
            "mar": round(self.mar, 4),
            "mouth_open": self.mouth_open,
        }


def eye_state(points: np.ndarray, image: np.ndarray | None = None) -> EyeState:
    """Eye and mouth state of one face from its 68 points, and from the eye-state classifier
    when the (RGB) ``image`` is given."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"eye state needs the 68 iBUG points, got an array of shape {pts.shape}")
    state = EyeState(float(eye_aspect_ratio(pts, RIGHT_EYE)), float(eye_aspect_ratio(pts, LEFT_EYE)), float(mouth_aspect_ratio(pts)))
    if image is not None:
        from facepoints.apps.eye_classifier import closed_probabilities  # loads torch weights on first use

        state.closed_right, state.closed_left = closed_probabilities(image, pts)
    return state
