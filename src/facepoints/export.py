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

__all__ = [
    "export_onnx", "OnnxRunner", "onnx_available", "check_parity", "quantize_int8", "sample_crops",
    "calibration_samples",
]  # fmt: skip

#: The face in the bundled photo (its landmark box): the real face parity checks run on.
SAMPLE_FACE_BOX = (178.0, 87.0, 271.0, 178.0)


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

        self.path = Path(path)
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


def sample_crops(loaded: LoadedModel, samples: list | None = None, faces: int = 6) -> np.ndarray:
    """Model inputs (B, C, H, W) from real faces: ``samples`` (with labels, cropped on their
    landmark boxes), or the bundled photo's face shifted and scaled a little."""
    from facepoints.imageio import load_image
    from facepoints.landmarker import sample_image_path
    from facepoints.predict import Predictor, points_box

    predictor = Predictor(loaded, backend="torch")
    if samples is None:
        image = load_image(sample_image_path())
        x1, y1, x2, y2 = SAMPLE_FACE_BOX
        rng = np.random.default_rng(0)
        boxes = [np.array([x1, y1, x2, y2]) + rng.uniform(-6, 6, 4) for _ in range(faces)]
        images = [image] * faces
    else:
        boxes, images = [points_box(s.keypoints) for s in samples], [s.image for s in samples]
    crops = [c for image, b in zip(images, boxes) for c in predictor._crops(image, np.asarray([b]))[0]]
    return predictor._tensor(crops, mirror=False)


def calibration_samples(specs: list[str], faces: int = 200) -> list:
    """About ``faces`` labelled faces for int8 calibration, in equal shares from each dataset of
    ``specs`` and spread evenly over each: a model that serves several kinds of images is
    calibrated on all of them (docs/default-model.md, experiment 11)."""
    from facepoints.datasets import open_dataset

    share = max(1, faces // len(specs))
    samples = []
    for spec in specs:
        data = open_dataset(spec)
        step = max(1, len(data) // share)
        samples += [data[i] for i in range(0, len(data), step)[:share]]
    return samples


def check_parity(loaded: LoadedModel, path: str | os.PathLike, tolerance: float = 1e-4) -> float:
    """Largest difference between ONNX and PyTorch outputs on real face crops (the bundled
    photo's face); raises if above ``tolerance``."""
    batch = torch.from_numpy(sample_crops(loaded))
    with torch.no_grad():
        expected = _WithConfidence(loaded.model.eval())(batch)
    runner = OnnxRunner(path)
    got = [np.concatenate(parts) for parts in zip(*(runner.run(batch[i : i + 1].numpy()) for i in range(len(batch))))]
    error = max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))
    if error > tolerance:
        raise ValueError(f"{path}: ONNX output differs from PyTorch by {error:.2e} (> {tolerance:.0e})")
    return error


def quantize_int8(onnx_path: str | os.PathLike, calibration: np.ndarray, out: str | os.PathLike, float_tail: int = 4) -> Path:
    """Static int8 quantization (QDQ, per-channel weights, percentile calibration on
    ``calibration`` inputs). The last ``float_tail`` convolutions (the heatmap/offset head
    and the layers feeding it) and the decoding stay in float, where int8 costs accuracy."""
    import tempfile

    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(calibration)

        def get_next(self) -> dict | None:
            x = next(self.items, None)
            return None if x is None else {"image": x[None].astype(np.float32)}

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(onnx_path), str(pre))
        graph = onnx.load(str(pre)).graph
        convs = [n.name for n in graph.node if n.op_type == "Conv"]
        keep = [n.name for n in graph.node if n.op_type not in ("Conv", "Add", "Relu", "Clip")] + convs[-float_tail:]
        target = Path(tmp) / "int8.onnx"
        for method in (CalibrationMethod.Percentile, CalibrationMethod.MinMax):
            try:
                quantize_static(
                    str(pre), str(target), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True, calibrate_method=method, nodes_to_exclude=keep,
                )  # fmt: skip
                break
            except ValueError:  # percentiles need a spread of values; a constant activation has none
                continue
        return atomic_write_bytes(out, target.read_bytes())
