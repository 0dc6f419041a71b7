"""Composition, normalization to network inputs, augmentation presets and the Udacity project's pipelines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facepoints.codec import KeypointNormalization, model_pixels
from facepoints.datasets.base import Sample
from facepoints.transforms.photometric import (
    ColorJitter,
    GaussianBlur,
    GaussianNoise,
    OneOf,
    PoissonNoise,
    RandomGrayscale,
    RandomOcclusion,
    SaltPepperNoise,
)
from facepoints.transforms.spatial import (
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotation,
    RandomScale,
    RandomTranslate,
    Rescale,
    Transform,
)

__all__ = [
    "Compose",
    "KeypointNormalization",
    "Normalize",
    "NormalizedSample",
    "ToTensor",
    "AUGMENT_PRESETS",
    "augmentation",
    "seed_train_transform",
    "seed_test_transform",
    "sample_rng",
]


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator for one sample in one epoch: augmentations are reproducible and
    independent of worker count or resume point."""
    return np.random.default_rng([seed, epoch, index])


class Compose(Transform):
    """Apply transforms in order, each drawing from the same generator."""

    def __init__(self, transforms: Sequence) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample, rng: np.random.Generator | None = None):
        rng = rng if rng is not None else np.random.default_rng()
        for t in self.transforms:
            sample = t(sample, rng)
        return sample

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"




@dataclass
class NormalizedSample:
    """Network-ready arrays plus the sample they came from (for mapping back)."""

    image: np.ndarray  # CxHxW float32 in [0, 1]
    keypoints: np.ndarray  # Nx2 float32, normalized
    mask: np.ndarray  # N bool
    source: Sample
    normalization: KeypointNormalization


@dataclass
class Normalize(Transform):
    """Grey (or RGB) pixels to [0, 1] floats; keypoints to about [-1, 1] for a ``size`` input.

    ``size`` is (height, width) of the network input; the image must already have it.
    """

    size: tuple[int, int]
    grey: bool = True
    keypoint_norm: KeypointNormalization | None = None  # default: image edges -> about [-1, 1]

    @property
    def normalization(self) -> KeypointNormalization:
        return self.keypoint_norm or KeypointNormalization.for_size(self.size[1], self.size[0])

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> NormalizedSample:
        h, w = sample.image.shape[:2]
        if (h, w) != tuple(self.size):
            raise ValueError(f"Normalize expects a {self.size[0]}x{self.size[1]} image, got {h}x{w}; rescale or crop first")
        norm = self.normalization
        return NormalizedSample(model_pixels(sample.image, self.grey), norm.forward(sample.keypoints), sample.mask.copy(), sample, norm)


class ToTensor(Transform):
    """NormalizedSample -> dict of tensors (``image`` CxHxW, ``keypoints`` Nx2, ``mask`` N)."""

    def __call__(self, sample: NormalizedSample, rng: np.random.Generator | None = None) -> dict:
        import torch  # only training builds tensors; inference needs no torch

        return {
            "image": torch.from_numpy(np.ascontiguousarray(sample.image)),
            "keypoints": torch.from_numpy(np.ascontiguousarray(sample.keypoints)),
            "mask": torch.from_numpy(np.ascontiguousarray(sample.mask)),
        }

    def __repr__(self) -> str:
        return "ToTensor()"


def seed_train_transform(rescale: int = 250, crop: int = 227, grey: bool = True) -> Compose:
    """The Udacity "P1 Facial Keypoints" training pipeline: Rescale(250) -> RandomCrop(227) -> Normalize -> ToTensor."""
    return Compose([Rescale((rescale, rescale)), RandomCrop((crop, crop)), Normalize((crop, crop), grey), ToTensor()])


def seed_test_transform(size: int = 227, grey: bool = True) -> Compose:
    """The Udacity "P1 Facial Keypoints" test pipeline: Rescale(227) -> Normalize -> ToTensor."""
    return Compose([Rescale((size, size)), Normalize((size, size), grey), ToTensor()])


def _photometric(strength: float) -> list[Transform]:
    return [
        ColorJitter(0.4 * strength, 0.4 * strength, 0.4 * strength, 12 * strength, p=0.8),
        RandomGrayscale(p=0.2),
        GaussianBlur(0.3, 0.5 + 1.5 * strength, p=0.3),
        OneOf((GaussianNoise(6 + 10 * strength), PoissonNoise(), SaltPepperNoise(0.005 + 0.02 * strength))),
    ]


AUGMENT_PRESETS: dict[str, str] = {
    "none": "no augmentation",
    "flip": "horizontal flip (with the layout's permutation) only",
    "light": "flip, rotation +-15, scale 0.9-1.1, translation 5 %, colour jitter, blur, noise",
    "strong": "flip, rotation +-35, scale 0.75-1.25, translation 10 %, colour, blur, noise, greyscale, occlusion",
}


def augmentation(preset: str = "light") -> Compose:
    """A size-preserving augmentation pipeline by preset name (see ``AUGMENT_PRESETS``)."""
    if preset not in AUGMENT_PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}; choose from {', '.join(AUGMENT_PRESETS)}")
    if preset == "none":
        return Compose([])
    if preset == "flip":
        return Compose([RandomHorizontalFlip()])
    if preset == "light":
        geo = [RandomHorizontalFlip(), RandomRotation(15), RandomScale(0.9, 1.1), RandomTranslate(0.05)]
        return Compose(geo + _photometric(0.5))
    geo = [RandomHorizontalFlip(), RandomRotation(35, p=0.8), RandomScale(0.75, 1.25), RandomTranslate(0.1)]
    # occlusion comes last so that it is never blurred or recoloured away
    return Compose(geo + _photometric(1.0) + [RandomOcclusion(p=0.4)])
