"""onnxruntime sessions made one way for every bundled network (landmark models, the eye-state
classifier, the YuNet face detector)."""

from __future__ import annotations

import os
from typing import Any


def ort_session(path: str | os.PathLike, threads: int | None = None) -> Any:
    """An onnxruntime CPU session on ``path`` with ``threads`` intra-op threads (``None``: onnxruntime's
    default, one per core), operators run one after another, and worker threads that sleep between
    runs instead of spinning: onnxruntime's default spin-wait keeps every worker busy for a while after
    each run, which doubled the CPU time of a run on two threads and took the cores from the face
    detector and image decoding in between. A file onnxruntime cannot load is a ValueError."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ValueError(f"{path}: not a usable ONNX model ({exc})") from None
