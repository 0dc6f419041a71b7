"""AlexNet variant from a write-up of the Udacity CV Nanodegree "P1 Facial Keypoints" project (227x227x1 -> 136).

conv1 96 4x4 stride 4, ELU; max-pool 3/2; dropout 0.2; conv2 256 5x5 pad 2, ELU + BN;
max-pool 3/2; conv3, conv4 384 3x3 pad 1, ELU + BN + dropout 0.4; then that write-up's
layer table says "Flatten (6 x 6 x 256) => 9216", which its listed layers cannot produce
(13 x 13 x 384 after conv5). Reading chosen here, as in the original AlexNet: conv5 has
256 filters (3x3 pad 1, ELU + BN + dropout 0.4) and is followed by a third max-pool 3/2,
giving 6 x 6 x 256 = 9216. Then FC 4096 ELU + BN + dropout 0.6, twice, and FC
``2 * num_points``.
"""

from __future__ import annotations

from torch import nn

from facepoints.models.registry import KeypointModel, flat_size, register_model


class AlexNetFKP(KeypointModel):
    def __init__(self, num_points: int, in_channels: int, input_size: tuple[int, int]) -> None:
        super().__init__(num_points, in_channels, input_size)

        def conv_bn(cin, cout, k, pad, drop):
            return [nn.Conv2d(cin, cout, k, padding=pad), nn.ELU(), nn.BatchNorm2d(cout), nn.Dropout(drop)]

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 4, stride=4), nn.ELU(), nn.MaxPool2d(3, 2), nn.Dropout(0.2),
            nn.Conv2d(96, 256, 5, padding=2), nn.ELU(), nn.BatchNorm2d(256), nn.MaxPool2d(3, 2),
            *conv_bn(256, 384, 3, 1, 0.4),
            *conv_bn(384, 384, 3, 1, 0.4),
            *conv_bn(384, 256, 3, 1, 0.4),
            nn.MaxPool2d(3, 2),
        )  # fmt: skip
        flat = flat_size(self.features, in_channels, input_size)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, 4096), nn.ELU(), nn.BatchNorm1d(4096), nn.Dropout(0.6),
            nn.Linear(4096, 4096), nn.ELU(), nn.BatchNorm1d(4096), nn.Dropout(0.6),
            nn.Linear(4096, 2 * num_points),
        )  # fmt: skip

    def forward(self, x):
        return self.head(self.features(x)).view(-1, self.num_points, 2)


@register_model(
    "alexnet_fkp", summary="AlexNet variant of the Udacity write-up, 227x227 grey", num_points=68, in_channels=1,
    input_size=(227, 227), layout="ibug68",
)
def alexnet_fkp(num_points: int, in_channels: int, input_size: tuple[int, int]) -> AlexNetFKP:
    return AlexNetFKP(num_points, in_channels, input_size)
