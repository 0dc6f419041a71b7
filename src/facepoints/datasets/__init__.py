"""Dataset readers behind one :class:`Sample` type. A new format is one module plus one import here."""

from facepoints.datasets.base import (
    ConcatDataset,
    DatasetError,
    LandmarkDataset,
    Sample,
    identity_from_filename,
    list_formats,
    open_dataset,
    register_format,
)
from facepoints.datasets.imm import read_asf, read_imm_folder
from facepoints.datasets.kaggle import read_kaggle, read_kaggle_lookup
from facepoints.datasets.pts import read_pts, read_pts_folder
from facepoints.datasets.synthetic import make_synthetic_sample, synthetic_dataset
from facepoints.datasets.udacity import read_udacity

__all__ = [
    "ConcatDataset",
    "DatasetError",
    "LandmarkDataset",
    "Sample",
    "identity_from_filename",
    "list_formats",
    "make_synthetic_sample",
    "open_dataset",
    "read_asf",
    "read_imm_folder",
    "read_kaggle",
    "read_kaggle_lookup",
    "read_pts",
    "read_pts_folder",
    "read_udacity",
    "register_format",
    "synthetic_dataset",
]
