"""Eye and mouth state from landmarks: eye aspect ratio (EAR) and mouth aspect ratio (MAR).

EAR (Soukupova & Cech, "Real-Time Eye Blink Detection using Facial Landmarks", CVWW 2016)
for an eye outlined by p1..p6 (corners p1, p4; upper lid p2, p3; lower lid p6, p5; the
layout's ``right_eye`` and ``left_eye`` anchors, as in iBUG 68)::

    EAR = (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|)

About 0.3 for an open eye, near 0 for a closed one: on the 300-W and Udacity labels the
median EAR is 0.27-0.36 and the faces we checked by eye as closed lie below 0.1
(``docs/applications.md``). ``EAR_THRESHOLD = 0.2``, the usual choice since the paper, splits
them; ``eyes_open`` reports a probability that is 0.5 at the threshold (a logistic of slope
``1 / EAR_SCALE``).

MAR: the same idea for the eight-point inner lip outline (the ``inner_lips`` anchor): the
mean of the three vertical gaps over the inner mouth width; 0 for closed lips, above
``MAR_THRESHOLD`` for an open mouth.

Given the image as well, :func:`eye_state` also asks the eye-state classifier
(:mod:`facepoints.apps.eye_classifier`), which looks at the eye's pixels: landmark models
rarely close the eyelids they draw, so the EAR of predicted points misses most closed eyes.
The open probabilities then come from the classifier (open when P(closed) < 0.5); the EARs
are still reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepoints.apps.eye_classifier import closed_probabilities
from facepoints.layouts import Layout, get_layout
from facepoints.shape import eye_aspect_ratio, mouth_aspect_ratio

__all__ = ["EyeState", "eye_state", "eye_aspect_ratio", "mouth_aspect_ratio", "EAR_THRESHOLD", "MAR_THRESHOLD"]

EAR_THRESHOLD = 0.2
EAR_SCALE = 0.03
MAR_THRESHOLD = 0.3


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


def eye_state(points: np.ndarray, image: np.ndarray | None = None, layout: str | Layout = "ibug68") -> EyeState:
    """Eye and mouth state of one face from its points, and from the eye-state classifier
    when the (RGB) ``image`` is given."""
    lay = get_layout(layout)
    pts = lay.require_points(points, "eye state")
    right, left = (float(eye_aspect_ratio(pts, eye, lay)) for eye in ("right_eye", "left_eye"))
    state = EyeState(right, left, float(mouth_aspect_ratio(pts, lay)))
    if image is not None:
        state.closed_right, state.closed_left = closed_probabilities(image, pts, layout=lay)
    return state


def measure(points: np.ndarray, image: np.ndarray, layout: str) -> EyeState:
    """The ``eyes`` measure (see :mod:`facepoints.measures`): EAR, MAR and the eye-state classifier."""
    return eye_state(points, image, layout)
