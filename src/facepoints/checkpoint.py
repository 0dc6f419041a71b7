"""Self-describing checkpoints: architecture, layout, input contract, data and metrics with the weights.

``load_model(path)`` needs nothing but the file. Files are written atomically and read
with ``weights_only=True`` (no code runs on load); a corrupt or foreign file gets a clear
:class:`CheckpointError`.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from facepoints.imageio import atomic_write_bytes
from facepoints.inputs import InputSpec
from facepoints.models import KeypointModel, create_model

__all__ = ["CheckpointError", "LoadedModel", "save_checkpoint", "read_checkpoint", "load_model", "FORMAT"]

FORMAT = "facepoints-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file is not a usable facepoints checkpoint."""


@dataclass
class LoadedModel:
    """A model ready for inference plus everything needed to feed it and read its output."""

    model: KeypointModel
    layout: str
    input: InputSpec
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.meta.get("model", {}).get("name", type(self.model).__name__)


def model_record(model: KeypointModel, name: str, extra_kwargs: dict | None = None) -> dict:
    """What is needed to rebuild ``model`` from the registry."""
    kwargs = {"num_points": model.num_points, "in_channels": model.in_channels, "input_size": list(model.input_size)}
    kwargs.update(extra_kwargs or {})
    return {"name": name, "kwargs": kwargs}


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write a checkpoint dict atomically (``payload`` must hold model, layout, input, state_dict)."""
    missing = {"model", "layout", "input", "state_dict"} - set(payload)
    if missing:
        raise ValueError(f"checkpoint payload lacks {sorted(missing)}")
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **payload}, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load and validate a checkpoint dict (no model is built)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable facepoints checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a facepoints checkpoint (no '{FORMAT}' marker)")
    if data.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data['version']} is newer than this facepoints supports")
    return data


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the model described by a checkpoint and load its weights (in eval mode)."""
    data = read_checkpoint(path)
    record = data["model"]
    kwargs = dict(record["kwargs"])
    kwargs["input_size"] = tuple(kwargs["input_size"])
    try:
        model = create_model(record["name"], **kwargs)
        model.load_state_dict(data["state_dict"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path}: weights do not fit model {record.get('name')!r} ({exc})") from None
    shift = data.get("point_shift")
    if shift is not None and (len(shift) != model.num_points or any(len(p) != 2 for p in shift)):
        raise CheckpointError(f"{path}: point_shift does not hold one (x, y) pair per point of the model")
    meta = {k: v for k, v in data.items() if k not in ("state_dict", "train_state")}
    return LoadedModel(model.to(device).eval(), data["layout"], InputSpec.from_dict(data["input"]), meta)
