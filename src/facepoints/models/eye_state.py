"""The eye-state classifier's network (trained by :mod:`facepoints.training.eye_state`; run through its
ONNX export by :mod:`facepoints.apps.eye_classifier`)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EyeStateNet"]


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
