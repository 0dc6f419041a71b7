"""Peer runner: dlib's 68-point shape predictor on a benchmark job.

Runs inside its own virtual environment (see README.md beside this file) and does not
import facepoints, so the benchmark can run dlib on exactly the images and boxes it gives
our own model:

    python dlib_peer.py --job JOB.json --out RESULT.json [--threads 1]
    python dlib_peer.py --calibrate [--data ../shared/data]

Mode "detect" runs dlib's HOG face detector (upsample 1) and then the shape predictor on
every face it finds. Mode "boxes" takes tight boxes around ground-truth landmarks, turns
each into the box dlib's detector would give for that face (``CALIBRATION``) and runs
only the shape predictor. ``--calibrate`` re-measures ``CALIBRATION`` on the training sets.
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


# Thread limits must be in the environment before the native libraries load.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = str(_requested_threads(sys.argv[1:]))

import dlib  # noqa: E402
import face_recognition_models  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

Box = tuple[float, float, float, float]

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
TRAIN_SETS = ("udacity-68/training", "300w/lfpw_train", "300w/helen_train")
MIN_IOU = 0.3
UPSAMPLE = 1

# Median mapping from the tight box around the 68 true points to dlib's HOG detector box
# for the same face: centre shift (dx, dy) as fractions of the landmark box's width and
# height, and size ratios (sx, sy). Measured with `--calibrate` on every 5th image of
# udacity-68/training, 300w/lfpw_train and 300w/helen_train (detections matched to the
# landmark box at IoU >= 0.3; medians over the 994 matched faces of 1,028 pooled; the three
# sets agree to within 0.015 except dy = -0.06 on HELEN).
CALIBRATION = {"dx": -0.0145, "dy": -0.1135, "sx": 1.0339, "sy": 1.0594}


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


def rect_to_box(rect: dlib.rectangle) -> list[int]:
    """Return a dlib rectangle as [left, top, right, bottom]."""
    return [rect.left(), rect.top(), rect.right(), rect.bottom()]


def box_to_rect(box: Sequence[float]) -> dlib.rectangle:
    """Round an (x1, y1, x2, y2) box to a dlib rectangle."""
    x1, y1, x2, y2 = (int(round(value)) for value in box)
    return dlib.rectangle(x1, y1, x2, y2)


class DlibPeer:
    """dlib's HOG face detector and 68-point shape predictor, timed separately."""

    def __init__(self) -> None:
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
        self.landmark_seconds = 0.0
        self.landmark_faces = 0

    def detect(self, image: np.ndarray) -> list[dlib.rectangle]:
        """Return the HOG detector's face rectangles."""
        return list(self.detector(image, UPSAMPLE))

    def landmarks(self, image: np.ndarray, rect: dlib.rectangle) -> list[list[int]]:
        """Run the shape predictor in one rectangle; return its 68 (x, y) points."""
        start = time.perf_counter()
        shape = self.predictor(image, rect)
        self.landmark_seconds += time.perf_counter() - start
        self.landmark_faces += 1
        return [[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)]

    def run_image(self, image: np.ndarray, mode: str, boxes: Sequence[Sequence[float]]) -> list[dict[str, Any]]:
        """Return the faces found ("detect") or one face per given landmark box ("boxes")."""
        if mode == "detect":
            rects = self.detect(image)
        else:
            rects = [box_to_rect(to_detector_box(box, CALIBRATION)) for box in boxes]
        return [{"box": rect_to_box(rect), "points": self.landmarks(image, rect)} for rect in rects]


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run every image of a job and return the result document."""
    mode = job["mode"]
    if mode not in ("detect", "boxes"):
        raise ValueError(f"unknown mode {mode!r}")
    peer = DlibPeer()
    images = []
    for entry in job["images"]:
        image = load_rgb(entry["path"])
        start = time.perf_counter()
        faces = peer.run_image(image, mode, entry.get("boxes", []))
        milliseconds = 1000 * (time.perf_counter() - start)
        images.append({"path": entry["path"], "faces": faces, "ms": milliseconds})
    per_face = 1000 * peer.landmark_seconds / peer.landmark_faces if peer.landmark_faces else None
    return {"method": "dlib", "mode": mode, "images": images, "ms_per_face_landmarks": per_face}


def training_samples(data: Path, step: int) -> Iterator[tuple[str, Path, np.ndarray]]:
    """Yield (set name, image path, 68x2 points) for every ``step``-th training image."""
    for name in TRAIN_SETS:
        folder = data / name
        if name.startswith("udacity"):
            with open(folder.parent / f"{folder.name}_frames_keypoints.csv", newline="") as handle:
                rows = list(csv.reader(handle))[1:]
            for row in rows[::step]:
                yield name, folder / row[0], np.asarray(row[1:], dtype=float).reshape(68, 2)
        else:
            for image_path in sorted(folder.glob("*.jpg"))[::step]:
                lines = image_path.with_suffix(".pts").read_text().splitlines()
                points = [line.split() for line in lines[lines.index("{") + 1 : lines.index("}")]]
                yield name, image_path, np.asarray(points, dtype=float)


def measure_calibration(
    detect: Callable[[np.ndarray], list[Box]], data: Path, step: int
) -> dict[str, float]:
    """Print and return the median landmark-box-to-detector-box mapping on training images."""
    offsets: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in TRAIN_SETS}
    totals = dict.fromkeys(TRAIN_SETS, 0)
    for name, path, points in training_samples(data, step):
        totals[name] += 1
        x1, y1 = points.min(axis=0)
        x2, y2 = points.max(axis=0)
        detections = detect(load_rgb(path))
        if not detections:
            continue
        best = max(detections, key=lambda box: box_iou(box, (x1, y1, x2, y2)))
        if box_iou(best, (x1, y1, x2, y2)) < MIN_IOU:
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
    return dict(zip(("dx", "dy", "sx", "sy"), (float(v) for v in np.median(pooled, axis=0))))


def _format(rows: list[tuple[float, float, float, float]]) -> str:
    """Format the median (dx, dy, sx, sy) of some measurements."""
    if not rows:
        return "no matches"
    return "median " + ", ".join(f"{k}={v:.4f}" for k, v in zip(("dx", "dy", "sx", "sy"), np.median(rows, axis=0)))


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", type=Path, help="job JSON file")
    parser.add_argument("--out", type=Path, help="result JSON file to write")
    parser.add_argument("--threads", type=int, default=1, help="native thread limit (default 1)")
    parser.add_argument("--calibrate", action="store_true", help="re-measure CALIBRATION and print it")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="datasets folder for --calibrate")
    parser.add_argument("--step", type=int, default=5, help="use every STEP-th training image (--calibrate)")
    args = parser.parse_args(argv)
    if args.calibrate:
        peer = DlibPeer()
        calibration = measure_calibration(
            lambda image: [tuple(map(float, rect_to_box(rect))) for rect in peer.detect(image)], args.data, args.step
        )
        print("CALIBRATION =", json.dumps({key: round(value, 4) for key, value in calibration.items()}))
        return
    if args.job is None or args.out is None:
        parser.error("--job and --out are required unless --calibrate is given")
    result = run_job(json.loads(args.job.read_text()))
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
