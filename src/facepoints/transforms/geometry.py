"""The one geometry core: a 3x3 affine matrix applied to image and keypoints together.

Every geometric transform (resize, crop, rotation, scale, translation, flip, face crop)
only builds a matrix and calls :func:`warp`. Coordinates put pixel centres at integers,
as ``cv2.warpAffine`` does, so a point and the pixel under it move identically.
A matrix with a negative determinant mirrors the image; :func:`warp` then applies the
layout's flip permutation so that point ``i`` keeps its meaning (a left eye stays the
left eye).
"""

from __future__ import annotations

import cv2
import numpy as np

from facepoints.datasets.base import Sample
from facepoints.geometry import _prefilter, resize_matrix, transform_points, warp_image  # noqa: F401
from facepoints.layouts import get_layout

__all__ = [
    "warp",
    "warp_image",
    "transform_points",
    "resize_matrix",
    "translation_matrix",
    "rotation_matrix",
    "scale_matrix",
    "hflip_matrix",
]


def translation_matrix(tx: float, ty: float) -> np.ndarray:
    """Shift by (tx, ty) pixels."""
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], dtype=np.float64)


def rotation_matrix(degrees: float, centre: tuple[float, float]) -> np.ndarray:
    """Rotate by ``degrees`` (counter-clockwise on screen, like OpenCV) about ``centre``."""
    m = np.eye(3)
    m[:2] = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(degrees), 1.0)
    return m


def scale_matrix(factor: float, centre: tuple[float, float]) -> np.ndarray:
    """Zoom by ``factor`` about ``centre``."""
    cx, cy = centre
    return np.array([[factor, 0, cx * (1 - factor)], [0, factor, cy * (1 - factor)], [0, 0, 1]], dtype=np.float64)


def hflip_matrix(width: int) -> np.ndarray:
    """Mirror an image of ``width`` pixels left-right."""
    return np.array([[-1, 0, width - 1], [0, 1, 0], [0, 0, 1]], dtype=np.float64)


def warp(
    sample: Sample,
    matrix: np.ndarray,
    size: tuple[int, int],
    border: int = cv2.BORDER_CONSTANT,
    fill: tuple[int, int, int] = (0, 0, 0),
) -> Sample:
    """Warp image and keypoints by ``matrix`` into an image of ``size`` = (width, height).

    The sample's ``affine`` accumulates the matrix, so the result can always be
    mapped back to the original file's pixels with :meth:`Sample.to_original`.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape == (2, 3):
        matrix = np.vstack([matrix, [0, 0, 1]])
    image = warp_image(sample.image, matrix, size, border, fill)
    points = transform_points(matrix, sample.keypoints)
    mask = sample.mask
    flipped = sample.flipped
    if np.linalg.det(matrix[:2, :2]) < 0:
        perm = get_layout(sample.layout).require_flip()
        points, mask, flipped = points[perm], mask[perm], not flipped
    return sample.replace(
        image=image, keypoints=points, mask=mask, affine=matrix @ sample.affine, flipped=flipped
    )
