"""The optimizer of a run, built from its :class:`TrainConfig` (``--optimizer``, ``--lr``, ``--weight-decay``,
``--momentum``, ``--nesterov``). The config saved in ``last.pt`` names it, so ``--resume`` rebuilds the same
one before loading its state."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from facepoints.training.config import TrainConfig

__all__ = ["make_optimizer"]


def make_optimizer(parameters: Iterable[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over ``parameters``: AdamW (decoupled weight decay, the default), Adam (weight decay
    as L2 in the gradient) or SGD with ``cfg.momentum`` (Nesterov's with ``cfg.nesterov``); betas and eps are
    PyTorch's defaults."""
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            parameters, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov
        )
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")
