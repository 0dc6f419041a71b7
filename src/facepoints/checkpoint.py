"""Self-describing checkpoints: architecture, layout, input contract, data and metrics with the weights.

``load_model(path)`` needs nothing but the file. Files are written atomically and read
with ``weights_only=True`` (no code runs on load); a corrupt or foreign file gets a clear
:class:`CheckpointError`.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from facepoints.imageio import atomic_write_bytes
from facepoints.inputs import InputSpec
from facepoints.models import KeypointModel, create_model

__all__ = ["CheckpointError", "LoadedModel", "save_checkpoint", "read_checkpoint", "load_model", "FORMAT"]

FORMAT = "facepoints-checkpoint"
VERSION = 1
#: What every checkpoint holds besides the format marker (``load_model`` needs all of them).
REQUIRED_KEYS = ("model", "layout", "input", "state_dict")


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
    missing = set(REQUIRED_KEYS) - set(payload)
    if missing:
        raise ValueError(f"checkpoint payload lacks {sorted(missing)}")
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **payload}, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def _unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be a checkpoint, told from its name and first bytes (torch's own errors
    about such files are long pickle or zip internals); None when it may be one."""
    if path.suffix.lower() == ".onnx":
        stem = path.name[: -len(".onnx")].removesuffix(".int8")
        source = path.with_name(f"{stem}.pt")
        hint = f"pass {source}" if source.is_file() else "pass the .pt checkpoint it came from"
        return f"{path}: is an ONNX export, not a checkpoint; {hint} (its ONNX exports beside it are found and used)"
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        return f"{path}: cannot read it ({exc.strerror or exc})"
    if not head:
        return f"{path}: empty file, not a checkpoint"
    if head == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        return f"{path}: truncated or damaged checkpoint (its zip archive is incomplete); copy or write it again"
    if head[:2] != b"PK" and head[:1] != b"\x80":
        return f"{path}: not a PyTorch checkpoint (neither a zip archive nor a pickle)"
    return None


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load and validate a checkpoint dict (no model is built)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    reason = _unreadable(path)
    if reason:
        raise CheckpointError(reason)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's message is a page on weights_only; code is never run here
        raise CheckpointError(
            f"{path}: not a readable facepoints checkpoint (damaged, or it pickles Python objects such as a whole "
            "model, which facepoints never loads: checkpoints hold only weights and plain data)"
        ) from None
    except Exception as exc:  # torch raises many types for damaged or foreign files; their first line says enough
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{path}: not a readable facepoints checkpoint ({type(exc).__name__}: {first})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a facepoints checkpoint (no '{FORMAT}' marker)")
    if data.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data['version']} is newer than this facepoints supports")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if "model" in data and not (isinstance(data["model"], dict) and {"name", "kwargs"} <= data["model"].keys()):
        missing.append("the model's name and kwargs")
    if missing:
        raise CheckpointError(f"{path}: incomplete facepoints checkpoint (lacks {', '.join(missing)})")
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
