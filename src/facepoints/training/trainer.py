"""The trainer behind ``facepoints train``: optimizers, schedules, early stopping, checkpoints, resume, DDP.

A run directory holds ``last.pt`` (full state, written after every epoch), ``best.pt``
(best validation score so far, scored with a point shift as shipped models are), ``model.pt``
(best weights, no optimizer state: what you ship, with the point shift of
:mod:`facepoints.training.point_shift` fitted on the training faces), ``metrics.csv``,
``curves.png`` and ``summary.json`` (:class:`~facepoints.training.reports.Summary`, the same keys for
every model). The best epoch is the one with the lowest validation NME, or the lowest validation loss
for layouts without a normalizing point pair; the summary's ``score_name`` says which.

``--resume RUN_DIR`` continues from ``last.pt``. With the run's own epoch count it is exact: the
weights, optimizer, lr, random streams, curves and early-stopping count are those of an uninterrupted
run, and a finished run trains nothing more (it only writes ``model.pt`` again). With ``--epochs N``
the run is extended (or cut) to N epochs: a cosine schedule is re-stretched, so epoch ``e`` trains at
the lr epoch ``e`` of an N-epoch cosine has (a finished 160-epoch run resumed with ``--epochs 200``
starts at about 10 % of ``--lr``, not at the floor it ended on; see :mod:`facepoints.training.schedule`),
``plateau`` and ``none`` keep their lr, and early stopping counts from 0 again.

Under ``torchrun`` the same command trains with DistributedDataParallel (gloo on CPU, nccl on GPU);
rank 0 alone writes files and metrics are averaged across ranks.

``--bn-recalibrate N`` re-estimates the batch-norm statistics with dropout off after every epoch, before
it is scored (:mod:`facepoints.training.bn_recalibration`); every rank does so on the same batches.

The parts: :mod:`~facepoints.training.config` (what a run depends on),
:mod:`~facepoints.training.distributed` (processes), :mod:`~facepoints.training.prepare` (data, model,
loaders), :mod:`~facepoints.training.loop` (an epoch, model selection, early stopping),
:mod:`~facepoints.training.validation`, :mod:`~facepoints.training.optimizers` (AdamW, Adam or SGD),
:mod:`~facepoints.training.schedule`,
:mod:`~facepoints.training.checkpointing` and :mod:`~facepoints.training.reports` (curves, summary).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from facepoints.checkpoint import read_checkpoint
from facepoints.datasets.base import LandmarkDataset
from facepoints.models.baselines import MeanShape
from facepoints.training.bn_recalibration import recalibrate_batch_norm, recalibration_loader
from facepoints.training.checkpointing import RunFiles, restore_progress
from facepoints.training.config import TrainConfig
from facepoints.training.distributed import Processes, start_processes, stop_processes, wait_for_all
from facepoints.training.loop import EpochResult, LossStep, Progress, train_epoch
from facepoints.training.losses import get_loss
from facepoints.training.optimizers import make_optimizer
from facepoints.training.point_shift import fit_point_shift
from facepoints.training.prepare import RunSetup, make_loader, open_data, prepare_run
from facepoints.training.reports import Summary, log_epoch, summarize, write_curves, write_metrics, write_summary
from facepoints.training.schedule import Scheduler, make_scheduler, step_schedule
from facepoints.training.validation import Validator, score_name, selection_score, validate

__all__ = ["EpochResult", "Summary", "TrainConfig", "resume", "train", "validation_split"]


def train(cfg: TrainConfig, state: dict | None = None) -> Summary:
    """Train a run (or continue one, given its ``last.pt`` contents); returns the summary
    also written to ``summary.json``."""
    processes = start_processes()
    files = RunFiles(Path(cfg.out), writes=processes.main)
    files.remove_stale(verbose=cfg.progress)
    torch.manual_seed(cfg.seed)  # the initial weights
    loss_fn = get_loss(cfg.loss)
    run = prepare_run(cfg, processes, load_init=state is None)
    files.describe(cfg, run)
    if isinstance(run.model, MeanShape):
        summary = _fit_mean_shape(cfg, run, loss_fn, processes, files)
    else:
        summary = _fit_network(cfg, run, loss_fn, processes, files, state)
    stop_processes()
    return summary


def resume(
    run_dir: str | os.PathLike, epochs: int | None = None, workers: int | None = None, progress: bool = True
) -> Summary:
    """Continue the run in ``run_dir`` from its ``last.pt``, optionally to a new epoch count (the rule for
    that is in the module docstring)."""
    state = read_checkpoint(Path(run_dir) / "last.pt")
    if "train_state" not in state:
        raise ValueError(f"{run_dir}/last.pt holds no training state to resume from")
    changes = {"out": str(run_dir), "progress": progress}
    if epochs is not None:
        changes["epochs"] = epochs
    if workers is not None:
        changes["workers"] = workers
    return train(TrainConfig.from_dict({**state["config"], **changes}), state)


def validation_split(run_dir: str | os.PathLike) -> LandmarkDataset:
    """The faces the run in ``run_dir`` held out for model selection (its ``--val`` set, or the same
    ``--val-split`` of its data, drawn again from its seed), so a model can be scored where it was chosen."""
    run = Path(run_dir)  # model.pt (no optimizer state) is the smaller read; an unfinished run has only last.pt
    checkpoint = run / "model.pt" if (run / "model.pt").is_file() else run / "last.pt"
    if not checkpoint.is_file():
        raise ValueError(f"{run_dir}: no last.pt or model.pt of a training run")
    return open_data(TrainConfig.from_dict(read_checkpoint(checkpoint)["config"]))[1]


def _fit_network(
    cfg: TrainConfig, run: RunSetup, loss_fn: Callable, processes: Processes, files: RunFiles, state: dict | None
) -> Summary:
    """Train the remaining epochs of a network, then ship its best epoch as ``model.pt``."""
    step: torch.nn.Module = LossStep(run.model, loss_fn)
    if processes.world > 1:
        step = DistributedDataParallel(step)
    optimizer = make_optimizer(run.model.parameters(), cfg)
    scheduler = make_scheduler(optimizer, cfg)
    progress = Progress(score_name(run.layout))
    if state is not None:
        restore_progress(state, cfg, run.model, optimizer, scheduler, progress, files)
    validator = Validator(
        lambda: make_loader(run.val_set, cfg, processes.world, False, 0),
        run.shift_probe, loss_fn, run.layout.name, run.spec, processes.device, cfg.batch_size,
    )  # fmt: skip
    stopped_early = _run_epochs(cfg, run, step, optimizer, scheduler, validator, progress, processes, files)
    summary = summarize(cfg.model, run, progress, stopped_early)
    if processes.main and progress.best_state is not None:
        run.model.load_state_dict(progress.best_state)
        shift = fit_point_shift(run.model, run.unaugmented, cfg.batch_size, processes.device)
        files.save_model(progress.best_state, summary, shift)
        write_summary(summary, files.out / "summary.json")
    return summary


def _run_epochs(
    cfg: TrainConfig,
    run: RunSetup,
    step: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Scheduler,
    validator: Validator,
    progress: Progress,
    processes: Processes,
    files: RunFiles,
) -> bool:
    """Train, score, checkpoint and report each epoch after ``progress.epoch`` up to ``cfg.epochs``;
    returns whether early stopping ended the run before its last epoch."""
    epoch = progress.epoch
    try:
        for epoch in range(progress.epoch + 1, cfg.epochs + 1):
            if progress.out_of_patience(cfg.patience):
                return True
            t0 = time.time()
            train_loss = train_epoch(step, run.model, optimizer, run, cfg, processes, epoch)
            if cfg.bn_recalibrate:  # before scoring, so validation, best.pt and model.pt use the new statistics
                batches = recalibration_loader(run.unaugmented, cfg.bn_recalibrate, cfg.batch_size, cfg.seed)
                recalibrate_batch_norm(run.model, batches, processes.device)
            scores = validator(run.model)
            lr = optimizer.param_groups[0]["lr"]
            step_schedule(scheduler, selection_score(scores, progress.score_name))
            result = EpochResult(epoch, train_loss, scores.loss, scores.nme, scores.rmse, lr, time.time() - t0)
            improved = progress.record(result, run.model)
            files.save_epoch(run.model, optimizer, scheduler, progress, improved)
            if processes.main:
                write_metrics(progress.history, files.out / "metrics.csv")
                write_curves(progress.history, progress.score_name, files.out / "curves.png")
                log_epoch(result, improved)
    except KeyboardInterrupt:
        if processes.main:
            last = files.out / "last.pt"
            print(f"interrupted in epoch {epoch}; {last} holds the last finished epoch: --resume {files.out} continues")
        raise
    finally:
        wait_for_all()
    return False


def _fit_mean_shape(
    cfg: TrainConfig, run: RunSetup, loss_fn: Callable, processes: Processes, files: RunFiles
) -> Summary:
    """The mean-shape baseline: one pass over the (augmented) training targets, no optimization; it reports
    as a one-epoch run."""
    t0 = time.time()
    targets, masks = [], []
    for batch in torch.utils.data.DataLoader(run.train_set, batch_size=cfg.batch_size):
        targets.append(batch["keypoints"])
        masks.append(batch["mask"])
    targets, masks = torch.cat(targets).to(processes.device), torch.cat(masks).to(processes.device)
    run.model.fit(targets, masks)
    train_loss = float(loss_fn(run.model.mean.expand_as(targets), targets, masks))
    loader = torch.utils.data.DataLoader(run.val_set, batch_size=cfg.batch_size)
    scores = validate(run.model, loader, loss_fn, run.layout.name, run.spec, processes.device)
    progress = Progress(score_name(run.layout))
    progress.record(EpochResult(1, train_loss, *scores, lr=0.0, seconds=time.time() - t0), run.model)
    summary = summarize(cfg.model, run, progress, stopped_early=False)
    files.save_model(run.model.state_dict(), summary)
    if processes.main:
        write_summary(summary, files.out / "summary.json")
    return summary
