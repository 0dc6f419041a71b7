"""Test clips made from one labelled photo moving along a known path.

Each frame is the photo warped by a slowly varying similarity (translation, scale and
rotation on sine waves), plus sensor noise and a JPEG re-encoding, so the true landmark
positions of every frame are known exactly. The jitter benchmark and the video tests use it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facepoints.transforms.geometry import transform_points, warp_image

__all__ = ["ClipPath", "make_clip", "write_clip"]


@dataclass(frozen=True)
class ClipPath:
    """Slow motion of the face: amplitudes and periods (in frames) of each sine wave."""

    shift: tuple[float, float] = (60.0, 30.0)  # pixels
    scale: float = 0.12  # relative
    rotation: float = 10.0  # degrees
    periods: tuple[float, float, float, float] = (150.0, 110.0, 130.0, 170.0)  # x, y, scale, rotation

    def matrix(self, t: int, centre: tuple[float, float]) -> np.ndarray:
        """3x3 similarity of frame ``t`` about ``centre`` (the face centre)."""
        px, py, ps, pr = (np.sin(2 * np.pi * t / p) for p in self.periods)
        m = np.eye(3)
        m[:2] = cv2.getRotationMatrix2D(centre, self.rotation * pr, 1 + self.scale * ps)
        m[:2, 2] += (self.shift[0] * px, self.shift[1] * py)
        return m


def make_clip(
    image: np.ndarray,
    points: np.ndarray,
    frames: int = 150,
    size: tuple[int, int] = (640, 480),
    path: ClipPath | None = None,
    noise: float = 3.0,
    jpeg_quality: int = 75,
    face_width: float = 180.0,
    seed: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (RGB frame, true points) pairs: the face of ``image`` (with ``points``) about
    ``face_width`` pixels wide, centred in a ``size`` frame, moving along ``path``."""
    path = path or ClipPath()
    rng = np.random.default_rng(seed)
    pts = np.asarray(points, dtype=np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    zoom = face_width / max(hi[0] - lo[0], 1.0)
    centre = (size[0] / 2, size[1] / 2)
    place = np.array([[zoom, 0, centre[0] - zoom * (lo[0] + hi[0]) / 2], [0, zoom, centre[1] - zoom * (lo[1] + hi[1]) / 2], [0, 0, 1]])
    for t in range(frames):
        m = path.matrix(t, centre) @ place
        frame = warp_image(image, m, size, border=cv2.BORDER_REFLECT).astype(np.float32)
        frame += rng.normal(0, noise, frame.shape)
        _, buf = cv2.imencode(".jpg", np.clip(frame, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        yield cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), transform_points(m, pts)


def write_clip(target: str | os.PathLike, clip: Iterator[tuple[np.ndarray, np.ndarray]], fps: float = 30.0) -> np.ndarray:
    """Write a clip's frames as a video (mp4v); returns the true points (frames, N, 2)."""
    truth, writer = [], None
    for frame, pts in clip:
        if writer is None:
            writer = cv2.VideoWriter(str(Path(target)), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        truth.append(pts)
    if writer is not None:
        writer.release()
    return np.array(truth)
