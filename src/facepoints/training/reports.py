"""What a run reports: ``metrics.csv`` and ``curves.png`` after every epoch, one log line per epoch, and the
summary (``summary.json``, also returned by :func:`~facepoints.training.train`), the same keys for every model."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import TypedDict

from tqdm import tqdm

from facepoints.imageio import atomic_write_bytes
from facepoints.training.loop import EpochResult, Progress
from facepoints.training.prepare import RunSetup
from facepoints.training.validation import ScoreName

__all__ = ["Summary", "log_epoch", "summarize", "write_curves", "write_metrics", "write_summary"]


class Summary(TypedDict):
    """A finished run, the same keys for every model; ``best_*`` are of the epoch whose weights
    ``model.pt`` holds (None where no epoch was trained, NME None for layouts without one)."""

    model: str
    layout: str
    parameters: int
    train_samples: int
    val_samples: int
    epochs_run: int  # the last epoch trained (the mean shape: 1, its single pass over the targets)
    stopped_early: bool
    seconds: float  # training and validation time of all epochs, resumed ones included
    score_name: ScoreName  # what picked the best epoch: validation "nme", or "loss" for layouts without NME
    best_epoch: int | None
    best_score: float | None  # the best epoch's validation <score_name>
    best_val_loss: float | None
    best_val_nme: float | None
    best_val_rmse_px: float | None


def _number(value: float) -> float | None:
    """``value``, or None for NaN (JSON has no NaN)."""
    return None if math.isnan(value) else value


def summarize(model_name: str, run: RunSetup, progress: Progress, stopped_early: bool) -> Summary:
    """The summary of a run from its epochs."""
    best = progress.best
    return Summary(
        model=model_name,
        layout=run.layout.name,
        parameters=sum(p.numel() for p in run.model.parameters()),
        train_samples=len(run.train_set),
        val_samples=len(run.val_set),
        epochs_run=progress.epoch,
        stopped_early=stopped_early,
        seconds=sum(h.seconds for h in progress.history),
        score_name=progress.score_name,
        best_epoch=best.epoch if best else None,
        best_score=best.score(progress.score_name) if best else None,
        best_val_loss=best.val_loss if best else None,
        best_val_nme=_number(best.val_nme) if best else None,
        best_val_rmse_px=best.val_rmse if best else None,
    )


def write_summary(summary: Summary, path: Path) -> None:
    atomic_write_bytes(path, json.dumps(summary, indent=2).encode())


def write_metrics(history: list[EpochResult], path: Path) -> None:
    """One CSV row per epoch (the columns of :class:`EpochResult`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(asdict(history[0])))
    writer.writeheader()
    for h in history:
        writer.writerow(asdict(h))
    atomic_write_bytes(path, buffer.getvalue().encode())


def write_curves(history: list[EpochResult], score_name: ScoreName, path: Path) -> None:
    """Training and validation loss per epoch, beside the validation NME (or RMSE for layouts without NME)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h.epoch for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(epochs, [h.train_loss for h in history], label="train")
    a.plot(epochs, [h.val_loss for h in history], label="validation")
    a.set_xlabel("epoch"), a.set_ylabel("loss"), a.set_yscale("log"), a.legend(), a.grid(alpha=0.3)
    if score_name == "nme":
        b.plot(epochs, [100 * h.val_nme for h in history], color="C2")
        b.set_ylabel("validation NME (%)")
    else:
        b.plot(epochs, [h.val_rmse for h in history], color="C2")
        b.set_ylabel("validation RMSE (px)")
    b.set_xlabel("epoch"), b.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def log_epoch(result: EpochResult, improved: bool) -> None:
    """One line per finished epoch (``*``: the best so far)."""
    tqdm.write(
        f"epoch {result.epoch:3d}  train loss {result.train_loss:.4f}  val loss {result.val_loss:.4f}  "
        f"val NME {100 * result.val_nme:.2f} %  RMSE {result.val_rmse:.2f} px  lr {result.lr:.2e}  "
        f"{result.seconds:.0f} s" + ("  *" if improved else "")
    )
