"""ONNX export of landmark models and the onnxruntime session that runs them.

The exported graph takes ``image`` (B x C x H x W floats in [0, 1]) and returns ``points``
(B x N x 2, the model's normalized frame) and ``confidence`` (B x N; ones for models
without a confidence output), so both backends feed the same post-processing.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from facepoints.checkpoint import LoadedModel
from facepoints.imageio import atomic_write_bytes

__all__ = ["export_onnx", "OnnxRunner", "onnx_available", "check_parity"]


class _WithConfidence(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor):
        if hasattr(self.model, "forward_with_confidence"):
            return self.model.forward_with_confidence(image)
        points = self.model(image)
        return points, torch.ones_like(points[..., 0])


def export_onnx(loaded: LoadedModel, path: str | os.PathLike, dynamic_batch: bool = True, opset: int = 17) -> Path:
    """Write ``loaded``'s model as ONNX (atomically); returns the path."""
    model = loaded.model.eval()
    h, w = loaded.input.size
    dummy = torch.zeros(1, model.in_channels, h, w)
    buffer = io.BytesIO()
    torch.onnx.export(
        _WithConfidence(model),
        (dummy,),
        buffer,
        input_names=["image"],
        output_names=["points", "confidence"],
        dynamic_axes={"image": {0: "batch"}, "points": {0: "batch"}, "confidence": {0: "batch"}} if dynamic_batch else None,
        opset_version=opset,
        dynamo=False,
    )
    return atomic_write_bytes(path, buffer.getvalue())


def onnx_available() -> bool:
    """Whether onnxruntime can be imported here."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxRunner:
    """An onnxruntime session created once; ``run(images) -> (points, confidence)``."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ValueError(f"{path}: not a usable ONNX model ({exc})") from None

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points, confidence = self.session.run(None, {"image": np.ascontiguousarray(images, dtype=np.float32)})
        return points, confidence


def check_parity(loaded: LoadedModel, path: str | os.PathLike, faces: int = 4, tolerance: float = 1e-4) -> float:
    """Largest difference between ONNX and PyTorch outputs on synthetic face crops; raises if
    above ``tolerance``."""
    from facepoints.datasets import make_synthetic_sample
    from facepoints.inputs import build_transform

    transform = build_transform(loaded.input, train=False)
    batch = torch.stack([transform(make_synthetic_sample(k, 160))["image"] for k in range(faces)])
    with torch.no_grad():
        expected = _WithConfidence(loaded.model.eval())(batch)
    got = OnnxRunner(path).run(batch.numpy())
    error = max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))
    if error > tolerance:
        raise ValueError(f"{path}: ONNX output differs from PyTorch by {error:.2e} (> {tolerance:.0e})")
    return error
