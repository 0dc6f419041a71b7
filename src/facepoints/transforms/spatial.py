"""Geometric transforms: each one builds a matrix and hands it to :func:`geometry.warp`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepoints.datasets.base import Sample
from facepoints.transforms.geometry import (
    hflip_matrix,
    resize_matrix,
    rotation_matrix,
    scale_matrix,
    translation_matrix,
    warp,
)

__all__ = [
    "Transform",
    "Rescale",
    "RandomCrop",
    "CenterCrop",
    "RandomRotation",
    "RandomHorizontalFlip",
    "RandomScale",
    "RandomTranslate",
]


class Transform:
    """A sample -> sample step. Random ones draw only from the ``rng`` they are given,
    so a (seed, epoch, index) triple reproduces an augmentation exactly."""

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:  # pragma: no cover - interface
        raise NotImplementedError


def _size(sample: Sample) -> tuple[int, int]:
    h, w = sample.image.shape[:2]
    return w, h


def _centre(sample: Sample) -> tuple[float, float]:
    w, h = _size(sample)
    return (w - 1) / 2, (h - 1) / 2


@dataclass
class Rescale(Transform):
    """Resize to ``size``: an (height, width) pair exactly, or an int for the shorter side
    (aspect kept), as the Udacity notebook's ``Rescale``."""

    size: int | tuple[int, int]

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        if isinstance(self.size, int):
            s = self.size / min(width, height)
            return max(1, round(width * s)), max(1, round(height * s))
        return int(self.size[1]), int(self.size[0])

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        w, h = _size(sample)
        out = self.output_size(w, h)
        return warp(sample, resize_matrix((w, h), out), out)


@dataclass
class RandomCrop(Transform):
    """Cut a random (height, width) window, as the Udacity notebook's ``RandomCrop``."""

    size: tuple[int, int]

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        w, h = _size(sample)
        ch, cw = self.size
        if cw > w or ch > h:
            raise ValueError(f"RandomCrop {self.size} is larger than the image {h}x{w}")
        left = int(rng.integers(0, w - cw + 1))
        top = int(rng.integers(0, h - ch + 1))
        return warp(sample, translation_matrix(-left, -top), (cw, ch))


@dataclass
class CenterCrop(Transform):
    """Cut the central (height, width) window."""

    size: tuple[int, int]

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        w, h = _size(sample)
        ch, cw = self.size
        return warp(sample, translation_matrix(-((w - cw) // 2), -((h - ch) // 2)), (cw, ch))


@dataclass
class RandomRotation(Transform):
    """Rotate about the image centre by an angle drawn from [-degrees, degrees] (any angle up to 180)."""

    degrees: float = 30.0
    p: float = 1.0

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        angle = rng.uniform(-self.degrees, self.degrees)
        return warp(sample, rotation_matrix(angle, _centre(sample)), _size(sample))


@dataclass
class RandomHorizontalFlip(Transform):
    """Mirror left-right with probability ``p``; the layout's permutation keeps point meanings."""

    p: float = 0.5

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        w, _ = _size(sample)
        return warp(sample, hflip_matrix(w), _size(sample))


@dataclass
class RandomScale(Transform):
    """Zoom about the centre by a factor drawn from ``[low, high]`` (image size unchanged)."""

    low: float = 0.9
    high: float = 1.1

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        factor = rng.uniform(self.low, self.high)
        return warp(sample, scale_matrix(factor, _centre(sample)), _size(sample))


@dataclass
class RandomTranslate(Transform):
    """Shift by up to ``fraction`` of the width and height."""

    fraction: float = 0.1

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        w, h = _size(sample)
        tx, ty = rng.uniform(-self.fraction, self.fraction, 2) * (w, h)
        return warp(sample, translation_matrix(tx, ty), (w, h))
