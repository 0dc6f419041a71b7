"""Make a YuNet ONNX file run at any input size (the bundled src/facepoints/resources/yunet_n.onnx).

    python scripts/yunet_any_size.py ../shared/models/yunet/yunet_n_640_640.onnx src/facepoints/resources/yunet_n.onnx

The released YuNet files declare a fixed 640 x 640 input, although every layer works at any size that
is a multiple of 32 (its reshapes flatten with -1 and its upsampling uses scales). OpenCV's DNN ignores
the declaration; onnxruntime enforces it. This rewrites only the declarations: the input's height and
width and the outputs' cell counts become named free dimensions, and the inner shape annotations
(which onnxruntime re-infers) are dropped. Weights and operators are untouched. Needs the onnx package
(``pip install -e '.[train]'``).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import onnx

from facepoints.imageio import atomic_write_bytes


def any_size(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with free input height/width and free output cell counts (a copy)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    dims = out.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ValueError(f"expected one NCHW input, got {len(dims)} dimensions")
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in out.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "cells"
    del out.graph.value_info[:]
    onnx.checker.check_model(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a released YuNet ONNX file")
    parser.add_argument("out", type=Path, help="where to write the any-size file (never the source)")
    args = parser.parse_args()
    if args.out.resolve() == args.source.resolve():
        raise SystemExit("yunet_any_size.py: write to another file than the source")
    data = any_size(onnx.load(str(args.source))).SerializeToString()
    atomic_write_bytes(args.out, data)
    print(f"{args.source} (sha256 {hashlib.sha256(args.source.read_bytes()).hexdigest()}) -> {args.out}")


if __name__ == "__main__":
    main()
