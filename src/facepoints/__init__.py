"""facepoints: find faces, place 68 landmarks, train and evaluate keypoint models.

The public API lives here; the ``facepoints`` command is a thin layer over it.
"""

from facepoints.datasets import (
    DatasetError,
    LandmarkDataset,
    Sample,
    list_formats,
    open_dataset,
    synthetic_dataset,
)
from facepoints.imageio import ImageReadError, load_image, save_image
from facepoints.landmarker import Face, FaceLandmarker, detect, detect_batch, draw_faces
from facepoints.predict import Predictor
from facepoints.layouts import Layout, convert_points, get_layout, list_layouts
from facepoints.viz import dataset_grid, draw_keypoints

__version__ = "0.1.0"

__all__ = [
    "DatasetError",
    "Face",
    "FaceLandmarker",
    "ImageReadError",
    "LandmarkDataset",
    "Layout",
    "Predictor",
    "Sample",
    "__version__",
    "convert_points",
    "dataset_grid",
    "detect",
    "detect_batch",
    "draw_faces",
    "draw_keypoints",
    "get_layout",
    "list_formats",
    "list_layouts",
    "load_image",
    "open_dataset",
    "save_image",
    "synthetic_dataset",
]
