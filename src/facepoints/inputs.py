"""How a model's input is made from a sample, stored with the model so inference matches training.

Three crop modes:

- ``face``: a square crop around the face box (the landmarks' box in training, with jitter
  imitating a detector; a detector's box at inference) with a margin, resized to the input;
- ``full``: the whole image resized to the input (the Udacity seed notebooks);
- ``seed``: ``full`` at test time, ``Rescale(250) -> RandomCrop(227)`` style in training
  (the rescale is the input size times 250/227).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from facepoints.datasets.base import Sample
from facepoints.transforms import (
    Compose,
    FaceCrop,
    KeypointNormalization,
    Normalize,
    RandomCrop,
    Rescale,
    ToTensor,
    augmentation,
    crop_face,
    keypoint_box,
)

__all__ = ["InputSpec", "build_transform", "precrop"]

CROP_MODES = ("face", "full", "seed")


@dataclass(frozen=True)
class InputSpec:
    """Input contract of a model: size (height, width), grey or RGB, crop mode and keypoint normalization."""

    size: tuple[int, int]
    grey: bool = True
    crop: str = "face"
    margin: float = 0.25
    box_shift: float = 0.08
    box_scale: float = 0.1
    output_range: str = "centered"

    def __post_init__(self) -> None:
        if self.crop not in CROP_MODES:
            raise ValueError(f"unknown crop mode {self.crop!r}; choose from {', '.join(CROP_MODES)}")
        if self.crop == "face" and self.size[0] != self.size[1]:
            raise ValueError(f"face crops are square; input size {self.size} is not")

    @property
    def normalization(self) -> KeypointNormalization:
        h, w = self.size
        return KeypointNormalization.unit(w, h) if self.output_range == "unit" else KeypointNormalization.for_size(w, h)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"] = list(self.size)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> InputSpec:
        data = dict(data)
        data["size"] = tuple(data["size"])
        return cls(**data)


def build_transform(spec: InputSpec, train: bool, augment: str = "none") -> Compose:
    """Sample -> tensors for this input spec; ``train`` adds box jitter / random crops and ``augment``."""
    h, w = spec.size
    steps: list = []
    if train:
        steps.append(augmentation(augment))
    if spec.crop == "face":
        steps.append(FaceCrop(h, spec.margin, spec.box_shift if train else 0.0, spec.box_scale if train else 0.0))
    elif spec.crop == "seed" and train:
        steps += [Rescale((round(h * 250 / 227), round(w * 250 / 227))), RandomCrop((h, w))]
    else:
        steps.append(Rescale((h, w)))
    steps += [Normalize((h, w), spec.grey, spec.normalization), ToTensor()]
    return Compose(steps)


def precrop(sample: Sample, size: int, margin: float = 0.5) -> Sample:
    """A loose square crop around the labelled face (``margin`` of the box on each side),
    so training can cache small images and still rotate, zoom and jitter freely."""
    return crop_face(sample, keypoint_box(sample), size, margin)
