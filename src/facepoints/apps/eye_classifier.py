"""Open or closed: a small CNN on eye crops, because landmark models rarely close the eyelids.

Closed eyes are about 2 % of the faces in the training sets, and the landmark model draws
most of them open (docs/applications.md), so the eye aspect ratio of its points misses most
closed eyes. This classifier looks at the pixels instead: each eye is cut out around its
six predicted points (levelled, twice the eye's width, 48 x 48 grey; the subject's left eye
mirrored so both look like a right eye) and scored for "closed". It is trained on the same
training sets, with labels from the annotated eyelids (closed: EAR < 0.12, open: EAR > 0.2),
all closed eyes repeated every epoch against a fresh sample of open ones, and crops jittered
like the landmark model's errors (``scripts/train_eye_state.py``).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from facepoints.backends import OnnxBackend
from facepoints.codec import eye_crops
from facepoints.layouts import Layout
from facepoints.resources import resource_path

__all__ = ["closed_probabilities", "bundled_eye_model", "EYE_MODEL"]

#: The bundled classifier, an ONNX export of ``facepoints.models.eye_state.EyeStateNet`` (no PyTorch at run time).
EYE_MODEL = "eye_state.onnx"


@cache
def bundled_eye_model() -> OnnxBackend:
    """The bundled eye-state classifier in onnxruntime (``resources/eye_state.onnx``)."""
    return OnnxBackend(resource_path(EYE_MODEL), threads=1, name="eye-state")


def closed_probabilities(image: np.ndarray, points: np.ndarray, layout: str | Layout = "ibug68") -> tuple[float, float]:
    """P(closed) of the subject's right and left eye of a face in an RGB image."""
    crops = eye_crops(np.ascontiguousarray(image), points, layout=layout)
    (logits,) = bundled_eye_model().session.run(None, {"image": crops.astype(np.float32)[:, None] / 255.0})
    p = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64).reshape(-1)))
    return float(p[0]), float(p[1])
