"""Synthetic cartoon faces with exact 68-point labels, made on the spot.

They give the demo command a sample that needs no download and let tests exercise
readers, transforms and training without ``../shared``. Spec: ``synthetic:N`` or
``synthetic:N@SEED`` (default 16 faces, seed 0).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import cv2
import numpy as np

from facepoints.datasets.base import DatasetError, LandmarkDataset, Sample, register_format
from facepoints.layouts import IBUG68, ibug68_mean_shape

_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * _ONE).astype(np.int32).reshape(-1, 1, 2)


def random_face_points(rng: np.random.Generator, size: int) -> np.ndarray:
    """A plausible 68-point shape inside a ``size`` x ``size`` image."""
    shape = ibug68_mean_shape().astype(np.float64).copy()
    shape += rng.normal(0, 0.015, shape.shape)  # individual variation
    shape[:, 0] *= rng.uniform(0.9, 1.1)  # face width
    opening = rng.uniform(0, 0.12)  # open the mouth: move the lower lip down
    shape[list(IBUG68.anchors["lower_lip"]), 1] += opening
    jaw, (chin,) = IBUG68.anchors["jaw"], IBUG68.anchors["chin"]
    around_chin = jaw[jaw.index(chin) - 2 : jaw.index(chin) + 3]
    shape[list(around_chin), 1] += opening * 0.6  # and the chin with it
    eye_dist = size * rng.uniform(0.22, 0.32)
    angle = rng.uniform(-0.35, 0.35)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([size / 2, size * 0.42]) + rng.uniform(-0.08, 0.08, 2) * size
    return (shape @ rot.T) * eye_dist + centre


def render_face(points: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw a cartoon face whose features sit exactly on ``points`` (ibug68)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c0, c1 = rng.uniform(40, 220, 3), rng.uniform(40, 220, 3)
    image = (c0 * (1 - yy[..., None]) + c1 * yy[..., None] + rng.normal(0, 6, (size, size, 3))).clip(0, 255)
    image = np.ascontiguousarray(image.astype(np.uint8))
    aa = cv2.LINE_AA
    part = {name: points[list(idx)] for name, idx in IBUG68.anchors.items()}
    eye_dist = float(np.linalg.norm(part["left_eye_outer"][0] - part["right_eye_outer"][0]))
    up = part["nose_bridge"][0] - part["chin"][0]
    up /= np.linalg.norm(up) + 1e-9
    forehead = np.concatenate([part["right_eyebrow"], part["left_eyebrow"]])[::-1] + up * eye_dist * 0.55
    skin = tuple(float(v) for v in rng.uniform([150, 100, 70], [240, 200, 170]))
    cv2.fillPoly(image, [_fixed(np.concatenate([part["jaw"], forehead]))], skin, aa, _SHIFT)
    shade = tuple(0.7 * v for v in skin)
    for brow in ("right_eyebrow", "left_eyebrow"):
        cv2.polylines(image, [_fixed(part[brow])], False, (60, 40, 30), max(1, int(eye_dist * 0.06)), aa, _SHIFT)
    cv2.polylines(image, [_fixed(part["nose_bridge"])], False, shade, max(1, int(eye_dist * 0.03)), aa, _SHIFT)
    cv2.polylines(image, [_fixed(part["nose_base"])], False, shade, max(1, int(eye_dist * 0.04)), aa, _SHIFT)
    iris = tuple(float(v) for v in rng.uniform(20, 120, 3))
    for name in ("right_eye", "left_eye"):
        eye = part[name]
        cv2.fillPoly(image, [_fixed(eye)], (245, 245, 245), aa, _SHIFT)
        radius = max(1, int(np.linalg.norm(eye[3] - eye[0]) * 0.22 * _ONE))
        cv2.circle(image, tuple(int(v) for v in _fixed(eye.mean(0))[0, 0]), radius, iris, -1, aa, _SHIFT)
        cv2.polylines(image, [_fixed(eye)], True, (40, 30, 30), 1, aa, _SHIFT)
    cv2.fillPoly(image, [_fixed(part["outer_lips"])], (170, 50, 60), aa, _SHIFT)
    cv2.fillPoly(image, [_fixed(part["inner_lips"])], (60, 20, 25), aa, _SHIFT)
    return image


def make_synthetic_sample(seed: int, size: int = 256) -> Sample:
    """One synthetic face, fully determined by ``seed``."""
    rng = np.random.default_rng(seed)
    points = random_face_points(rng, size)
    return Sample(
        image=render_face(points, size, rng),
        keypoints=points.astype(np.float32),
        mask=np.ones(IBUG68.num_points, bool),
        layout="ibug68",
        path=f"synthetic#{seed}",
        identity=f"synthetic_{seed % 8}",
    )


def _render(seed: int, size: int) -> np.ndarray:
    return make_synthetic_sample(seed, size).image


def synthetic_dataset(count: int = 16, seed: int = 0, size: int = 256) -> LandmarkDataset:
    """``count`` synthetic faces; images are drawn when accessed."""
    seeds = [seed * 100_003 + i for i in range(count)]
    points = np.stack([random_face_points(np.random.default_rng(s), size) for s in seeds])
    return LandmarkDataset(
        name=f"synthetic:{count}@{seed}",
        layout="ibug68",
        sources=[partial(_render, s, size) for s in seeds],
        keypoints=points,
        masks=np.ones(points.shape[:2], bool),
        identities=[f"synthetic_{s % 8}" for s in seeds],
        where=[f"synthetic#{s}" for s in seeds],
    )


@register_format("synthetic", lambda path: False)
def read_synthetic(spec: Path) -> LandmarkDataset:
    """``synthetic:N[@SEED]`` -> :func:`synthetic_dataset`."""
    text = str(spec)
    count, _, seed = text.partition("@")
    try:
        return synthetic_dataset(int(count or 16), int(seed or 0))
    except ValueError:
        raise DatasetError(f"synthetic:{text}: expected synthetic:COUNT or synthetic:COUNT@SEED") from None
