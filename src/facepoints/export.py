"""ONNX export of landmark models: self-describing files that onnxruntime runs without PyTorch.

The exported graph takes ``image`` (B x C x H x W floats in [0, 1]) and returns ``points``
(B x N x 2, the model's normalized frame) and ``confidence`` (B x N; ones for models
without a confidence output), so every backend feeds the same codec. Each file carries the
model's description (:class:`facepoints.backends.ModelInfo`: input contract, layout, point
shift, and the SHA-256 of the checkpoint it came from) in its metadata.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch

from facepoints.backends import METADATA_KEY, ModelInfo, OnnxBackend, file_sha256
from facepoints.checkpoint import LoadedModel
from facepoints.codec import LandmarkCodec
from facepoints.datasets import open_dataset
from facepoints.geometry import points_box
from facepoints.imageio import atomic_write_bytes, load_image
from facepoints.resources import sample_image_path

__all__ = ["export_onnx", "describe_export", "check_parity", "quantize_int8", "sample_crops", "calibration_samples"]

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


def _info(loaded: LoadedModel) -> ModelInfo:
    return ModelInfo(loaded.name, loaded.layout, loaded.input, np.asarray(loaded.meta.get("point_shift", 0.0), np.float32))


def _described(model: onnx.ModelProto, info: ModelInfo, source_sha256: str | None) -> bytes:
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {METADATA_KEY: info.to_json(source_sha256)})
    return model.SerializeToString()


def describe_export(path: str | os.PathLike, loaded: LoadedModel, checkpoint: str | os.PathLike | None = None) -> Path:
    """Write ``loaded``'s description into an existing ONNX export (its graph unchanged), linked to
    ``checkpoint``'s file hash: for exports made before files carried descriptions."""
    source = file_sha256(checkpoint) if checkpoint is not None else None
    return atomic_write_bytes(path, _described(onnx.load(str(path)), _info(loaded), source))


def export_onnx(
    loaded: LoadedModel, path: str | os.PathLike, dynamic_batch: bool = True, opset: int = 17,
    checkpoint: str | os.PathLike | None = None,
) -> Path:  # fmt: skip
    """Write ``loaded``'s model as a self-describing ONNX file (atomically), linked to the file hash
    of ``checkpoint`` (the .pt it was loaded from) when given; returns the path."""
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
    source = file_sha256(checkpoint) if checkpoint is not None else None
    return atomic_write_bytes(path, _described(onnx.load_from_string(buffer.getvalue()), _info(loaded), source))


def sample_crops(loaded: LoadedModel, samples: list | None = None, faces: int = 6) -> np.ndarray:
    """Model inputs (B, C, H, W) from real faces: ``samples`` (with labels, cropped on their
    landmark boxes), or the bundled photo's face shifted and scaled a little."""
    codec = LandmarkCodec(loaded.input)
    if samples is None:
        image = load_image(sample_image_path())
        x1, y1, x2, y2 = SAMPLE_FACE_BOX
        rng = np.random.default_rng(0)
        boxes = [np.array([x1, y1, x2, y2]) + rng.uniform(-6, 6, 4) for _ in range(faces)]
        images = [image] * faces
    else:
        boxes, images = [points_box(s.keypoints) for s in samples], [s.image for s in samples]
    crops, _ = codec.crops(images, np.arange(len(images)), np.asarray(boxes, np.float64))
    return codec.encode(crops)


def calibration_samples(specs: list[str], faces: int = 200) -> list:
    """About ``faces`` labelled faces for int8 calibration, in equal shares from each dataset of
    ``specs`` and spread evenly over each: a model that serves several kinds of images is
    calibrated on all of them (calibrated on HELEN and Udacity faces rather than HELEN alone,
    int8 lost about 0.02 NME points less on each test set; docs/experiments/landmark-models.md)."""
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
    runner = OnnxBackend(path)
    got = [np.concatenate(parts) for parts in zip(*(runner.run(batch[i : i + 1].numpy()) for i in range(len(batch))))]
    error = max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))
    if error > tolerance:
        raise ValueError(f"{path}: ONNX output differs from PyTorch by {error:.2e} (> {tolerance:.0e})")
    return error


def quantize_int8(onnx_path: str | os.PathLike, calibration: np.ndarray, out: str | os.PathLike, float_tail: int = 4) -> Path:
    """Static int8 quantization (QDQ, per-channel weights, percentile calibration on
    ``calibration`` inputs). The last ``float_tail`` convolutions (the heatmap/offset head
    and the layers feeding it) and the decoding stay in float, where int8 costs accuracy.
    The result carries the float export's description."""
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
        quantized = onnx.load(str(target))
        del quantized.metadata_props[:]
        quantized.metadata_props.extend(onnx.load(str(onnx_path)).metadata_props)
        return atomic_write_bytes(out, quantized.SerializeToString())
