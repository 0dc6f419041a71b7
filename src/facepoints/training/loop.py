"""One training epoch, and the record of epochs that picks the best one and stops early."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from facepoints.training.config import TrainConfig
from facepoints.training.distributed import Processes, all_sum
from facepoints.training.prepare import RunSetup, make_loader
from facepoints.training.validation import ScoreName, batch_nme, on_device

__all__ = ["EpochResult", "LossStep", "Progress", "train_epoch"]


@dataclass
class EpochResult:
    """One row of ``metrics.csv``: the epoch's mean training loss, its validation scores and its lr."""

    epoch: int
    train_loss: float
    val_loss: float
    val_nme: float
    val_rmse: float
    lr: float
    seconds: float

    def score(self, name: ScoreName) -> float:
        """The validation number that model selection compares."""
        return self.val_nme if name == "nme" else self.val_loss


class LossStep(torch.nn.Module):
    """``model.compute_loss`` as a forward pass, so DistributedDataParallel can wrap it."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(
        self, images: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.compute_loss(images, targets, mask, self.loss_fn)


@dataclass
class Progress:
    """The epochs so far, the best validation score and the epochs since it improved: what model
    selection and early stopping need, saved in ``last.pt`` for ``--resume``."""

    score_name: ScoreName
    history: list[EpochResult] = field(default_factory=list)
    best_score: float = math.inf
    bad_epochs: int = 0
    #: the best epoch's weights (on the CPU); None until an epoch improves
    best_state: dict | None = None

    @property
    def epoch(self) -> int:
        """The last finished epoch (0 before the first)."""
        return self.history[-1].epoch if self.history else 0

    @property
    def best(self) -> EpochResult | None:
        """The epoch whose weights are kept: the first to reach the best score (NaN scores never do)."""
        best, score = None, math.inf
        for h in self.history:
            if h.score(self.score_name) < score:
                best, score = h, h.score(self.score_name)
        return best

    def record(self, result: EpochResult, model: torch.nn.Module) -> bool:
        """Add a finished epoch; keeps a copy of the weights and returns True when it beats the best score."""
        self.history.append(result)
        score = result.score(self.score_name)
        if score < self.best_score:
            self.best_score, self.bad_epochs = score, 0
            self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            return True
        self.bad_epochs += 1
        return False

    def out_of_patience(self, patience: int) -> bool:
        """Whether early stopping (``patience`` epochs without improvement; 0: never) ends the run."""
        return bool(patience) and self.bad_epochs >= patience


def train_epoch(
    step: torch.nn.Module,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    run: RunSetup,
    cfg: TrainConfig,
    processes: Processes,
    epoch: int,
) -> float:
    """Train ``epoch`` (1-based) on this process's shard; returns the mean training loss over all processes.
    Dropout and augmentation draw from streams seeded by the epoch, so a resumed run repeats them."""
    show = cfg.progress and processes.main
    torch.manual_seed(cfg.seed * 1000 + epoch)
    run.train_set.epoch = epoch
    model.train()
    sums = [0.0, 0.0]  # loss * n, n
    nme_sum = 0.0
    loader = make_loader(run.train_set, cfg, processes.world, True, epoch)
    bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", disable=not show, leave=False)
    for batch in bar:
        images, targets, mask = on_device(batch, processes.device)
        loss, pred = step(images, targets, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        optimizer.step()
        n = len(images)
        sums[0] += loss.item() * n
        sums[1] += n
        if show:
            nme_sum += float(np.nansum(batch_nme(pred, targets, mask, run.layout.name, run.spec)))
            bar.set_postfix(loss=f"{sums[0] / sums[1]:.4f}", nme=f"{100 * nme_sum / sums[1]:.2f}%")
    loss_sum, count = all_sum(sums, processes.device)
    return loss_sum / count
