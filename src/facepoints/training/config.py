"""What a training run depends on: :class:`TrainConfig`, saved in every checkpoint so ``--resume`` needs only
the run folder, and the names of its modes. ``facepoints train`` takes its defaults from here."""

from __future__ import annotations

import warnings
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, get_args

from facepoints.codec import CROP_ALIASES, CROP_MODES
from facepoints.layouts import get_layout
from facepoints.training.losses import LOSSES, LossName
from facepoints.transforms import AUGMENT_PRESETS

__all__ = ["OPTIMIZERS", "SCHEDULES", "Augment", "CropMode", "Optimizer", "Schedule", "TrainConfig", "config_default"]

#: How the weights move: AdamW (decoupled weight decay), Adam (weight decay added to the gradient, as L2
#: regularization) or SGD with momentum (optionally Nesterov's).
Optimizer = Literal["adamw", "adam", "sgd"]

#: How the learning rate moves over the epochs: cosine annealing to 1 % of ``lr``, halving when the validation
#: score stalls, or constant.
Schedule = Literal["cosine", "plateau", "none"]
#: The names of :data:`facepoints.transforms.AUGMENT_PRESETS`.
Augment = Literal["none", "flip", "light", "strong"]
#: The crop modes of :data:`facepoints.codec.CROP_MODES` (former names: ``CROP_ALIASES``).
CropMode = Literal["face", "full", "rescale-crop"]

SCHEDULES: tuple[str, ...] = get_args(Schedule)
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)


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
    optimizer: Optimizer = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only: Nesterov momentum
    loss: LossName = "wing"
    augment: Augment = "light"
    schedule: Schedule = "cosine"
    patience: int = 10  # early stopping: epochs without a better validation score (0: off)
    clip: float = 5.0  # gradient norm clip (0: off)
    seed: int = 0
    workers: int = 1
    crop: CropMode | None = None  # default: face for 68- and 73-point layouts with a square input, full otherwise
    input_size: int | None = None
    grey: bool = True
    cache_size: int | None = None
    model_kwargs: dict = field(default_factory=dict)
    layout: str | None = None  # map the data to this layout first (e.g. kaggle4: the 4 points most Kaggle rows have)
    complete_only: bool = False  # keep only rows with every point labelled
    closed_eyes: int = 1  # repeat faces labelled with closed eyes this often per epoch
    turned: int = 1  # repeat faces labelled as turned sideways (|yaw| >= data.TURNED_YAW) this often per epoch
    oversample: dict[str, int] = field(default_factory=dict)  # path substring -> repeats per epoch
    init: str | None = None  # start from this checkpoint's weights (fine-tuning); same model, layout and input but its size
    # after each epoch, re-estimate batch-norm statistics with dropout off over this many batches of
    # un-augmented training faces (0: off); see facepoints.training.bn_recalibration
    bn_recalibrate: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.crop in CROP_ALIASES:
            warnings.warn(
                f"crop mode {self.crop!r} is now called {CROP_ALIASES[self.crop]!r}", DeprecationWarning, stacklevel=3
            )
            self.crop = CROP_ALIASES[self.crop]
        for name, value, allowed in (
            ("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
            ("loss", self.loss, tuple(LOSSES)),
            ("augment", self.augment, tuple(AUGMENT_PRESETS)), ("crop", self.crop, (None, *CROP_MODES)),
        ):  # fmt: skip
            if value not in allowed:
                choices = ", ".join(a for a in allowed if a is not None)
                raise ValueError(f"unknown {name} {value!r}; choose from {choices}")
        if self.nesterov and not (self.optimizer == "sgd" and self.momentum > 0):
            raise ValueError("nesterov needs optimizer sgd with a momentum above 0")
        if self.bn_recalibrate < 0:
            raise ValueError(f"bn_recalibrate must be >= 0 batches, got {self.bn_recalibrate}")
        if self.layout is not None:
            get_layout(self.layout)  # an unknown name fails before any data is read

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """The config saved by any facepoints version: keys it no longer has are dropped, fields it did not
        have yet take their defaults, and former names of modes are read as their current ones."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("crop") in CROP_ALIASES:
            values["crop"] = CROP_ALIASES[values["crop"]]
        return cls(**values)


def config_default(name: str) -> Any:
    """The default of :class:`TrainConfig` field ``name`` (the command line shows and uses these)."""
    for f in fields(TrainConfig):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
            raise ValueError(f"TrainConfig.{name} has no default")
    raise ValueError(f"TrainConfig has no field {name!r}")
