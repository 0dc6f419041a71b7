"""Landmark models: one module per family, each registering its factories here on import."""

from facepoints.models import alexnet_fkp, baselines, cs194, fpnet, kaggle_cnn, naimishnet, resnet  # noqa: F401
from facepoints.models.registry import (
    KeypointModel,
    ModelInfo,
    count_parameters,
    create_model,
    list_models,
    model_info,
    register_model,
)

__all__ = [
    "KeypointModel",
    "ModelInfo",
    "count_parameters",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
]
