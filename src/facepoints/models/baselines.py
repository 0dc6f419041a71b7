"""Baselines from a presentation on the Kaggle "Facial Keypoints Detection" competition, so every
table shows what a model adds.

- ``mlp_baseline``: flattened 96x96 pixels -> dense 500 ReLU -> dense 100 sigmoid -> 30.
- ``mean_shape``: predicts the training set's mean keypoints whatever the image (the
  presentation's "simple average model", RMSE about 4.0 on Kaggle). It has no trainable
  parameters; :meth:`MeanShape.fit` sets it from training targets.
"""

from __future__ import annotations

import torch
from torch import nn

from facepoints.models.registry import KeypointModel, register_model


class MLPBaseline(KeypointModel):
    def __init__(self, num_points: int, in_channels: int, input_size: tuple[int, int]) -> None:
        super().__init__(num_points, in_channels, input_size)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * input_size[0] * input_size[1], 500), nn.ReLU(),
            nn.Linear(500, 100), nn.Sigmoid(),
            nn.Linear(100, 2 * num_points),
        )  # fmt: skip

    def forward(self, x):
        return self.net(x).view(-1, self.num_points, 2)


class MeanShape(KeypointModel):
    def __init__(self, num_points: int, in_channels: int, input_size: tuple[int, int]) -> None:
        super().__init__(num_points, in_channels, input_size)
        self.register_buffer("mean", torch.zeros(num_points, 2))

    def fit(self, targets: torch.Tensor, mask: torch.Tensor) -> None:
        """Set the prediction to the per-point mean of the labelled training targets."""
        m = mask.to(targets.dtype).unsqueeze(-1)
        self.mean.copy_((targets * m).sum(0) / m.sum(0).clamp(min=1))

    def forward(self, x):
        return self.mean.expand(x.shape[0], -1, -1)


@register_model(
    "mlp_baseline", summary="Kaggle deck MLP: pixels -> 500 -> 100 -> 30", num_points=15, in_channels=1,
    input_size=(96, 96), layout="kaggle15",
)
def mlp_baseline(num_points: int, in_channels: int, input_size: tuple[int, int]) -> MLPBaseline:
    return MLPBaseline(num_points, in_channels, input_size)


@register_model(
    "mean_shape", summary="training-set mean keypoints (no parameters)", num_points=68, in_channels=1,
    input_size=(112, 112), layout="ibug68",
)
def mean_shape(num_points: int, in_channels: int, input_size: tuple[int, int]) -> MeanShape:
    return MeanShape(num_points, in_channels, input_size)
