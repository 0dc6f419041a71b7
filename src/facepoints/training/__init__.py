"""Training: input contracts, identity-aware data, masked losses and the trainer."""

from facepoints.inputs import InputSpec, build_transform
from facepoints.training.data import TrainingSet, split_by_identity
from facepoints.training.losses import LOSSES, get_loss
from facepoints.training.trainer import Summary, TrainConfig, resume, train, validation_split

__all__ = [
    "LOSSES", "InputSpec", "Summary", "TrainConfig", "TrainingSet", "build_transform", "get_loss", "resume",
    "split_by_identity", "train", "validation_split",
]  # fmt: skip
