"""Landmark-model backends behind one interface: ``run(batch) -> (points, confidence)``.

``onnx`` and ``int8`` run an ONNX export through onnxruntime and need no PyTorch; ``torch`` runs a
checkpoint. Exports are self-describing: each ONNX file carries the model's input contract,
layout, point shift and the SHA-256 of the checkpoint it was exported from, so an ONNX file alone
is a model, and an export that no longer matches its checkpoint (a retrain since) is caught.
:func:`open_model` chooses explicitly: a stale or missing export is an error when asked for by
name, and a logged choice under ``auto``; it never switches silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol

import numpy as np

from facepoints.codec import InputSpec
from facepoints.ortsession import ort_session

__all__ = [
    "BACKENDS",
    "Backend",
    "ModelInfo",
    "OnnxBackend",
    "TorchBackend",
    "export_paths",
    "file_sha256",
    "open_model",
]

log = logging.getLogger("facepoints.backends")

#: ``auto``: the int8 export, else the float one, else PyTorch (each choice logged).
BACKENDS = ("auto", "int8", "onnx", "torch")
#: The metadata key of an ONNX export that holds its description (JSON).
METADATA_KEY = "facepoints"


class Backend(Protocol):
    """Runs the model on a batch ``(B, C, H, W)`` of [0, 1] floats."""

    name: str

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points ``(B, N, 2)`` in the model's normalized frame and confidences ``(B, N)``."""
        ...


@dataclass(frozen=True)
class ModelInfo:
    """What inference needs to know of a model besides its weights."""

    name: str
    layout: str
    input: InputSpec
    point_shift: np.ndarray  # (N, 2) or a scalar, normalized units
    source_sha256: str | None = None  # of the checkpoint an export came from

    def to_json(self, source_sha256: str | None = None) -> str:
        shift = np.asarray(self.point_shift, np.float64)
        return json.dumps({
            "name": self.name, "layout": self.layout, "input": self.input.to_dict(), "point_shift": shift.tolist(),
            "source_sha256": source_sha256 or self.source_sha256,
        })  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> ModelInfo:
        d = json.loads(text)
        shift = np.asarray(d.get("point_shift", 0.0), np.float32)
        return cls(d["name"], d["layout"], InputSpec.from_dict(d["input"]), shift, d.get("source_sha256"))


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_paths(checkpoint: str | os.PathLike) -> dict[str, Path]:
    """Where ``facepoints export`` writes a checkpoint's ONNX exports: ``{"int8": ..., "onnx": ...}``."""
    path = Path(checkpoint)
    return {"int8": path.with_suffix(".int8.onnx"), "onnx": path.with_suffix(".onnx")}


class OnnxBackend:
    """An onnxruntime session on a facepoints ONNX export, created once (:func:`ort_session`)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, name: str = "onnx") -> None:
        self.path, self.name = Path(path), name
        self.session = ort_session(path, threads)
        described = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        self.info = ModelInfo.from_json(described) if described else None

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points, confidence = self.session.run(None, {"image": np.ascontiguousarray(batch, dtype=np.float32)})
        return points, confidence


class TorchBackend:
    """A checkpoint's PyTorch model (needs the ``train`` extra: ``pip install facepoints[train]``)."""

    name = "torch"

    def __init__(self, loaded, threads: int | None = None, device: str = "cpu") -> None:
        import torch

        self._torch, self.loaded, self.device = torch, loaded, device
        self.model = loaded.model.eval().to(device)
        if threads:
            torch.set_num_threads(threads)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            forward = getattr(self.model, "forward_with_confidence", None)
            if forward is not None:
                points, confidence = (t.cpu().numpy() for t in forward(x))
            else:
                points = self.model(x).cpu().numpy()
                confidence = np.ones(points.shape[:2], np.float32)
        return points, confidence


def _torch_info(loaded) -> ModelInfo:
    return ModelInfo(
        loaded.name, loaded.layout, loaded.input, np.asarray(loaded.meta.get("point_shift", 0.0), np.float32)
    )


def _torch_backend(checkpoint, threads: int | None, device: str) -> tuple[Backend, ModelInfo]:
    if find_spec("torch") is None:
        raise RuntimeError(
            f"{checkpoint}: running a .pt checkpoint needs PyTorch (pip install 'facepoints[train]'), "
            "or pass its ONNX export (facepoints export) as the model"
        )
    from facepoints.checkpoint import LoadedModel, load_model

    loaded = checkpoint if isinstance(checkpoint, LoadedModel) else load_model(checkpoint, device)
    return TorchBackend(loaded, threads, device), _torch_info(loaded)


def _fresh_export(checkpoint: Path, kind: str, threads: int | None) -> tuple[OnnxBackend | None, str]:
    """The export of ``kind`` beside ``checkpoint`` if it exists and was made from it, else why not."""
    path = export_paths(checkpoint)[kind]
    if not path.is_file():
        return None, f"no {path.name} beside {checkpoint.name} (make it with facepoints export)"
    backend = OnnxBackend(path, threads, kind)
    if backend.info is None:
        return None, f"{path} carries no facepoints description (export it again with facepoints export)"
    if backend.info.source_sha256 != file_sha256(checkpoint):
        return (
            None,
            f"{path} was exported from another version of {checkpoint.name} (stale: run facepoints export again)",
        )
    return backend, ""


def open_model(
    model, backend: str = "auto", threads: int | None = None, device: str = "cpu"
) -> tuple[Backend, ModelInfo]:
    """The backend that runs ``model`` and its description.

    ``model``: a checkpoint path (its exports beside it, see :func:`export_paths`), an ONNX
    export, or a loaded PyTorch model. ``backend``: one of :data:`BACKENDS`; ``auto`` takes the
    int8 export, else the float export, else PyTorch, and logs why when it passes one over.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose {', '.join(BACKENDS)}")
    if not isinstance(model, (str, os.PathLike)):  # a LoadedModel: PyTorch only
        if backend not in ("auto", "torch"):
            raise ValueError(f"a model in memory runs on PyTorch, not {backend!r}; export it first")
        return _torch_backend(model, threads, device)
    path = Path(model)
    if path.suffix.lower() == ".onnx":
        if backend == "torch":
            raise ValueError(f"{path}: an ONNX file runs on onnxruntime; pass its .pt checkpoint for PyTorch")
        onnx = OnnxBackend(path, threads, "int8" if path.name.endswith(".int8.onnx") else "onnx")
        if onnx.info is None:
            raise ValueError(
                f"{path}: this ONNX file carries no facepoints description (export it with facepoints export)"
            )
        return onnx, onnx.info
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    if backend == "torch":
        return _torch_backend(path, threads, device)
    reasons = []
    for kind in ("int8", "onnx") if backend == "auto" else (backend,):
        onnx, why = _fresh_export(path, kind, threads)
        if onnx is not None:
            return onnx, onnx.info
        if backend != "auto":
            raise ValueError(why)
        reasons.append(why)
    log.warning("running %s on PyTorch: %s", path, "; ".join(reasons))
    return _torch_backend(path, threads, device)
