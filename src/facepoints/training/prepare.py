"""Everything a run trains with, built from its :class:`TrainConfig`: the data split, the model, its input
contract, the (oversampled) training set, the validation set and the loaders."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from facepoints.checkpoint import read_checkpoint
from facepoints.datasets import open_dataset
from facepoints.datasets.base import LandmarkDataset
from facepoints.inputs import InputSpec
from facepoints.layouts import Layout, get_layout
from facepoints.models import KeypointModel, create_model, model_info
from facepoints.training.config import TrainConfig
from facepoints.training.data import (
    TrainingSet,
    closed_eye_repeats,
    source_repeats,
    split_by_identity,
    turned_face_repeats,
)
from facepoints.training.distributed import Processes

__all__ = ["FACE_CROP_LAYOUTS", "SHIFT_PROBE", "RunSetup", "input_spec", "make_loader", "open_data", "prepare_run"]

#: About this many unaugmented training crops fit the point shift that each epoch's validation applies.
SHIFT_PROBE = 512
#: Layouts whose points outline the whole face, so that their box makes a face crop (the default crop mode).
FACE_CROP_LAYOUTS = ("ibug68", "imm73")


@dataclass
class RunSetup:
    """The model and data of a run, ready for its first epoch."""

    model: KeypointModel
    layout: Layout
    spec: InputSpec
    train_set: TrainingSet
    val_set: TrainingSet
    #: the training faces once each, without augmentation: ``model.pt``'s point shift is fitted on them
    unaugmented: TrainingSet
    #: a fixed sample of ``unaugmented`` for the point shift of each epoch's validation
    shift_probe: torch.utils.data.Dataset


def open_data(cfg: TrainConfig) -> tuple[LandmarkDataset, LandmarkDataset]:
    """(training, validation) faces: ``--val``, or ``--val-split`` of ``--data`` split by identity with the
    run's seed; both mapped to ``--layout`` and kept to complete rows as configured."""

    def prepare(ds: LandmarkDataset) -> LandmarkDataset:
        if cfg.layout and cfg.layout != ds.layout:
            ds = ds.to_layout(cfg.layout)
        return ds.complete_rows() if cfg.complete_only else ds

    data = prepare(open_dataset(cfg.data))
    if cfg.val:
        return data, prepare(open_dataset(cfg.val))
    train_idx, val_idx = split_by_identity(data, cfg.val_split, cfg.seed)
    return data.subset(train_idx), data.subset(val_idx)


def input_spec(cfg: TrainConfig, layout: str, model_size: tuple[int, int], output_range: str) -> InputSpec:
    """The input contract stored with the model; the crop defaults to ``face`` where the layout outlines
    the face and the input is square, else ``full``."""
    square = model_size[0] == model_size[1]
    crop = cfg.crop or ("face" if layout in FACE_CROP_LAYOUTS and square else "full")
    return InputSpec(size=model_size, grey=cfg.grey, crop=crop, output_range=output_range)


def _load_init(model: torch.nn.Module, cfg: TrainConfig, layout: str, spec: InputSpec) -> None:
    """Copy the weights of checkpoint ``cfg.init`` into ``model``, refusing ones made for another job. The
    input size may differ (fine-tuning a fully convolutional network at a new resolution) as long as the
    weights fit; everything else about the input must match."""
    data = read_checkpoint(cfg.init)
    theirs = data["model"]["name"], data["layout"], InputSpec.from_dict(data["input"])
    if theirs != (cfg.model, layout, replace(spec, size=theirs[2].size)):
        raise ValueError(
            f"--init {cfg.init}: made for model {theirs[0]!r}, layout {theirs[1]!r}, input {theirs[2]}; "
            f"this run is {cfg.model!r}, {layout!r}, {spec}"
        )
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise ValueError(f"--init {cfg.init}: weights do not fit this model ({exc})") from None


def _repeats(cfg: TrainConfig, data: LandmarkDataset) -> np.ndarray:
    """How often each training face appears per epoch (closed eyes, turned heads, chosen sources)."""
    return (
        closed_eye_repeats(data, cfg.closed_eyes)
        * turned_face_repeats(data, cfg.turned)
        * source_repeats(data, cfg.oversample)
    )


def prepare_run(cfg: TrainConfig, processes: Processes, load_init: bool) -> RunSetup:
    """Open the data and build the model (random weights from the global torch seed, or ``cfg.init``'s when
    ``load_init``), on ``processes.device`` in channels-last memory."""
    model_info(cfg.model)  # unknown names fail before any data is read
    train_data, val_data = open_data(cfg)
    layout = get_layout(train_data.layout)
    size = (cfg.input_size, cfg.input_size) if cfg.input_size else None
    model = create_model(
        cfg.model, num_points=layout.num_points, in_channels=1 if cfg.grey else 3, input_size=size, **cfg.model_kwargs
    )
    spec = input_spec(cfg, layout.name, model.input_size, model.output_range)
    if cfg.init and load_init:
        _load_init(model, cfg, layout.name, spec)
    show = cfg.progress and processes.main
    train_set = TrainingSet(
        train_data, spec, True, cfg.augment, cfg.seed, cfg.cache_size, show, _repeats(cfg, train_data)
    )
    val_set = TrainingSet(val_data, spec, False, "none", cfg.seed, cfg.cache_size, show)
    unaugmented = train_set.unaugmented()
    probe_step = max(1, len(unaugmented) // SHIFT_PROBE)
    shift_probe = torch.utils.data.Subset(unaugmented, range(0, len(unaugmented), probe_step))
    # channels-last convolutions train about 1.5x faster on CPU (oneDNN), also on GPU (cuDNN)
    model.to(processes.device, memory_format=torch.channels_last)
    return RunSetup(model, layout, spec, train_set, val_set, unaugmented, shift_probe)


def make_loader(
    dataset: torch.utils.data.Dataset, cfg: TrainConfig, world: int, shuffle: bool, epoch: int
) -> torch.utils.data.DataLoader:
    """A loader whose order depends only on the seed and ``epoch`` (so a resumed run sees the same batches);
    under ``torchrun`` each rank gets its shard."""
    sampler = None
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    if world > 1:
        sampler = torch.utils.data.DistributedSampler(dataset, shuffle=shuffle, seed=cfg.seed)
        sampler.set_epoch(epoch)
    return torch.utils.data.DataLoader(
        dataset, batch_size=cfg.batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
        num_workers=cfg.workers, generator=generator, drop_last=False,
    )  # fmt: skip
