"""Files shipped inside the package (bundled models, detector weights, the sample photo, schemas), by name."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["BUNDLED_MODELS", "resource_path", "resolve_model_path", "default_model_path", "sample_image_path"]

#: Names accepted for ``model=``: bundled weights inside the package. ``default`` is the most
#: accurate; ``fast`` is a narrower network of the same design, about half the time per face.
BUNDLED_MODELS = {"default": "fpnet68.pt", "fpnet68": "fpnet68.pt", "fast": "fpnet68-fast.pt", "fpnet68-fast": "fpnet68-fast.pt"}


def resource_path(name: str) -> Path:
    """The path of a file shipped in this package."""
    return Path(str(resources.files(__name__).joinpath(name)))


def resolve_model_path(model: str | os.PathLike) -> Path:
    """A bundled model name or a checkpoint path -> the checkpoint file."""
    if isinstance(model, str) and model in BUNDLED_MODELS:
        return resource_path(BUNDLED_MODELS[model])
    return Path(model)


def default_model_path() -> Path:
    """The bundled default landmark model (see its model card in docs/default-model.md)."""
    return resource_path(BUNDLED_MODELS["default"])


def sample_image_path() -> Path:
    """The bundled sample photo (NASA portrait of astronaut Eileen Collins, public domain)."""
    return resource_path("astronaut.jpg")
