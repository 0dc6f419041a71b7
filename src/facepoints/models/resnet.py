"""ResNet-18 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016),
written here without torchvision: 1 or 3 input channels, global average pooling and a
linear regression head of ``2 * num_points``."""

from __future__ import annotations

from torch import nn

from facepoints.models.registry import KeypointModel, register_model


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )  # fmt: skip
        self.skip = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + self.skip(x))


class ResNet18(KeypointModel):
    def __init__(self, num_points: int, in_channels: int, input_size: tuple[int, int]) -> None:
        super().__init__(num_points, in_channels, input_size)
        layers = [
            nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        ]  # fmt: skip
        cin = 64
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(cin, width, stride), BasicBlock(width, width, 1)]
            cin = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(512, 2 * num_points)

    def forward(self, x):
        return self.head(self.features(x)).view(-1, self.num_points, 2)


@register_model(
    "resnet18", summary="ResNet-18 regression, 1 or 3 channels", num_points=68, in_channels=1, input_size=(128, 128),
    layout="ibug68",
)
def resnet18(num_points: int, in_channels: int, input_size: tuple[int, int]) -> ResNet18:
    return ResNet18(num_points, in_channels, input_size)
