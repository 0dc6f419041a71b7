"""Training: input contracts, identity-aware data, masked losses and the trainer."""

from facepoints.training.data import TrainingSet, split_by_identity
from facepoints.training.inputs import InputSpec, build_transform
from facepoints.training.losses import LOSSES, get_loss
from facepoints.training.trainer import TrainConfig, train

__all__ = ["LOSSES", "InputSpec", "TrainConfig", "TrainingSet", "build_transform", "get_loss", "split_by_identity", "train"]
