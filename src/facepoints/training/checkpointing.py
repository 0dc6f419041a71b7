"""The checkpoints of a run directory: ``last.pt`` (full training state after every epoch), ``best.pt`` (the
best epoch so far) and ``model.pt`` (the best weights with their point shift: what ships), and reading
``last.pt`` back for ``--resume``. Only the main process writes."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from facepoints.checkpoint import model_record, read_checkpoint, save_checkpoint
from facepoints.imageio import remove_stale_temp_files
from facepoints.training.config import TrainConfig
from facepoints.training.loop import EpochResult, Progress
from facepoints.training.prepare import RunSetup
from facepoints.training.schedule import Scheduler, restore_schedule

__all__ = ["RunFiles", "restore_progress"]


class RunFiles:
    """Writes a run's checkpoints into ``out``; every one describes the model, layout, input, data and config."""

    def __init__(self, out: Path, writes: bool) -> None:
        self.out = out
        self.writes = writes
        self.payload: dict = {}

    def remove_stale(self, verbose: bool) -> None:
        """Delete half-written temporary files that a killed run (SIGKILL, power loss) left behind."""
        if not (self.writes and self.out.is_dir()):
            return
        stale = remove_stale_temp_files(self.out)
        if stale and verbose:
            print(f"removed {len(stale)} temporary file(s) of an interrupted write: {', '.join(p.name for p in stale)}")

    def describe(self, cfg: TrainConfig, run: RunSetup) -> None:
        """Set what every checkpoint of the run says about itself."""
        self.payload = {
            "model": model_record(run.model, cfg.model, cfg.model_kwargs),
            "layout": run.layout.name,
            "input": run.spec.to_dict(),
            "data": {"train": cfg.data, "val": cfg.val or f"{cfg.val_split:.0%} of train by identity"},
            "config": asdict(cfg),
        }

    def save_epoch(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Scheduler,
        progress: Progress,
        improved: bool,
    ) -> None:
        """``best.pt`` when the epoch just recorded in ``progress`` improved, then ``last.pt``."""
        if not self.writes:
            return
        last = progress.history[-1]
        metrics = {"val_nme": last.val_nme, "val_rmse_px": last.val_rmse, "epoch": last.epoch}
        if improved:
            save_checkpoint(
                self.out / "best.pt", {**self.payload, "state_dict": progress.best_state, "metrics": metrics}
            )
        train_state = {
            "epoch": last.epoch,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "history": [asdict(h) for h in progress.history],
            "score_name": progress.score_name,
            "best_score": progress.best_score,
            "bad_epochs": progress.bad_epochs,
        }
        payload = {**self.payload, "state_dict": model.state_dict(), "metrics": metrics, "train_state": train_state}
        save_checkpoint(self.out / "last.pt", payload)

    def save_model(self, state_dict: dict, summary: dict, point_shift: np.ndarray | None = None) -> None:
        """``model.pt``: the weights to ship, the run's summary and, for trained networks, their point shift."""
        if not self.writes:
            return
        payload = {**self.payload, "state_dict": state_dict, "metrics": summary}
        if point_shift is not None:
            payload["point_shift"] = point_shift.tolist()
        save_checkpoint(self.out / "model.pt", payload)

    def best_weights(self) -> dict | None:
        """The weights of ``best.pt``, if the run has one."""
        path = self.out / "best.pt"
        return read_checkpoint(path)["state_dict"] if path.is_file() else None


def restore_progress(
    state: dict,
    cfg: TrainConfig,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Scheduler,
    progress: Progress,
    files: RunFiles,
) -> None:
    """Load ``last.pt``'s contents into the model, optimizer, schedule and ``progress``. With the run's own
    epoch count everything continues exactly; with another one the schedule is re-stretched
    (:mod:`facepoints.training.schedule`) and early stopping counts from 0 again."""
    model.load_state_dict(state["state_dict"])
    saved = state["train_state"]
    optimizer.load_state_dict(saved["optimizer"])
    restore_schedule(scheduler, saved.get("scheduler"), cfg.epochs)
    progress.history = [EpochResult(**h) for h in saved["history"]]
    progress.best_score = saved["best_score"] if "best_score" in saved else saved["best_nme"]  # its former name
    extended = cfg.epochs != state["config"]["epochs"]
    progress.bad_epochs = 0 if extended else saved["bad_epochs"]
    progress.best_state = files.best_weights()
