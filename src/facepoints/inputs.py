"""How a model's input is made from a sample, stored with the model so inference matches training.

Three crop modes:

- ``face``: a square crop around the face box (the landmarks' box in training, with jitter
  imitating a detector; a detector's box at inference) with a margin, resized to the input;
- ``full``: the whole image resized to the input (the Udacity course project's notebooks);
- ``rescale-crop`` (formerly ``seed``): ``full`` at test time, ``Rescale(250) -> RandomCrop(227)``
  style in training (the rescale is the input size times 250/227).
"""

from __future__ import annotations

from facepoints.codec import CROP_MODES, InputSpec
from facepoints.datasets.base import Sample
from facepoints.transforms import (
    Compose,
    FaceCrop,
    Normalize,
    RandomCrop,
    Rescale,
    ToTensor,
    augmentation,
    crop_face,
    keypoint_box,
)

__all__ = ["CROP_MODES", "InputSpec", "build_transform", "precrop"]



def build_transform(spec: InputSpec, train: bool, augment: str = "none") -> Compose:
    """Sample -> tensors for this input spec; ``train`` adds box jitter / random crops and ``augment``."""
    h, w = spec.size
    steps: list = []
    if train:
        steps.append(augmentation(augment))
    if spec.crop == "face":
        steps.append(FaceCrop(h, spec.margin, spec.box_shift if train else 0.0, spec.box_scale if train else 0.0))
    elif spec.crop == "rescale-crop" and train:
        steps += [Rescale((round(h * 250 / 227), round(w * 250 / 227))), RandomCrop((h, w))]
    else:
        steps.append(Rescale((h, w)))
    steps += [Normalize((h, w), spec.grey, spec.normalization), ToTensor()]
    return Compose(steps)


def precrop(sample: Sample, size: int, margin: float = 0.5) -> Sample:
    """A loose square crop around the labelled face (``margin`` of the box on each side),
    so training can cache small images and still rotate, zoom and jitter freely."""
    return crop_face(sample, keypoint_box(sample), size, margin)
