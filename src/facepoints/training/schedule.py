"""Learning-rate schedules, and how a resumed run with a new epoch count continues one.

``cosine`` anneals from ``lr`` to ``COSINE_FLOOR * lr`` over the run's epochs; ``plateau`` halves the lr
when the validation score has not improved for ``patience // 3`` epochs; ``none`` keeps ``lr``.

Resuming with another ``--epochs N`` re-stretches a cosine schedule to N epochs: from then on epoch ``e``
trains at the lr an N-epoch run has there, ``floor + (lr - floor) * (1 + cos(pi * (e - 1) / N)) / 2``. So a
finished E-epoch run extended to N resumes at the lr of epoch E + 1 of an N-epoch cosine (160 -> 200 epochs:
about 10 % of ``lr``; 160 -> 320: about half) and anneals to the floor again at epoch N, instead of training
at the floor it ended on. This rule needs no new setting (a restarted cycle would need its starting lr
chosen), the remaining epochs train as in a run planned with N epochs from the start, and the lr rises
in proportion to the extension: a few more epochs stay near the floor, fine-tuning what was learnt.
``plateau`` and ``none`` depend on no epoch count and continue unchanged.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau

from facepoints.training.config import TrainConfig

__all__ = ["COSINE_FLOOR", "Scheduler", "cosine_lr", "make_scheduler", "restore_schedule", "step_schedule"]

#: A cosine schedule ends at this fraction of the base lr.
COSINE_FLOOR = 0.01

Scheduler = CosineAnnealingLR | ReduceLROnPlateau | None


def cosine_lr(base: float, floor: float, epoch: int, epochs: int) -> float:
    """The lr of (1-based) ``epoch`` in an ``epochs``-long cosine schedule from ``base`` to ``floor``."""
    return floor + (base - floor) * (1 + math.cos(math.pi * (epoch - 1) / epochs)) / 2


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> Scheduler:
    """The schedule ``cfg.schedule`` names, stepped once per epoch."""
    if cfg.schedule == "cosine":
        return CosineAnnealingLR(optimizer, T_max=cfg.epochs, eta_min=cfg.lr * COSINE_FLOOR)
    if cfg.schedule == "plateau":
        return ReduceLROnPlateau(optimizer, factor=0.5, patience=max(1, cfg.patience // 3))
    return None


def restore_schedule(scheduler: Scheduler, saved: dict | None, epochs: int) -> None:
    """Load a saved schedule state (after the optimizer's); a cosine schedule saved for another epoch count
    is re-stretched to ``epochs`` (see the module docstring), one saved for ``epochs`` continues exactly."""
    if scheduler is None or not saved:
        return
    scheduler.load_state_dict(saved)
    if isinstance(scheduler, CosineAnnealingLR) and scheduler.T_max != epochs:
        scheduler.T_max = epochs
        for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, strict=True):
            group["lr"] = cosine_lr(base, scheduler.eta_min, scheduler.last_epoch + 1, epochs)


def step_schedule(scheduler: Scheduler, score: float) -> None:
    """Advance the schedule after an epoch; ``score`` is the validation score that picks the best epoch."""
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(score)
    elif scheduler is not None:
        scheduler.step()
