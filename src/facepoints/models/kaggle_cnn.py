"""Networks from solution write-ups of the Kaggle "Facial Keypoints Detection" competition (96x96 grey input).

- ``kaggle_cnn``: five 3x3 'same' conv blocks of 32/64/128/256/512 filters, each
  LeakyReLU(0.1) + 2x2 max-pool; dense 500 ReLU, dropout 0.5, dense 100 ReLU, dense 30
  with a sigmoid (so keypoints are predicted as fractions of the image size).
- ``kaggle_cnn_bn``: the ten-conv network of a write-up that trains two models: pairs of 5x5 then
  3x3 convs (no bias) of 32/64/128/256/512 filters, each followed by LeakyReLU(0.1) and
  batch norm, with 2x2 max-pools between the pairs; dense 512 ReLU, dropout 0.1, dense
  out. That write-up trains it twice: 30 outputs (15 points) on complete rows and 8
  outputs (4 points) on the rows that have only those.
"""

from __future__ import annotations

import torch
from torch import nn

from facepoints.models.registry import KeypointModel, flat_size, register_model


class KaggleCNN(KeypointModel):
    output_range = "unit"

    def __init__(self, num_points: int, in_channels: int, input_size: tuple[int, int]) -> None:
        super().__init__(num_points, in_channels, input_size)
        layers, channels = [], in_channels
        for width in (32, 64, 128, 256, 512):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.1), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat_size(self.features, in_channels, input_size), 500), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(500, 100), nn.ReLU(),
            nn.Linear(100, 2 * num_points),
        )  # fmt: skip

    def forward(self, x):
        return torch.sigmoid(self.head(self.features(x))).view(-1, self.num_points, 2)


class KaggleCNNBN(KeypointModel):
    def __init__(self, num_points: int, in_channels: int, input_size: tuple[int, int]) -> None:
        super().__init__(num_points, in_channels, input_size)
        layers, channels = [], in_channels
        for k, width in enumerate((32, 64, 128, 256, 512)):
            if k:
                layers.append(nn.MaxPool2d(2))
            for kernel in (5, 3):
                layers += [
                    nn.Conv2d(channels, width, kernel, padding=kernel // 2, bias=False),
                    nn.LeakyReLU(0.1),
                    nn.BatchNorm2d(width),
                ]
                channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat_size(self.features, in_channels, input_size), 512), nn.ReLU(), nn.Dropout(0.1),
            nn.Linear(512, 2 * num_points),
        )  # fmt: skip

    def forward(self, x):
        return self.head(self.features(x)).view(-1, self.num_points, 2)


@register_model(
    "kaggle_cnn", summary="Kaggle 5-conv CNN with sigmoid output, 96x96 grey", num_points=15, in_channels=1,
    input_size=(96, 96), layout="kaggle15",
)
def kaggle_cnn(num_points: int, in_channels: int, input_size: tuple[int, int]) -> KaggleCNN:
    return KaggleCNN(num_points, in_channels, input_size)


@register_model(
    "kaggle_cnn_bn", summary="10-conv BN network of a two-model Kaggle solution (15 or 4 points)", num_points=15,
    in_channels=1, input_size=(96, 96), layout="kaggle15",
)
def kaggle_cnn_bn(num_points: int, in_channels: int, input_size: tuple[int, int]) -> KaggleCNNBN:
    return KaggleCNNBN(num_points, in_channels, input_size)
