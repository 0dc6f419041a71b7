"""Coordinate losses that respect the missing-point mask.

Each takes predictions and targets ``(B, N, 2)`` and a mask ``(B, N)``; a masked point
contributes nothing, and the mean is over labelled points only, so Kaggle rows with 4 of
15 points still teach those 4.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch

__all__ = ["LOSSES", "LossName", "adaptive_wing", "get_loss", "masked_mean", "wing"]

#: The names of :data:`LOSSES`.
LossName = Literal["mse", "l1", "smoothl1", "wing", "awing"]


def masked_mean(per_point: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``(B, N)`` values over labelled points (0 when none is labelled)."""
    m = mask.to(per_point.dtype)
    return (per_point * m).sum() / m.sum().clamp(min=1)


def _mse(pred, target, mask):
    return masked_mean(((pred - target) ** 2).sum(-1), mask)


def _l1(pred, target, mask):
    return masked_mean((pred - target).abs().sum(-1), mask)


def _smoothl1(pred, target, mask, beta: float = 0.01):
    return masked_mean(torch.nn.functional.smooth_l1_loss(pred, target, reduction="none", beta=beta).sum(-1), mask)


def wing(pred, target, mask, w: float = 0.1, epsilon: float = 0.02):
    """Wing loss (Feng et al., CVPR 2018), with w and epsilon scaled for coordinates in [-1, 1]
    (the paper's w=10, eps=2 are in pixels of a ~100 px face)."""
    x = (pred - target).abs()
    c = w - w * math.log(1 + w / epsilon)
    per = torch.where(x < w, w * torch.log1p(x / epsilon), x - c)
    return masked_mean(per.sum(-1), mask)


def adaptive_wing(pred, target, mask, omega: float = 0.14, theta: float = 0.005, epsilon: float = 0.01, alpha: float = 2.1):
    """Adaptive Wing loss (Wang et al., ICCV 2019) applied to coordinates: the exponent is
    ``alpha - y`` with ``y = 1`` (a coordinate target), which makes it a smooth wing with a
    quadratic-like centre; constants scaled for [-1, 1] coordinates."""
    x = (pred - target).abs()
    p = alpha - 1.0
    a = omega * (1 / (1 + (theta / epsilon) ** p)) * p * ((theta / epsilon) ** (p - 1)) / epsilon
    c = theta * a - omega * math.log1p((theta / epsilon) ** p)
    per = torch.where(x < theta, omega * torch.log1p((x / epsilon) ** p), a * x - c)
    return masked_mean(per.sum(-1), mask)


LOSSES: dict[LossName, Callable] = {
    "mse": _mse,
    "l1": _l1,
    "smoothl1": _smoothl1,
    "wing": wing,
    "awing": adaptive_wing,
}


def get_loss(name: str) -> Callable:
    """Loss function by name (``mse``, ``l1``, ``smoothl1``, ``wing``, ``awing``)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}") from None
