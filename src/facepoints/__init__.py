"""facepoints: find faces, place 68 landmarks, train and evaluate keypoint models.

The public API lives here; the ``facepoints`` command is a thin layer over it. Names are imported
on first use (PEP 562), so ``import facepoints`` stays fast and pulls in neither OpenCV's detector
nor onnxruntime nor PyTorch until they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "DatasetError": "facepoints.datasets",
    "LandmarkDataset": "facepoints.datasets",
    "Sample": "facepoints.datasets",
    "list_formats": "facepoints.datasets",
    "open_dataset": "facepoints.datasets",
    "synthetic_dataset": "facepoints.datasets",
    "ImageReadError": "facepoints.imageio",
    "load_image": "facepoints.imageio",
    "save_image": "facepoints.imageio",
    "Face": "facepoints.landmarker",
    "FaceLandmarker": "facepoints.landmarker",
    "detect": "facepoints.landmarker",
    "detect_batch": "facepoints.landmarker",
    "draw_faces": "facepoints.drawing",
    "Predictor": "facepoints.predict",
    "Layout": "facepoints.layouts",
    "convert_points": "facepoints.layouts",
    "get_layout": "facepoints.layouts",
    "list_layouts": "facepoints.layouts",
    "dataset_grid": "facepoints.viz",
    "draw_keypoints": "facepoints.viz",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:  # for type checkers and editors; at run time the names load on first use
    from facepoints.datasets import DatasetError, LandmarkDataset, Sample, list_formats, open_dataset, synthetic_dataset  # noqa: F401
    from facepoints.drawing import draw_faces  # noqa: F401
    from facepoints.imageio import ImageReadError, load_image, save_image  # noqa: F401
    from facepoints.landmarker import Face, FaceLandmarker, detect, detect_batch  # noqa: F401
    from facepoints.layouts import Layout, convert_points, get_layout, list_layouts  # noqa: F401
    from facepoints.predict import Predictor  # noqa: F401
    from facepoints.viz import dataset_grid, draw_keypoints  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'facepoints' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
