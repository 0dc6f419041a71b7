"""``facepoints detect``: faces and 68 landmarks in images or folders (the main job)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from facepoints.cli.common import EXIT_INPUT_FAILED, add_search_args
from facepoints.detection import DEFAULT_DETECTOR, list_detectors
from facepoints.files import detect_files
from facepoints.landmarker import FaceLandmarker, sample_image_path
from facepoints.predict import BACKENDS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="find faces and place 68 landmarks on each")
    p.add_argument("inputs", nargs="*", help="images or folders (default: the bundled sample photo)")
    p.add_argument("--out", default="facepoints-out", help="output folder (default: facepoints-out)")
    p.add_argument("--detector", choices=list_detectors(), help=f"face detector (default: {DEFAULT_DETECTOR})")
    add_search_args(p)
    p.add_argument("--model", help="landmark model: bundled default or fast, or a checkpoint path")
    p.add_argument("--json", action="store_true", help="also print each image's JSON document to stdout")
    p.add_argument("--no-draw", action="store_true", help="do not write annotated images")
    p.add_argument("--flip", action="store_true", help="average with a mirrored pass (slower, a little more accurate)")
    p.add_argument("--backend", default="auto", choices=BACKENDS, help="landmark inference (default auto: the fastest there, int8 ONNX)")
    p.add_argument(
        "--threads", type=int,
        help="CPU threads for the landmark model (default: all cores; 1 for folders, whose images run in parallel)",
    )  # fmt: skip
    p.add_argument("--refine", type=int, help="extra landmark passes re-cropped on the previous points, for every face (default: the detector's; yunet: 1 for unsure faces only)")
    p.add_argument(
        "--batch", type=int,
        help="folders: images whose faces share one model batch (default 8; 32 with --engine ray, one Ray task each)",
    )  # fmt: skip
    p.add_argument("--pose", action="store_true", help="add head pose (yaw, pitch, roll) to each face")
    p.add_argument("--eyes", action="store_true", help="add eye and mouth state (EAR, MAR) to each face")
    p.add_argument("--expression", action="store_true", help="add expression measures (smile, mouth, brows)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--engine", choices=("local", "ray"), default="local",
        help="local: this process (default); ray: a Ray cluster, Parquet shards in OUT/parquet (docs/scale.md)",
    )  # fmt: skip
    p.add_argument("--address", help="--engine ray: the cluster to join (auto, ray://HOST:10001; default: Ray here)")
    p.add_argument("--actors", type=int, help="--engine ray: landmark actors, one model each (default: one per CPU)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Detect in every input; 0 when every image worked, ``EXIT_INPUT_FAILED`` when some failed
    (this run's or, for folders, the errors already in results.jsonl). Bad arguments raise."""
    inputs = args.inputs or [str(sample_image_path())]
    if args.engine == "ray":
        return run_ray(args, inputs)
    threads = folder_threads(args.threads, inputs)
    landmarker = FaceLandmarker(
        args.detector, args.model, args.refine, args.flip, args.backend, threads, min_face=args.min_face or None,
        any_angle=args.any_angle,
    )
    report = sys.stderr if args.json else sys.stdout  # with --json, stdout holds JSON only
    done = skipped = failed = failed_before = 0
    for result in detect_files(
        inputs, landmarker, args.out, draw=not args.no_draw, progress=not args.no_progress,
        pose=args.pose, eyes=args.eyes, expression=args.expression, **batch_option(args),
    ):  # fmt: skip
        if result.skipped:
            skipped += 1
            failed_before += result.error is not None
            continue
        done += 1
        if args.json:
            print(json.dumps(result.to_dict()))
        if result.error:
            failed += 1
            print(f"error: {result.error}", file=sys.stderr)
        elif not result.faces:
            print(f"{result.path}: no face found", file=sys.stderr)
        elif result.json_path or result.png_path:
            wrote = " and ".join(str(p) for p in (result.png_path, result.json_path) if p)
            print(f"{result.path}: {len(result.faces)} face(s); wrote {wrote}", file=report)
    if skipped:
        before = f" ({failed_before} of them failed)" if failed_before else ""
        print(f"skipped {skipped} image(s) already in results.jsonl{before}", file=report)
    print(f"processed {done} image(s); results in {args.out}", file=report)
    if failed or failed_before:
        print(f"{failed + failed_before} image(s) failed; their error records say why", file=sys.stderr)
        return EXIT_INPUT_FAILED
    return 0


def batch_option(args: argparse.Namespace) -> dict:
    """``--batch`` as the engine's keyword, or nothing: each engine keeps its own default."""
    return {} if args.batch is None else {"batch": args.batch}


def folder_threads(threads: int | None, inputs: list[str]) -> int | None:
    """The landmark model's threads: as asked, else one when a folder is among the inputs (its images
    are decoded and searched on one reader thread per core, which keep the cores busy), else all cores."""
    return 1 if threads is None and any(Path(item).is_dir() for item in inputs) else threads


def run_ray(args: argparse.Namespace, inputs: list[str]) -> int:
    """``--engine ray``: the same records as Parquet shards (+ results.jsonl for small runs); no drawings."""
    from facepoints.engines.ray_engine import detect_ray, require_ray

    try:
        require_ray()
    except ImportError as exc:
        print(f"facepoints: error: {exc}", file=sys.stderr)
        return 1
    landmarker = {"detector": args.detector, "model": args.model, "refine": args.refine, "flip": args.flip,
                  "backend": args.backend, "min_face": args.min_face or None, "any_angle": args.any_angle}  # fmt: skip
    result = detect_ray(
        inputs, args.out, landmarker, pose=args.pose, eyes=args.eyes, expression=args.expression, address=args.address,
        actors=args.actors, threads=args.threads or 1, progress=not args.no_progress, **batch_option(args),
    )  # fmt: skip
    report = sys.stderr if args.json else sys.stdout
    for record in result.records or []:
        if args.json:
            print(json.dumps(record))
        if "error" in record:
            print(f"error: {record['error']}", file=sys.stderr)
    if result.skipped:
        before = f" ({result.failed_before} of them failed)" if result.failed_before else ""
        print(f"skipped {result.skipped} image(s) already in {args.out}/parquet{before}", file=report)
    wrote = f" and {result.jsonl}" if result.jsonl else ""
    print(f"processed {result.processed} image(s) in {result.seconds:.1f} s; records in {args.out}/parquet{wrote}",
          file=report)  # fmt: skip
    if result.failed or result.failed_before:
        print(f"{result.failed + result.failed_before} image(s) failed; their error records say why", file=sys.stderr)
        return EXIT_INPUT_FAILED
    return 0
