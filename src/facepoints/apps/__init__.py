"""Applications over the landmarks: head pose, eye state, expression, alignment, filters.

Each module works on plain point arrays of a layout (``ibug68`` unless told), read through
the layout's anchors; the two helpers here run the default (or a given) landmarker first, for
the CLI verbs ``facepoints filter`` and ``facepoints align``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from facepoints.apps.align import AlignedFace, align_face
from facepoints.apps.filters import FilterFn, make_filter

if TYPE_CHECKING:
    from facepoints.landmarker import Face, FaceLandmarker

__all__ = ["filter_faces", "align_faces"]


def _landmarks(image: np.ndarray, landmarker: FaceLandmarker | None) -> list[Face]:
    from facepoints.landmarker import detect  # the landmarker imports the measures from this package

    return landmarker.detect(image) if landmarker is not None else detect(image)


def filter_faces(
    image: np.ndarray, name: str | FilterFn, anchors: str | dict | None = None, landmarker: FaceLandmarker | None = None
) -> tuple[np.ndarray, list[Face]]:
    """Detect every face in an RGB image and apply a filter: a name (with ``anchors``, see
    :func:`facepoints.apps.filters.make_filter`) or, for many images, a filter made once by
    ``make_filter``. Returns the new image and the faces."""
    faces = _landmarks(image, landmarker)
    layout = faces[0].layout if faces else "ibug68"  # one landmarker, one layout
    apply = make_filter(name, anchors, layout) if isinstance(name, str) else name
    return apply(image, [f.points for f in faces]), faces


def align_faces(
    image: np.ndarray, size: int = 112, template: str = "arcface", landmarker: FaceLandmarker | None = None
) -> list[AlignedFace]:
    """Detect every face in an RGB image and return each one aligned to ``template``."""
    return [align_face(image, f.points, size, template, f.layout) for f in _landmarks(image, landmarker)]
