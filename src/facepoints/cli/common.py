"""Arguments several verbs share: where outputs go and which detector and landmark model run."""

from __future__ import annotations

import argparse

from facepoints.detection import ANY_ANGLE_MODES, DEFAULT_DETECTOR, DEFAULT_MIN_FACE, list_detectors
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
    add_search_args(p)


def add_search_args(p: argparse.ArgumentParser) -> None:
    """``--min-face PX`` and ``--any-angle``: the faces the detector searches for (docs/detection.md
    gives their cost)."""
    p.add_argument(
        "--min-face", type=float, default=DEFAULT_MIN_FACE, metavar="PX",
        help=f"narrowest face to find, landmark-box width in pixels (default {DEFAULT_MIN_FACE:g}; "
        "smaller costs a finer detection pass on large photos; 0: the whole-image pass only)",
    )  # fmt: skip
    p.add_argument(
        "--any-angle", nargs="?", const="always", default="auto", choices=ANY_ANGLE_MODES,
        help="also search turned by 90, 180 and 270 degrees: auto (default) the region of each unclear "
        "face, and the whole image when none is found upright; always (the flag alone) the whole image; off",
    )  # fmt: skip


def landmarker_from(args: argparse.Namespace) -> FaceLandmarker:
    return FaceLandmarker(args.detector, args.model, min_face=args.min_face or None, any_angle=args.any_angle)
