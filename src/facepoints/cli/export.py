"""``facepoints export``: a model as ONNX, checked against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path

from facepoints.backends import export_paths
from facepoints.checkpoint import load_model
from facepoints.export import (
    calibration_samples,
    check_parity,
    describe_export,
    export_onnx,
    quantize_int8,
    sample_crops,
)
from facepoints.resources import resolve_model_path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a landmark model to ONNX")
    p.add_argument("--model", default="default", help="bundled name or checkpoint path")
    p.add_argument("--format", choices=["onnx"], default="onnx")
    p.add_argument("--out", help="output file (default: beside the checkpoint, .onnx)")
    p.add_argument("--dynamic-batch", action="store_true", help="allow any batch size")
    p.add_argument(
        "--int8", metavar="SPEC", nargs="+",
        help="also write NAME.int8.onnx, calibrated on faces of these (training) datasets, in equal shares",
    )  # fmt: skip
    p.add_argument("--calibration-faces", type=int, default=200, help="faces used for int8 calibration")
    p.add_argument(
        "--describe", action="store_true",
        help="only write the checkpoint's description into its existing exports (made before exports carried one)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = resolve_model_path(args.model)
    out = Path(args.out) if args.out else source.with_suffix(".onnx")
    if out.resolve() == source.resolve():
        raise ValueError(f"{out}: refusing to overwrite the checkpoint")
    loaded = load_model(source)
    if args.describe:
        for path in (p for p in export_paths(source).values() if p.is_file()):
            print(f"described {describe_export(path, loaded, source)}")
        return 0
    path = export_onnx(loaded, out, dynamic_batch=args.dynamic_batch, checkpoint=source)
    error = check_parity(loaded, path)
    print(f"wrote {path}; max |onnx - torch| = {error:.2e} on real face crops")
    if args.int8:
        crops = sample_crops(loaded, calibration_samples(args.int8, args.calibration_faces))
        q = quantize_int8(path, crops, path.with_suffix(".int8.onnx"))
        print(f"wrote {q} (int8, calibrated on {len(crops)} faces of {', '.join(args.int8)})")
    return 0
