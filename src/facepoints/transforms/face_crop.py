"""From a face box to the model's square input crop, and exactly back.

A box is ``(x1, y1, x2, y2)`` in pixel coordinates. :func:`square_crop_matrix` turns it
into a square of side ``max(w, h) * (1 + 2 * margin)`` around the box centre, resized to
``out_size``; the resulting sample's ``to_original`` maps predicted points back to the
source image. During training the box comes from the landmarks, with jitter that
imitates a detector's boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepoints.datasets.base import Sample
from facepoints.geometry import square_crop_matrix  # noqa: F401
from facepoints.transforms.geometry import warp
from facepoints.transforms.spatial import Transform

__all__ = ["square_crop_matrix", "crop_face", "keypoint_box", "FaceCrop"]


def crop_face(sample: Sample, box: np.ndarray | tuple, out_size: int, margin: float = 0.25) -> Sample:
    """The square crop of ``box`` (borders padded with black)."""
    return warp(sample, square_crop_matrix(box, out_size, margin), (out_size, out_size))


def keypoint_box(sample: Sample) -> np.ndarray:
    """Tight box around the labelled keypoints."""
    pts = sample.keypoints[sample.mask]
    if len(pts) < 2:
        raise ValueError(f"{sample.path}: fewer than two labelled keypoints, cannot make a face box")
    return np.concatenate([pts.min(0), pts.max(0)]).astype(np.float64)


@dataclass
class FaceCrop(Transform):
    """Crop the face (box from the keypoints) to an ``out_size`` square with ``margin``.

    ``shift`` (fraction of the box side) and ``scale`` (relative range) jitter the box
    so a model trained on these crops tolerates a detector's imprecise boxes.
    """

    out_size: int = 128
    margin: float = 0.25
    shift: float = 0.0
    scale: float = 0.0

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        box = keypoint_box(sample)
        if self.shift or self.scale:
            size = box[2:] - box[:2]
            centre = (box[:2] + box[2:]) / 2 + rng.uniform(-self.shift, self.shift, 2) * size.max()
            half = size / 2 * (1 + rng.uniform(-self.scale, self.scale))
            box = np.concatenate([centre - half, centre + half])
        return crop_face(sample, box, self.out_size, self.margin)
