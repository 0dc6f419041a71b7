"""Pixel-only augmentations (keypoints untouched): colour, blur, noise, greyscale, occlusion."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facepoints.datasets.base import Sample
from facepoints.transforms.spatial import Transform

__all__ = [
    "ColorJitter",
    "GaussianBlur",
    "GaussianNoise",
    "PoissonNoise",
    "SaltPepperNoise",
    "RandomGrayscale",
    "RandomOcclusion",
    "OneOf",
]


def _with_image(sample: Sample, image: np.ndarray) -> Sample:
    return sample.replace(image=np.ascontiguousarray(np.clip(image, 0, 255).round().astype(np.uint8)))


@dataclass
class ColorJitter(Transform):
    """Random brightness, contrast, saturation (relative amounts) and hue (degrees)."""

    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 10.0
    p: float = 0.8

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        img = sample.image.astype(np.float32)
        img *= 1 + rng.uniform(-self.brightness, self.brightness)
        mean = img.mean()
        img = (img - mean) * (1 + rng.uniform(-self.contrast, self.contrast)) + mean
        img = np.clip(img, 0, 255)
        hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-self.hue, self.hue) / 2) % 180  # OpenCV hue is degrees / 2
        hsv[..., 1] *= 1 + rng.uniform(-self.saturation, self.saturation)
        hsv = np.clip(hsv, 0, [179, 255, 255]).astype(np.uint8)
        return _with_image(sample, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


@dataclass
class GaussianBlur(Transform):
    """Blur with a sigma drawn from [sigma_low, sigma_high] (pixels)."""

    sigma_low: float = 0.3
    sigma_high: float = 2.0
    p: float = 0.3

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        sigma = rng.uniform(self.sigma_low, self.sigma_high)
        return sample.replace(image=cv2.GaussianBlur(sample.image, (0, 0), sigmaX=sigma))


@dataclass
class GaussianNoise(Transform):
    """Add zero-mean Gaussian noise with a standard deviation up to ``sigma`` grey levels."""

    sigma: float = 12.0
    p: float = 0.3

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        noise = rng.normal(0, rng.uniform(0, self.sigma), sample.image.shape)
        return _with_image(sample, sample.image + noise)


@dataclass
class PoissonNoise(Transform):
    """Shot noise: pixels resampled as Poisson counts at ``photons`` per grey level."""

    photons: tuple[float, float] = (0.2, 2.0)
    p: float = 0.2

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        k = rng.uniform(*self.photons)
        return _with_image(sample, rng.poisson(sample.image.astype(np.float64) * k) / k)


@dataclass
class SaltPepperNoise(Transform):
    """Set a fraction (up to ``amount``) of pixels to black or white."""

    amount: float = 0.02
    p: float = 0.2

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        img = sample.image.copy()
        hit = rng.random(img.shape[:2]) < rng.uniform(0, self.amount)
        img[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0, 255)[:, None]
        return sample.replace(image=img)


@dataclass
class RandomGrayscale(Transform):
    """Replace colour by luminance (kept as 3 channels) with probability ``p``."""

    p: float = 0.2

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        grey = cv2.cvtColor(sample.image, cv2.COLOR_RGB2GRAY)
        return sample.replace(image=np.repeat(grey[:, :, None], 3, axis=2))


@dataclass
class RandomOcclusion(Transform):
    """Paint a random rectangle (up to ``max_fraction`` of each side) in a random colour,
    as hands, hair or glasses would hide part of a face; points stay labelled."""

    max_fraction: float = 0.35
    p: float = 0.3

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        img = sample.image.copy()
        h, w = img.shape[:2]
        bw, bh = (rng.uniform(0.1, self.max_fraction, 2) * (w, h)).astype(int)
        x, y = int(rng.integers(0, max(1, w - bw))), int(rng.integers(0, max(1, h - bh)))
        img[y : y + bh, x : x + bw] = rng.integers(0, 256, 3, dtype=np.uint8)
        return sample.replace(image=img)


@dataclass
class OneOf(Transform):
    """Apply one of ``transforms``, chosen uniformly."""

    transforms: tuple[Transform, ...]

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        return self.transforms[int(rng.integers(len(self.transforms)))](sample, rng)
