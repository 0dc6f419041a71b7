"""Code shared by the peer runners (dlib_peer.py, mediapipe_peer.py).

Uses only the standard library, numpy and Pillow, which both peer environments have, and
does not import facepoints. Importing it sets the native thread limits from ``--threads``
on the command line, so a runner must import it before its native libraries (numpy
included, which this module imports right after).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any


def _requested_threads(argv: Sequence[str]) -> int:
    """Return the ``--threads`` value from the command line (1 when absent)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_known_args(argv)[0].threads


# Thread limits must be in the environment before the native libraries (numpy's among them) load.
THREADS = _requested_threads(sys.argv[1:])
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = str(THREADS)

import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
TRAIN_SETS = ("udacity-68/training", "300w/lfpw_train", "300w/helen_train")
MIN_IOU = 0.3
# Added to every label read for --calibrate: the Udacity and 300-W labels are 1-based, while
# facepoints (whose landmark boxes the jobs carry), dlib and MediaPipe use 0-based pixel centres.
LABEL_OFFSET = -1.0


def load_rgb(path: Path | str) -> np.ndarray:
    """Read an image file as an RGB uint8 array of shape (height, width, 3)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def to_detector_box(box: Sequence[float], calibration: dict[str, float]) -> Box:
    """Map a tight landmark box (x1, y1, x2, y2) to the detector's box convention."""
    x1, y1, x2, y2 = box
    width, height = x2 - x1, y2 - y1
    cx = (x1 + x2) / 2 + calibration["dx"] * width
    cy = (y1 + y2) / 2 + calibration["dy"] * height
    half_w, half_h = calibration["sx"] * width / 2, calibration["sy"] * height / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def landmark_box(points: np.ndarray) -> Box:
    """The tight (x1, y1, x2, y2) box around some points."""
    (x1, y1), (x2, y2) = points.min(axis=0), points.max(axis=0)
    return float(x1), float(y1), float(x2), float(y2)


def job_mode(job: dict[str, Any]) -> str:
    """Return the job's mode, "detect" or "boxes"; raise ValueError for any other."""
    mode: str = job["mode"]
    if mode not in ("detect", "boxes"):
        raise ValueError(f"unknown mode {mode!r}")
    return mode


def run_images(
    job: dict[str, Any], run_image: Callable[[np.ndarray, Sequence[Sequence[float]]], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Run ``run_image(image, boxes)`` on every job image; return the per-image results.

    Each result's ``ms`` times ``run_image`` alone, not the image decoding.
    """
    images = []
    for entry in job["images"]:
        image = load_rgb(entry["path"])
        start = time.perf_counter()
        faces = run_image(image, entry.get("boxes", []))
        milliseconds = 1000 * (time.perf_counter() - start)
        images.append({"path": entry["path"], "faces": faces, "ms": milliseconds})
    return images


def result_document(
    method: str, mode: str, images: list[dict[str, Any]], landmark_seconds: float, landmark_faces: int
) -> dict[str, Any]:
    """The result JSON document, with the mean landmark time per face (None without faces)."""
    per_face = 1000 * landmark_seconds / landmark_faces if landmark_faces else None
    return {"method": method, "mode": mode, "images": images, "ms_per_face_landmarks": per_face}


def training_samples(data: Path, step: int) -> Iterator[tuple[str, Path, np.ndarray]]:
    """Yield (set name, image path, 68x2 0-based points) for every ``step``-th training image."""
    for name in TRAIN_SETS:
        folder = data / name
        if name.startswith("udacity"):
            with open(folder.parent / f"{folder.name}_frames_keypoints.csv", newline="") as handle:
                rows = list(csv.reader(handle))[1:]
            for row in rows[::step]:
                yield name, folder / row[0], np.asarray(row[1:], dtype=float).reshape(68, 2) + LABEL_OFFSET
        else:
            for image_path in sorted(folder.glob("*.jpg"))[::step]:
                lines = image_path.with_suffix(".pts").read_text().splitlines()
                points = [line.split() for line in lines[lines.index("{") + 1 : lines.index("}")]]
                yield name, image_path, np.asarray(points, dtype=float) + LABEL_OFFSET


def measure_calibration(detect: Callable[[np.ndarray], list[Box]], data: Path, step: int) -> dict[str, float]:
    """Print and return the median landmark-box-to-detector-box mapping on training images."""
    offsets: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in TRAIN_SETS}
    totals = dict.fromkeys(TRAIN_SETS, 0)
    for name, path, points in training_samples(data, step):
        totals[name] += 1
        x1, y1, x2, y2 = truth = landmark_box(points)
        detections = detect(load_rgb(path))
        if not detections:
            continue
        best = max(detections, key=lambda box: box_iou(box, truth))
        if box_iou(best, truth) < MIN_IOU:
            continue
        width, height = x2 - x1, y2 - y1
        offsets[name].append(
            (
                ((best[0] + best[2]) / 2 - (x1 + x2) / 2) / width,
                ((best[1] + best[3]) / 2 - (y1 + y2) / 2) / height,
                (best[2] - best[0]) / width,
                (best[3] - best[1]) / height,
            )
        )
    for name in TRAIN_SETS:
        print(f"{name}: {len(offsets[name])} of {totals[name]} faces matched,", _format(offsets[name]))
    pooled = [row for rows in offsets.values() for row in rows]
    print(f"pooled: {len(pooled)} faces,", _format(pooled))
    calibration = dict(zip(("dx", "dy", "sx", "sy"), (float(v) for v in np.median(pooled, axis=0))))
    print("CALIBRATION =", json.dumps({key: round(value, 4) for key, value in calibration.items()}))
    return calibration


def _format(rows: list[tuple[float, float, float, float]]) -> str:
    """Format the median (dx, dy, sx, sy) of some measurements."""
    if not rows:
        return "no matches"
    return "median " + ", ".join(f"{k}={v:.4f}" for k, v in zip(("dx", "dy", "sx", "sy"), np.median(rows, axis=0)))


def main(
    description: str,
    run_job: Callable[[dict[str, Any]], dict[str, Any]],
    calibrate: Callable[[Path, int], None],
    argv: Sequence[str] | None = None,
) -> None:
    """Command-line entry point of a runner: ``run_job`` on a job file, or ``calibrate(data, step)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--job", type=Path, help="job JSON file")
    parser.add_argument("--out", type=Path, help="result JSON file to write")
    parser.add_argument("--threads", type=int, default=1, help="native thread limit (default 1)")
    parser.add_argument("--calibrate", action="store_true", help="re-measure CALIBRATION and print it")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="datasets folder for --calibrate")
    parser.add_argument("--step", type=int, default=5, help="use every STEP-th training image (--calibrate)")
    args = parser.parse_args(argv)
    if args.calibrate:
        calibrate(args.data, args.step)
        return
    if args.job is None or args.out is None:
        parser.error("--job and --out are required unless --calibrate is given")
    result = run_job(json.loads(args.job.read_text()))
    args.out.write_text(json.dumps(result))
