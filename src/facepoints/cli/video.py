"""``facepoints video``: track faces through a video file or a camera."""

from __future__ import annotations

import argparse
from pathlib import Path

from facepoints.apps.filters import list_filters
from facepoints.cli.common import EXIT_INPUT_FAILED, add_landmarker_args, landmarker_from
from facepoints.tracking import Tracker
from facepoints.tracking.smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF
from facepoints.tracking.tracker import SMOOTHERS
from facepoints.video import process_video


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="track faces and landmarks through a video or a camera, without jitter")
    p.add_argument("input", nargs="?", help="video file (or use --camera)")
    p.add_argument("--camera", type=int, metavar="INDEX", help="read from this camera instead of a file")
    p.add_argument("--out", help="annotated video, H.264 for .mp4 (default: facepoints-out/NAME.landmarks.mp4)")
    p.add_argument("--json", help="JSON Lines, one line per frame (default: facepoints-out/NAME.landmarks.jsonl)")
    p.add_argument("--filter", help=f"overlay on every face: {' | '.join(list_filters())} | PATH.png")
    p.add_argument("--smooth", default="one-euro", choices=SMOOTHERS, help="temporal smoothing (default one-euro)")
    p.add_argument("--min-cutoff", type=float, default=DEFAULT_MIN_CUTOFF, help="One-Euro cutoff at rest, Hz (lower: smoother)")
    p.add_argument("--beta", type=float, default=DEFAULT_BETA, help="One-Euro speed coefficient (higher: less lag)")
    p.add_argument("--detect-every", type=int, default=10, metavar="N", help="run the face detector every N frames")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--eyes", action="store_true", help="add eye and mouth state per face (blinks)")
    p.add_argument("--no-draw", action="store_true", help="write the frames without points and boxes")
    p.add_argument("--no-window", action="store_true", help="camera: no live window even where a display exists")
    add_landmarker_args(p, out=False)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Track a file or camera; 0 when done, ``EXIT_INPUT_FAILED`` for a damaged or cut file, 130 on Ctrl-C."""
    if (args.input is None) == (args.camera is None):
        raise ValueError("give a video file or --camera INDEX (one of them)")
    source = args.camera if args.camera is not None else args.input
    stem = f"camera{args.camera}" if args.camera is not None else Path(args.input).stem
    out_video = args.out or f"facepoints-out/{stem}.landmarks.mp4"
    out_json = args.json or f"facepoints-out/{stem}.landmarks.jsonl"
    tracker = Tracker(
        landmarker_from(args), args.detect_every, args.smooth, args.min_cutoff, args.beta, eyes=args.eyes
    )
    summary = process_video(
        source, tracker, out_video, out_json, overlay=args.filter, draw=not args.no_draw,
        progress=not args.no_progress, show=args.camera is not None and not args.no_window, max_frames=args.max_frames,
    )  # fmt: skip
    print(
        f"{source}: {summary.frames} frames ({summary.width}x{summary.height} at {summary.fps:.2f} fps), "
        f"{len(summary.track_ids)} track(s), {summary.processing_fps:.1f} frames/s; "
        f"wrote {summary.video} ({summary.codec}) and {summary.jsonl}"
    )
    if summary.interrupted:
        print("interrupted: the outputs hold the frames processed so far")
        return 130
    return 0 if summary.complete else EXIT_INPUT_FAILED
