"""Open or closed: a small CNN on eye crops, because landmark models rarely close the eyelids.

Closed eyes are about 2 % of the faces in the training sets, and the landmark model draws
most of them open (docs/applications.md), so the eye aspect ratio of its points misses most
closed eyes. This classifier looks at the pixels instead: each eye is cut out around its
six predicted points (levelled, twice the eye's width, 48 x 48 grey; the subject's left eye
mirrored so both look like a right eye) and scored for "closed". It is trained on the same
training sets, with labels from the annotated eyelids (closed: EAR < 0.12, open: EAR > 0.2),
all closed eyes repeated every epoch against a fresh sample of open ones, and crops jittered
like the landmark model's errors (``scripts/train_eye_state.py``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import cv2
import numpy as np
import torch
from torch import nn

from facepoints.apps.eyes import LEFT_EYE, RIGHT_EYE

__all__ = ["EyeStateNet", "eye_crops", "closed_probabilities", "CROP", "bundled_eye_model"]

CROP = 48


class EyeStateNet(nn.Module):
    """Six 3x3 conv blocks (16-96 channels, three stride-2) and a linear "closed" logit; 125 k parameters."""

    def __init__(self) -> None:
        super().__init__()

        def block(i: int, o: int, stride: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))

        self.features = nn.Sequential(
            block(1, 16, 1), block(16, 32, 2), block(32, 32, 1), block(32, 64, 2), block(64, 64, 1), block(64, 96, 2),
            nn.AdaptiveAvgPool2d(1),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(96, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B,) of "closed" for grey crops (B, 1, 48, 48) in [0, 1]."""
        return self.head(self.features(x))[:, 0]


def eye_matrix(points: np.ndarray, eye: tuple[int, ...], mirror: bool, jitter: np.random.Generator | None = None) -> np.ndarray:
    """2x3 matrix from image pixels to the 48 x 48 crop of one eye, levelled along its corners
    ``eye[0] -> eye[3]`` and mirrored left-right if asked."""
    p = np.asarray(points, dtype=np.float64)[list(eye)]
    centre, a, b = p.mean(axis=0), p[0], p[3]
    width = float(np.linalg.norm(b - a))
    angle = float(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])))
    side = 2.0 * max(width, 1.0)
    if jitter is not None:  # like the landmark model's errors: shift, scale, tilt
        centre = centre + jitter.uniform(-0.12, 0.12, 2) * width
        side *= jitter.uniform(0.88, 1.12)
        angle += jitter.uniform(-8, 8)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, CROP / side)
    m[:, 2] += (CROP / 2 - centre[0], CROP / 2 - centre[1])
    if mirror:
        m = np.array([[-1.0, 0, CROP - 1], [0, 1, 0]]) @ np.vstack([m, [0, 0, 1]])
    return m


def eye_crops(image: np.ndarray, points: np.ndarray, jitter: np.random.Generator | None = None) -> np.ndarray:
    """The two grey eye crops (2, 48, 48) uint8 of a face in a grey or RGB image: subject's right
    eye, then left (mirrored). Only the crops are converted to grey, never the whole image."""
    # right eye: corners 36 (outer) and 39, the outer corner on the left of the crop; left eye:
    # corners 42 (inner) and 45, levelled, then mirrored so that its outer corner is on the left too
    crops = [
        cv2.warpAffine(image, eye_matrix(points, eye, mirror, jitter), (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        for eye, mirror in ((RIGHT_EYE, False), (LEFT_EYE, True))
    ]  # fmt: skip
    return np.stack([cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) if c.ndim == 3 else c for c in crops])


@cache
def bundled_eye_model() -> EyeStateNet:
    """The bundled eye-state weights (``resources/eye_state.pt``), in eval mode."""
    path = resources.files("facepoints.resources").joinpath("eye_state.pt")
    net = EyeStateNet()
    net.load_state_dict(torch.load(str(path), map_location="cpu", weights_only=True))
    return net.eval()


@torch.no_grad()
def closed_probabilities(image: np.ndarray, points: np.ndarray, model: EyeStateNet | None = None) -> tuple[float, float]:
    """P(closed) of the subject's right and left eye of a face in an RGB image."""
    crops = torch.from_numpy(eye_crops(np.ascontiguousarray(image), points).astype(np.float32)[:, None] / 255.0)
    p = torch.sigmoid((model or bundled_eye_model())(crops)).numpy()
    return float(p[0]), float(p[1])
