"""``fpnet``: facepoints' compact default landmark network.

A MobileNetV2-style backbone (inverted residual blocks, Sandler et al. 2018) on a grey
face crop, a small top-down path that adds 1/16-scale context back onto the 1/8-scale
features, and a heatmap + offset head in the manner of PIPNet (Jin et al., "Pixel-in-
Pixel Net", IJCV 2021): for each landmark, one score per cell of the 1/8 grid and an
(x, y) offset inside that cell. Decoding averages the positions (cell + offset) that the
best cell and its eight neighbours predict, so localization is not limited by the grid;
the best cell's probability (softmax over the cells) is a per-point confidence.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from facepoints.models.registry import KeypointModel, register_model


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.block = nn.Sequential(
            conv_bn(cin, mid, 1), conv_bn(mid, mid, 3, stride, groups=mid), conv_bn(mid, cout, 1, act=False)
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


def stage(cin: int, cout: int, repeats: int, stride: int, expand: int) -> nn.Sequential:
    blocks = [InvertedResidual(cin, cout, stride, expand)]
    blocks += [InvertedResidual(cout, cout, 1, expand) for _ in range(repeats - 1)]
    return nn.Sequential(*blocks)


NEIGHBOURS = torch.tensor([(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)])  # (9, 2) row, column steps


def neighbourhood(row: torch.Tensor, col: torch.Tensor, gh: int, gw: int) -> tuple[torch.Tensor, ...]:
    """The 3 x 3 cells around integer cells ``(row, col)`` (...) of a ``gh`` x ``gw`` grid: their
    rows and columns clamped into the grid, whether each lies inside it, and their flat indices,
    all (..., 9)."""
    steps = NEIGHBOURS.to(row.device)
    r, c = row.unsqueeze(-1) + steps[:, 0], col.unsqueeze(-1) + steps[:, 1]
    inside = (r >= 0) & (r < gh) & (c >= 0) & (c < gw)
    r, c = r.clamp(0, gh - 1), c.clamp(0, gw - 1)
    return r, c, inside, r * gw + c


class FPNet(KeypointModel):
    """Heatmap + offset landmark network; ``stride`` 8 on the input crop."""

    stride = 8
    decode_temperature = 3.0

    def __init__(
        self,
        num_points: int,
        in_channels: int,
        input_size: tuple[int, int],
        width: float = 1.0,
        context_blocks: int = 0,
        target_sigma: float = 0.0,
    ) -> None:
        """``width`` scales every channel count; ``context_blocks`` adds inverted residual blocks
        at 1/16 scale, where they are cheap and see the whole face (context for contour points);
        ``target_sigma`` > 0 trains the cell scores towards a Gaussian of that many cells around
        the point instead of its one cell (training only: the network is the same)."""
        super().__init__(num_points, in_channels, input_size)
        self.target_sigma = target_sigma
        c = [max(8, int(round(v * width))) for v in (16, 24, 32, 64, 96, 128)]
        self.stem = nn.Sequential(conv_bn(in_channels, c[0], 3, 2), conv_bn(c[0], c[0], 3, groups=c[0]))  # 1/2
        self.s4 = stage(c[0], c[1], 2, 2, 4)  # 1/4
        self.s8 = nn.Sequential(stage(c[1], c[2], 3, 2, 4), stage(c[2], c[3], 3, 1, 4))  # 1/8
        s16 = [stage(c[3], c[4], 3, 2, 4), stage(c[4], c[5], 2, 1, 4)]
        if context_blocks:
            s16.append(stage(c[5], c[5], context_blocks, 1, 4))
        self.s16 = nn.Sequential(*s16)  # 1/16
        self.lateral = conv_bn(c[5], c[3], 1)
        self.fuse = nn.Sequential(conv_bn(c[3], c[3], 3, groups=c[3]), conv_bn(c[3], c[5], 1))
        self.head = nn.Conv2d(c[5], 3 * num_points, 1)
        nn.init.normal_(self.head.weight, std=0.001)
        nn.init.zeros_(self.head.bias)

    def maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Raw head outputs: scores (B, N, Gh, Gw) and x / y offsets in cell units."""
        f8 = self.s8(self.s4(self.stem(x)))
        f16 = self.s16(f8)
        f = f8 + F.interpolate(self.lateral(f16), size=f8.shape[-2:], mode="nearest")
        out = self.head(self.fuse(f))
        n = self.num_points
        return out[:, :n], out[:, n : 2 * n], out[:, 2 * n :]

    def decode(self, scores, off_x, off_y) -> tuple[torch.Tensor, torch.Tensor]:
        """Grid outputs -> (keypoints in the centred frame, per-point confidence).

        Each of the best cell's 3 x 3 neighbourhood predicts the point as its own position plus
        its offset (training fits the offsets of all nine); the point is their mean weighted by
        a softmax of the cells' scores at temperature ``decode_temperature``, which beats the best
        cell alone by about 0.06 NME points on the validation split and on both test sets
        (docs/experiments/landmark-models.md). The confidence is the best cell's softmax probability."""
        b, n, gh, gw = scores.shape
        flat = scores.reshape(b, n, -1)
        best = flat.argmax(-1)
        conf = torch.softmax(flat, -1).gather(-1, best.unsqueeze(-1)).squeeze(-1)
        row, col, inside, index = neighbourhood(torch.div(best, gw, rounding_mode="floor"), best % gw, gh, gw)
        logits = flat.gather(-1, index) / self.decode_temperature
        weight = torch.softmax(logits.masked_fill(~inside, float("-inf")), -1)
        ox = (weight * (col.to(scores.dtype) + off_x.reshape(b, n, -1).gather(-1, index))).sum(-1)
        oy = (weight * (row.to(scores.dtype) + off_y.reshape(b, n, -1).gather(-1, index))).sum(-1)
        h, w = self.input_size
        px = ox * self.stride - 0.5  # cell j spans pixels [8j - 0.5, 8j + 7.5)
        py = oy * self.stride - 0.5
        half = max(h, w) / 2
        points = torch.stack([(px - (w - 1) / 2) / half, (py - (h - 1) / 2) / half], dim=-1)
        return points, conf

    def forward_with_confidence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoints (B, N, 2) in the centred frame and confidences (B, N) in [0, 1]."""
        return self.decode(*self.maps(x))

    def forward(self, x):
        return self.forward_with_confidence(x)[0]

    def _cell_targets(self, u, v, row, col, gh: int, gw: int) -> torch.Tensor:
        """Cross-entropy targets for points at grid coordinates (u, v): the index of the cell
        holding each point, or with ``target_sigma`` a Gaussian over the cell centres (B * N, cells)."""
        if not self.target_sigma:
            return (row * gw + col).reshape(-1)
        cy = torch.arange(gh, dtype=u.dtype, device=u.device) + 0.5
        cx = torch.arange(gw, dtype=u.dtype, device=u.device) + 0.5
        d2 = (v.unsqueeze(-1) - cy).square().unsqueeze(-1) + (u.unsqueeze(-1) - cx).square().unsqueeze(-2)
        logits = -d2.reshape(-1, gh * gw) / (2 * self.target_sigma**2)
        return torch.softmax(logits, -1)

    def compute_loss(
        self, images: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, loss_fn: Callable
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy over the grid cells for the target cell (or its Gaussian), plus ``loss_fn`` on the
        offsets (cell units) at the target cell and its 8 neighbours, so that a near miss
        of the best cell still decodes to the right place. Masked points contribute nothing."""
        scores, off_x, off_y = self.maps(images)
        b, n, gh, gw = scores.shape
        h, w = self.input_size
        half = max(h, w) / 2
        u = (targets[..., 0] * half + (w - 1) / 2 + 0.5) / self.stride
        v = (targets[..., 1] * half + (h - 1) / 2 + 0.5) / self.stride
        col = u.floor().clamp(0, gw - 1).long()
        row = v.floor().clamp(0, gh - 1).long()
        m = mask.to(scores.dtype)
        ce = F.cross_entropy(scores.reshape(b * n, -1), self._cell_targets(u, v, row, col, gh, gw), reduction="none")
        score_loss = (ce * m.reshape(-1)).sum() / m.sum().clamp(min=1)
        rows, cols, _, index = neighbourhood(row, col, gh, gw)  # border cells repeat the clamped ones
        pred_off = torch.stack([o.reshape(b, n, -1).gather(-1, index) for o in (off_x, off_y)], -1)
        target_off = torch.stack([u.unsqueeze(-1) - cols, v.unsqueeze(-1) - rows], -1)
        k = NEIGHBOURS.shape[0]  # one masked mean over the nine cells of every point
        offset_loss = loss_fn(
            pred_off.reshape(b, n * k, 2), target_off.reshape(b, n * k, 2), mask.repeat_interleave(k, 1)
        )
        loss = score_loss + 5.0 * offset_loss
        with torch.no_grad():
            pred = self.decode(scores, off_x, off_y)[0]
        return loss, pred


@register_model(
    "fpnet", summary="facepoints default: MobileNetV2-style + heatmap/offset head, 112x112 grey", num_points=68,
    in_channels=1, input_size=(112, 112), layout="ibug68",
)
def fpnet(num_points: int, in_channels: int, input_size: tuple[int, int], **options) -> FPNet:
    """``options``: those of :class:`FPNet` (``width``, ``context_blocks``, ``target_sigma``)."""
    return FPNet(num_points, in_channels, input_size, **options)
