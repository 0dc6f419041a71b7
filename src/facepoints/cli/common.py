"""Arguments several verbs share: where outputs go and which detector and landmark model run."""

from __future__ import annotations

import argparse

from facepoints.detection import DEFAULT_DETECTOR, DEFAULT_MIN_FACE, list_detectors
from facepoints.landmarker import FaceLandmarker

#: Exit status when a run finished but some of its inputs failed (unreadable images, a cut video): the
#: outputs hold everything that could be read, and the error records say what could not.
EXIT_INPUT_FAILED = 3


def add_landmarker_args(p: argparse.ArgumentParser, out: bool = True) -> None:
    """``--out``, ``--detector`` and ``--model`` (the face detector and landmark model to run)."""
    if out:
        p.add_argument("--out", default="facepoints-out", help="output folder (default: facepoints-out)")
    p.add_argument("--detector", choices=list_detectors(), help=f"face detector (default: {DEFAULT_DETECTOR})")
    p.add_argument("--model", help="landmark model: bundled default or fast, or a checkpoint path")
    add_min_face_arg(p)


def add_min_face_arg(p: argparse.ArgumentParser) -> None:
    """``--min-face PX``: the narrowest face searched for (docs/detection.md gives its cost)."""
    p.add_argument(
        "--min-face", type=float, default=DEFAULT_MIN_FACE, metavar="PX",
        help=f"narrowest face to find, landmark-box width in pixels (default {DEFAULT_MIN_FACE:g}; "
        "smaller costs a finer detection pass on large photos; 0: the whole-image pass only)",
    )  # fmt: skip


def landmarker_from(args: argparse.Namespace) -> FaceLandmarker:
    return FaceLandmarker(args.detector, args.model, min_face=args.min_face or None)
