"""The small networks of the Berkeley CS194-26 "Facial Keypoint Detection with Neural
Networks" project write-ups (IMM faces, grey, downsampled).

- ``nosetip_cnn``: 3 conv layers (12, 24, 32 filters; 5x5, 3x3, 3x3), each ReLU + 2x2
  max-pool, then FC 128 ReLU and FC 2: the nose tip alone on 60x80 images.
- ``face_cnn``: 5 conv layers (16, 32, 48, 64, 96 filters; 7x7, 5x5, 3x3, 3x3, 3x3),
  each ReLU + 2x2 max-pool, then FC 256 ReLU and FC ``2 * num_points`` on 120x160 images.
"""

from __future__ import annotations

from torch import nn

from facepoints.models.registry import KeypointModel, flat_size, register_model


class SmallCNN(KeypointModel):
    """conv(k)+ReLU+pool blocks then two dense layers."""

    def __init__(self, num_points, in_channels, input_size, widths, kernels, hidden) -> None:
        super().__init__(num_points, in_channels, input_size)
        layers, channels = [], in_channels
        for width, kernel in zip(widths, kernels):
            layers += [nn.Conv2d(channels, width, kernel, padding=kernel // 2), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat_size(self.features, in_channels, input_size), hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2 * num_points),
        )

    def forward(self, x):
        return self.head(self.features(x)).view(-1, self.num_points, 2)


@register_model(
    "nosetip_cnn", summary="CS194 nose-tip net: 3 conv + 2 FC, 60x80 grey", num_points=1, in_channels=1,
    input_size=(60, 80), layout="any",
)
def nosetip_cnn(num_points: int, in_channels: int, input_size: tuple[int, int]) -> SmallCNN:
    return SmallCNN(num_points, in_channels, input_size, (12, 24, 32), (5, 3, 3), 128)


@register_model(
    "face_cnn", summary="CS194 full-face net: 5 conv + 2 FC, 120x160 grey", num_points=68, in_channels=1,
    input_size=(120, 160), layout="ibug68",
)
def face_cnn(num_points: int, in_channels: int, input_size: tuple[int, int]) -> SmallCNN:
    return SmallCNN(num_points, in_channels, input_size, (16, 32, 48, 64, 96), (7, 5, 3, 3, 3), 256)
