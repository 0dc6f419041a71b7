"""Arguments several verbs share: where outputs go and which detector and landmark model run."""

from __future__ import annotations

import argparse

from facepoints.landmarker import FaceLandmarker


def add_landmarker_args(p: argparse.ArgumentParser, out: bool = True) -> None:
    """``--out``, ``--detector`` and ``--model`` (the face detector and landmark model to run)."""
    if out:
        p.add_argument("--out", default="facepoints-out", help="output folder (default: facepoints-out)")
    p.add_argument("--detector", help="face detector (default: best available)")
    p.add_argument("--model", help="landmark model: bundled default or fast, or a checkpoint path")


def landmarker_from(args: argparse.Namespace) -> FaceLandmarker:
    return FaceLandmarker(args.detector, args.model)
