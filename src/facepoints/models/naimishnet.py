"""NaimishNet: Agarwal, Krohn-Grimberghe & Vyas, "Facial Key Points Detection using Deep
Convolutional Neural Network - NaimishNet" (arXiv:1710.00977, 2017).

96x96 grey input; four conv blocks (32/64/128/256 filters with kernels 4/3/2/1), each
ELU + 2x2 max-pool + dropout (0.1, 0.2, 0.3, 0.4); dense 1000 (ELU, dropout 0.5),
dense 1000 (linear, dropout 0.6), dense ``2 * num_points``.

``dropout`` scales every dropout probability (1: the paper's). On the converted Udacity faces, whose
framing varies more than Kaggle's crops, the paper's dropout keeps the network underfitting; the
recipe ``naimishnet_dropout`` trains it without (results in docs/models.md).
"""

from __future__ import annotations

from torch import nn

from facepoints.models.registry import KeypointModel, flat_size, register_model


class NaimishNet(KeypointModel):
    def __init__(self, num_points: int, in_channels: int, input_size: tuple[int, int], dropout: float = 1.0) -> None:
        super().__init__(num_points, in_channels, input_size)
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout scales the paper's dropout probabilities: give 0 to 1, got {dropout}")
        blocks = []
        channels = in_channels
        for k, (width, kernel) in enumerate(zip((32, 64, 128, 256), (4, 3, 2, 1))):
            blocks += [nn.Conv2d(channels, width, kernel), nn.ELU(), nn.MaxPool2d(2), nn.Dropout(0.1 * (k + 1) * dropout)]
            channels = width
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat_size(self.features, in_channels, input_size), 1000),
            nn.ELU(),
            nn.Dropout(0.5 * dropout),
            nn.Linear(1000, 1000),
            nn.Dropout(0.6 * dropout),
            nn.Linear(1000, 2 * num_points),
        )

    def forward(self, x):
        return self.head(self.features(x)).view(-1, self.num_points, 2)


@register_model(
    "naimishnet", summary="NaimishNet (Agarwal et al. 2016), 96x96 grey", num_points=15, in_channels=1,
    input_size=(96, 96), layout="kaggle15",
)
def naimishnet(num_points: int, in_channels: int, input_size: tuple[int, int], dropout: float = 1.0) -> NaimishNet:
    return NaimishNet(num_points, in_channels, input_size, dropout)
