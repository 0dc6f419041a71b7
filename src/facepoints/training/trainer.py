"""The trainer behind ``facepoints train``: Adam, schedules, early stopping, checkpoints, resume, DDP.

A run directory holds ``last.pt`` (full state, written after every epoch), ``best.pt``
(best validation NME so far, scored with a point shift as shipped models are), ``model.pt``
(best weights, no optimizer state: what you ship, with the point shift of
:mod:`facepoints.training.point_shift` fitted on the training faces), ``metrics.csv`` and
``curves.png``. ``--resume RUN_DIR`` continues from ``last.pt`` with the same epoch count,
curves and random streams. Under ``torchrun`` the same command trains with
DistributedDataParallel (gloo on CPU, nccl on GPU); rank 0 alone writes files and metrics are
averaged across ranks.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from facepoints.checkpoint import model_record, read_checkpoint, save_checkpoint
from facepoints.datasets import open_dataset
from facepoints.datasets.base import LandmarkDataset
from facepoints.imageio import atomic_write_bytes, remove_stale_temp_files
from facepoints.inputs import InputSpec
from facepoints.layouts import get_layout
from facepoints.metrics import nme as nme_metric
from facepoints.models import create_model, model_info
from facepoints.models.baselines import MeanShape
from facepoints.training.data import (
    TrainingSet,
    closed_eye_repeats,
    source_repeats,
    split_by_identity,
    turned_face_repeats,
)
from facepoints.training.losses import get_loss
from facepoints.training.point_shift import fit_point_shift

__all__ = ["TrainConfig", "train", "resume", "validation_split", "EpochResult"]


#: About this many unaugmented training crops fit the point shift that each epoch's validation applies.
SHIFT_PROBE = 512


@dataclass
class TrainConfig:
    """Everything a run depends on; saved in every checkpoint so ``--resume`` needs only the folder."""

    model: str
    data: list[str]
    out: str
    val: list[str] | None = None
    val_split: float = 0.1
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    loss: str = "wing"
    augment: str = "light"
    schedule: str = "cosine"  # cosine | plateau | none
    patience: int = 10  # early stopping: epochs without a better validation NME
    clip: float = 5.0
    seed: int = 0
    workers: int = 1
    crop: str | None = None  # face | full | seed; default: face for 68-point layouts, full otherwise
    input_size: int | None = None
    grey: bool = True
    cache_size: int | None = None
    model_kwargs: dict = field(default_factory=dict)
    layout: str | None = None  # map the data to this layout first (e.g. kaggle4 for the two-model recipe)
    complete_only: bool = False  # keep only rows with every point labelled
    closed_eyes: int = 1  # repeat faces labelled with closed eyes this often per epoch
    turned: int = 1  # repeat faces labelled as turned sideways (|yaw| >= data.TURNED_YAW) this often per epoch
    oversample: dict[str, int] = field(default_factory=dict)  # path substring -> repeats per epoch
    init: str | None = None  # start from this checkpoint's weights (fine-tuning); same model and layout
    progress: bool = True

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    val_loss: float
    val_nme: float
    val_rmse: float
    lr: float
    seconds: float


# ----------------------------------------------------------------------------- distributed


def _dist_setup() -> tuple[int, int, torch.device]:
    """(rank, world size, device); initializes the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return rank, world, device


def _all_sum(values: list[float], device: torch.device) -> list[float]:
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


# ----------------------------------------------------------------------------- helpers


def _input_spec(cfg: TrainConfig, layout: str, model_size: tuple[int, int], output_range: str) -> InputSpec:
    square = model_size[0] == model_size[1]
    crop = cfg.crop or ("face" if layout in ("ibug68", "imm73") and square else "full")
    return InputSpec(size=model_size, grey=cfg.grey, crop=crop, output_range=output_range)


def _open_data(cfg: TrainConfig) -> tuple[LandmarkDataset, LandmarkDataset]:
    def prepare(ds: LandmarkDataset) -> LandmarkDataset:
        if cfg.layout and cfg.layout != ds.layout:
            ds = ds.to_layout(cfg.layout)
        return ds.complete_rows() if cfg.complete_only else ds

    data = prepare(open_dataset(cfg.data))
    if cfg.val:
        return data, prepare(open_dataset(cfg.val))
    train_idx, val_idx = split_by_identity(data, cfg.val_split, cfg.seed)
    return data.subset(train_idx), data.subset(val_idx)


def _write_curves(history: list[EpochResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h.epoch for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(epochs, [h.train_loss for h in history], label="train")
    a.plot(epochs, [h.val_loss for h in history], label="validation")
    a.set_xlabel("epoch"), a.set_ylabel("loss"), a.set_yscale("log"), a.legend(), a.grid(alpha=0.3)
    b.plot(epochs, [100 * h.val_nme for h in history], color="C2")
    b.set_xlabel("epoch"), b.set_ylabel("validation NME (%)"), b.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _write_metrics(history: list[EpochResult], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(asdict(history[0])))
    writer.writeheader()
    for h in history:
        writer.writerow(asdict(h))
    atomic_write_bytes(path, buffer.getvalue().encode())


def _on_device(batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images in channels-last memory, targets, mask) of a loader batch on ``device``."""
    images = batch["image"].to(device, memory_format=torch.channels_last)
    return images, batch["keypoints"].to(device), batch["mask"].to(device)


def _batch_nme(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, layout: str, spec: InputSpec) -> np.ndarray:
    norm = spec.normalization
    p = norm.inverse(pred.detach().cpu().numpy())
    g = norm.inverse(target.cpu().numpy())
    return nme_metric(p, g, layout, mask.cpu().numpy())


# ----------------------------------------------------------------------------- training


def resume(run_dir: str | os.PathLike, epochs: int | None = None, workers: int | None = None, progress: bool = True) -> dict:
    """Continue the run in ``run_dir`` from its ``last.pt`` (optionally to a new epoch count)."""
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
    return _open_data(TrainConfig.from_dict(read_checkpoint(checkpoint)["config"]))[1]


def _load_init(model: torch.nn.Module, cfg: TrainConfig, layout: str, spec: InputSpec) -> None:
    """Copy the weights of checkpoint ``cfg.init`` into ``model``, refusing ones made for another job."""
    data = read_checkpoint(cfg.init)
    theirs = data["model"]["name"], data["layout"], InputSpec.from_dict(data["input"])
    if theirs != (cfg.model, layout, spec):
        raise ValueError(
            f"--init {cfg.init}: made for model {theirs[0]!r}, layout {theirs[1]!r}, input {theirs[2]}; "
            f"this run is {cfg.model!r}, {layout!r}, {spec}"
        )
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise ValueError(f"--init {cfg.init}: weights do not fit this model ({exc})") from None


def train(cfg: TrainConfig, state: dict | None = None) -> dict:
    """Train a run (or continue one, given its ``last.pt`` contents); returns the summary
    also written to ``summary.json``."""
    rank, world, device = _dist_setup()
    out = Path(cfg.out)
    if rank == 0 and out.is_dir():  # a killed run (SIGKILL, power loss) can leave half-written .last.pt.*.tmp files
        stale = remove_stale_temp_files(out)
        if stale and cfg.progress:
            print(f"removed {len(stale)} temporary file(s) of an interrupted write: {', '.join(p.name for p in stale)}")
    torch.manual_seed(cfg.seed)
    loss_fn = get_loss(cfg.loss)
    model_info(cfg.model)  # unknown names fail before any data is read

    train_data, val_data = _open_data(cfg)
    layout = get_layout(train_data.layout)
    size = (cfg.input_size, cfg.input_size) if cfg.input_size else None
    model = create_model(
        cfg.model, num_points=layout.num_points, in_channels=1 if cfg.grey else 3, input_size=size, **cfg.model_kwargs
    )
    spec = _input_spec(cfg, layout.name, model.input_size, model.output_range)
    if cfg.init and state is None:
        _load_init(model, cfg, layout.name, spec)
    show = cfg.progress and rank == 0
    repeats = (
        closed_eye_repeats(train_data, cfg.closed_eyes)
        * turned_face_repeats(train_data, cfg.turned)
        * source_repeats(train_data, cfg.oversample)
    )
    train_set = TrainingSet(train_data, spec, True, cfg.augment, cfg.seed, cfg.cache_size, show, repeats)
    val_set = TrainingSet(val_data, spec, False, "none", cfg.seed, cfg.cache_size, show)
    # every epoch is scored as it would ship: with a point shift fitted on a fixed sample of training crops
    unaugmented = train_set.unaugmented()
    probe_step = max(1, len(unaugmented) // SHIFT_PROBE)
    shift_probe = torch.utils.data.Subset(unaugmented, range(0, len(unaugmented), probe_step))
    # channels-last convolutions train about 1.5x faster on CPU (oneDNN), also on GPU (cuDNN)
    model.to(device, memory_format=torch.channels_last)

    def make_loader(ds, shuffle: bool, epoch: int):
        sampler = None
        generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        if world > 1:
            sampler = torch.utils.data.DistributedSampler(ds, shuffle=shuffle, seed=cfg.seed)
            sampler.set_epoch(epoch)
        return torch.utils.data.DataLoader(
            ds, batch_size=cfg.batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
            num_workers=cfg.workers, generator=generator, drop_last=False,
        )  # fmt: skip

    record = model_record(model, cfg.model, cfg.model_kwargs)
    base_payload = {
        "model": record,
        "layout": layout.name,
        "input": spec.to_dict(),
        "data": {"train": cfg.data, "val": cfg.val or f"{cfg.val_split:.0%} of train by identity"},
        "config": asdict(cfg),
    }

    if isinstance(model, MeanShape):
        return _fit_mean_shape(model, train_set, val_set, layout.name, spec, cfg, base_payload, rank, out)

    step = _WithLoss(model, loss_fn)
    if world > 1:
        step = DistributedDataParallel(step)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs, eta_min=cfg.lr * 0.01)
    elif cfg.schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=max(1, cfg.patience // 3))
    elif cfg.schedule == "none":
        scheduler = None
    else:
        raise ValueError(f"unknown schedule {cfg.schedule!r}; choose cosine, plateau or none")

    history: list[EpochResult] = []
    start_epoch, best_score, bad_epochs = 1, math.inf, 0
    best_state = None
    if state is not None:
        model.load_state_dict(state["state_dict"])
        ts = state["train_state"]
        optimizer.load_state_dict(ts["optimizer"])
        if scheduler is not None and ts.get("scheduler"):
            scheduler.load_state_dict(ts["scheduler"])
            if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
                scheduler.T_max = cfg.epochs  # a run extended with --epochs anneals to its new end
        history = [EpochResult(**h) for h in ts["history"]]
        start_epoch, best_score, bad_epochs = ts["epoch"] + 1, ts["best_nme"], ts["bad_epochs"]
        if (out / "best.pt").is_file():
            best_state = read_checkpoint(out / "best.pt")["state_dict"]
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    stopped_early = False
    epoch = start_epoch - 1
    try:
        for epoch in range(start_epoch, cfg.epochs + 1):
            t0 = time.time()
            torch.manual_seed(cfg.seed * 1000 + epoch)  # dropout etc.: same stream after a resume
            train_set.epoch = epoch
            model.train()
            sums = [0.0, 0.0]
            nme_sum = 0.0
            bar = tqdm(make_loader(train_set, True, epoch), desc=f"epoch {epoch}/{cfg.epochs}", disable=not show, leave=False)
            for batch in bar:
                images, targets, mask = _on_device(batch, device)
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
                    nme_sum += float(np.nansum(_batch_nme(pred, targets, mask, layout.name, spec)))
                    bar.set_postfix(loss=f"{sums[0] / sums[1]:.4f}", nme=f"{100 * nme_sum / sums[1]:.2f}%")
            train_loss_sum, train_count = _all_sum(sums, device)
            shift = torch.as_tensor(fit_point_shift(model, shift_probe, cfg.batch_size, device), device=device)
            val_loss, val_nme, val_rmse = _validate(
                model, make_loader(val_set, False, 0), loss_fn, layout.name, spec, device, shift
            )
            lr = optimizer.param_groups[0]["lr"]
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(val_nme)
            elif scheduler is not None:
                scheduler.step()
            result = EpochResult(epoch, train_loss_sum / train_count, val_loss, val_nme, val_rmse, lr, time.time() - t0)
            history.append(result)
            score = val_nme if layout.norm_pair is not None else val_loss  # NME needs a normalizing pair
            improved = score < best_score
            if improved:
                best_score, bad_epochs = score, 0
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            else:
                bad_epochs += 1
            if rank == 0:
                metrics = {"val_nme": val_nme, "val_rmse_px": val_rmse, "epoch": epoch}
                if improved:
                    save_checkpoint(out / "best.pt", {**base_payload, "state_dict": best_state, "metrics": metrics})
                train_state = {
                    "epoch": epoch,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "history": [asdict(h) for h in history],
                    "best_nme": best_score,  # the model-selection score (val NME, or val loss without NME)
                    "bad_epochs": bad_epochs,
                }
                save_checkpoint(
                    out / "last.pt",
                    {**base_payload, "state_dict": model.state_dict(), "metrics": metrics, "train_state": train_state},
                )
                _write_metrics(history, out / "metrics.csv")
                _write_curves(history, out / "curves.png")
                if rank == 0:
                    tqdm.write(
                        f"epoch {epoch:3d}  train loss {result.train_loss:.4f}  val loss {val_loss:.4f}  "
                        f"val NME {100 * val_nme:.2f} %  RMSE {val_rmse:.2f} px  lr {lr:.2e}  {result.seconds:.0f} s"
                        + ("  *" if improved else "")
                    )
            if cfg.patience and bad_epochs >= cfg.patience:
                stopped_early = True
                break
    except KeyboardInterrupt:
        if rank == 0:
            print(f"interrupted in epoch {epoch}; {out / 'last.pt'} holds the last finished epoch: resume with --resume {out}")
        raise
    finally:
        if dist.is_initialized():
            dist.barrier()

    summary = {
        "model": cfg.model,
        "epochs_run": history[-1].epoch if history else 0,
        "stopped_early": stopped_early,
        "best_val_nme": float(np.nanmin([h.val_nme for h in history])) if history and layout.norm_pair else None,
        "best_val_rmse_px": min(h.val_rmse for h in history) if history else None,
        "best_epoch": min(history, key=lambda h: h.val_nme if layout.norm_pair else h.val_loss).epoch if history else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_samples": len(train_set),
        "val_samples": len(val_set),
        "seconds": sum(h.seconds for h in history),
    }
    if rank == 0 and best_state is not None:
        model.load_state_dict(best_state)
        shift = fit_point_shift(model, unaugmented, cfg.batch_size, device)
        payload = {**base_payload, "state_dict": best_state, "metrics": summary, "point_shift": shift.tolist()}
        save_checkpoint(out / "model.pt", payload)
        atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    if dist.is_initialized():
        dist.destroy_process_group()
    return summary


class _WithLoss(torch.nn.Module):
    """``model.compute_loss`` as a forward pass, so DistributedDataParallel can wrap it."""

    def __init__(self, model, loss_fn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, images, targets, mask):
        return self.model.compute_loss(images, targets, mask, self.loss_fn)


@torch.no_grad()
def _validate(
    model, loader, loss_fn, layout, spec, device, shift: torch.Tensor | None = None
) -> tuple[float, float, float]:
    """Validation loss, NME and RMSE (px); ``shift`` (the point shift, normalized frame) is added
    to the predictions before NME and RMSE, as the predictor adds it."""
    model.eval()
    sums = [0.0, 0.0, 0.0, 0.0, 0.0]  # loss * n, nme sum, squared error sum, coordinate count, faces
    for batch in loader:
        images, targets, mask = _on_device(batch, device)
        loss, pred = model.compute_loss(images, targets, mask, loss_fn)
        if shift is not None:
            pred = pred + shift
        sums[0] += float(loss) * len(images)
        sums[1] += float(np.nansum(_batch_nme(pred, targets, mask, layout, spec)))
        scale = spec.normalization.scale
        err = ((pred - targets) * scale) ** 2
        m = mask.unsqueeze(-1).expand_as(err)
        sums[2] += float(err[m].sum())
        sums[3] += float(m.sum())
        sums[4] += len(images)
    # under DDP each rank scores its shard of the split: divide by the faces scored, not the split's size
    total = _all_sum(sums, device)
    n = max(total[4], 1.0)
    val_nme = total[1] / n if get_layout(layout).norm_pair is not None else math.nan
    return total[0] / n, val_nme, math.sqrt(total[2] / max(total[3], 1))


def _fit_mean_shape(model, train_set, val_set, layout, spec, cfg, payload, rank, out) -> dict:
    """The mean-shape baseline: one pass over the (augmented) training targets, no optimization."""
    targets, masks = [], []
    for batch in torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size):
        targets.append(batch["keypoints"])
        masks.append(batch["mask"])
    model.fit(torch.cat(targets), torch.cat(masks))
    loader = torch.utils.data.DataLoader(val_set, batch_size=cfg.batch_size)
    val_loss, val_nme, val_rmse = _validate(model, loader, get_loss(cfg.loss), layout, spec, torch.device("cpu"))
    summary = {"model": cfg.model, "epochs_run": 1, "best_val_nme": val_nme, "val_rmse_px": val_rmse,
               "train_samples": len(train_set), "val_samples": len(val_set), "parameters": 0}  # fmt: skip
    if rank == 0:
        save_checkpoint(out / "model.pt", {**payload, "state_dict": model.state_dict(), "metrics": summary})
        atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    return summary
