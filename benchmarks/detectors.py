"""Face detector benchmark: detection rate, false positives, speed, and box calibration.

Run by hand from the repository root (needs ../shared):

    python benchmarks/detectors.py                 # the table for every available detector
    python benchmarks/detectors.py --calibrate     # also measure each detector's box calibration
                                                   # on the training sets (never on the test sets)

Detection rate: a labelled face counts as found when a detection overlaps its landmark box
with IoU >= 0.3. False positives are counted on the demo photos whose face counts are known
(obamas.jpg: 2, the_beatles.jpg: 4, mona_lisa.jpg: 1) as detections beyond that count.
Times are per image on one thread.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from facepoints.datasets import open_dataset  # noqa: E402
from facepoints.detection import get_detector, list_detectors  # noqa: E402
from facepoints.evaluation import box_iou  # noqa: E402
from facepoints.imageio import load_image  # noqa: E402
from facepoints.predict import points_box  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TEST_SETS = {"udacity-68 test": "data/udacity-68/test", "300w afw": "data/300w/afw"}
TRAIN_SETS = ["data/udacity-68/training", "data/300w/lfpw_train", "data/300w/helen_train"]
DEMOS = {"obamas.jpg": 2, "the_beatles.jpg": 4, "mona_lisa.jpg": 1}


def detection_rate(detector, dataset) -> tuple[float, float]:
    found, seconds = 0, 0.0
    for sample in dataset:
        t0 = time.perf_counter()
        boxes = detector.detect(sample.image).boxes
        seconds += time.perf_counter() - t0
        if len(boxes) and box_iou(boxes, points_box(sample.keypoints)).max() >= 0.3:
            found += 1
    return found / len(dataset), 1000 * seconds / len(dataset)


def false_positives(detector) -> int:
    extra = 0
    for name, count in DEMOS.items():
        extra += max(0, len(detector.detect(load_image(SHARED / "assets" / name))) - count)
    return extra


def calibrate(detector, step: int) -> tuple[float, float, float, float, int]:
    """Median (dx, dy, sx, sy) from detector boxes to landmark boxes on the training sets."""
    rows = []
    for rel in TRAIN_SETS:
        ds = open_dataset(SHARED / rel)
        for i in range(0, len(ds), step):
            sample = ds[i]
            gt = points_box(sample.keypoints)
            boxes = detector.detect(sample.image).boxes
            if not len(boxes):
                continue
            ious = box_iou(boxes, gt)
            if ious.max() < 0.3:
                continue
            b = boxes[int(ious.argmax())].astype(np.float64)
            size = b[2:] - b[:2]
            rows.append([*(((gt[:2] + gt[2:]) - (b[:2] + b[2:])) / 2 / size), *((gt[2:] - gt[:2]) / size)])
    med = np.median(np.asarray(rows), axis=0)
    return (*[float(v) for v in med], len(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--step", type=int, default=3, help="use every STEP-th training image for calibration")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    sets = {name: open_dataset(SHARED / rel) for name, rel in TEST_SETS.items()}
    print("| detector | " + " | ".join(f"{n} detected % | {n} ms/img" for n in sets) + " | false positives on demos |")
    print("|---|" + "---|---|" * len(sets) + "---|")
    for name in list_detectors(available_only=True):
        detector = get_detector(name)
        cells = []
        for ds in sets.values():
            rate, ms = detection_rate(detector, ds)
            cells += [f"{100 * rate:.1f}", f"{ms:.1f}"]
        print(f"| {name} | " + " | ".join(cells) + f" | {false_positives(detector)} |")
    if args.calibrate:
        print("\nbox calibration (median over training images; landmark box from detector box):")
        for name in list_detectors(available_only=True):
            dx, dy, sx, sy, n = calibrate(get_detector(name), args.step)
            print(f"  {name}: BoxCalibration(dx={dx:.3f}, dy={dy:.3f}, sx={sx:.3f}, sy={sy:.3f})  from {n} faces")


if __name__ == "__main__":
    main()
