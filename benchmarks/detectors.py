"""Face detector benchmark: detection rate, false positives, speed, and box calibration.

Run by hand from the repository root (needs ../shared):

    python benchmarks/detectors.py                 # the table for every available detector
    python benchmarks/detectors.py --yunet-weights ../shared/models/yunet/*.onnx   # also other YuNet files
                                                   # (released fixed-size files are made free in size
                                                   # on the fly by scripts/yunet_any_size.py)
    python benchmarks/detectors.py --calibrate     # also measure each detector's box calibration
                                                   # on the training sets (never on the test sets)

Detection rate: a labelled face counts as found when a detection overlaps its landmark box
with IoU >= 0.3. False positives are counted on the demo photos whose face counts are known
(obamas.jpg: 2, the_beatles.jpg: 4, mona_lisa.jpg: 1) as detections beyond that count.
Small faces: a 4000 x 3000 group photo of 24 Udacity test faces pasted on a textured background,
scaled so that each landmark box is 60 (90, 120) px wide; found = faces matched, false = the
detections that match no face. Times are per image on one thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from facepoints.datasets import open_dataset  # noqa: E402
from facepoints.detection import DEFAULT_MIN_FACE, get_detector, list_detectors  # noqa: E402
from facepoints.geometry import box_iou  # noqa: E402
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


def group_photo(face_px: float, count: int = 24, size: tuple[int, int] = (4000, 3000), seed: int = 0):
    """A large photo of ``count`` small faces (landmark box ``face_px`` wide), their landmark boxes and points,
    and the Udacity test indices of the faces."""
    rng = np.random.default_rng(seed)
    w, h = size
    noise = rng.normal(0, 1, (h // 40, w // 40, 3)).astype(np.float32)
    canvas = cv2.resize(cv2.GaussianBlur(noise, (0, 0), 2), (w, h), interpolation=cv2.INTER_CUBIC)
    canvas = np.clip(128 + 60 * canvas / (canvas.std() + 1e-6), 0, 255).astype(np.uint8)
    faces = open_dataset(SHARED / "data/udacity-68/test")
    picks = rng.choice(len(faces), count, replace=False)
    cols = int(np.ceil(np.sqrt(count * w / h)))
    rows = int(np.ceil(count / cols))
    boxes, points = [], []
    for k, i in enumerate(picks):
        sample = faces[int(i)]
        box = points_box(sample.keypoints)
        scale = face_px / (box[2] - box[0])
        margin = 0.8 * (box[2] - box[0])
        x1, y1 = max(0, int(box[0] - margin)), max(0, int(box[1] - margin))
        x2, y2 = min(sample.image.shape[1], int(box[2] + margin)), min(sample.image.shape[0], int(box[3] + margin))
        patch = cv2.resize(sample.image[y1:y2, x1:x2], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cx = (k % cols + 0.5) * w / cols + rng.uniform(-0.15, 0.15) * w / cols
        cy = (k // cols + 0.5) * h / rows + rng.uniform(-0.15, 0.15) * h / rows
        px, py = int(cx - patch.shape[1] / 2), int(cy - patch.shape[0] / 2)
        canvas[py : py + patch.shape[0], px : px + patch.shape[1]] = patch
        boxes.append((box - (x1, y1, x1, y1)) * scale + (px, py, px, py))
        points.append((sample.keypoints - (x1, y1) + 0.5) * scale - 0.5 + (px, py))
    return canvas, np.asarray(boxes), np.asarray(points), picks


def small_faces(detector, face_px: float) -> tuple[int, int, float]:
    """Faces found, false detections and ms on the group photo of ``face_px`` faces."""
    image, truth, _, _ = group_photo(face_px)
    t0 = time.perf_counter()
    boxes = detector.detect(image).boxes
    ms = 1000 * (time.perf_counter() - t0)
    if not len(boxes):
        return 0, 0, ms
    iou = box_iou(boxes, truth)
    return int((iou.max(0) >= 0.3).sum()), int((iou.max(1) < 0.3).sum()), ms


def small_face_landmarks(sizes: tuple[int, ...] = (40, 60, 90)) -> None:
    """NME (% of the outer-eye-corner distance) of the default landmarker on the group photos' faces,
    against the same faces in their own Udacity test images."""
    from facepoints.landmarker import FaceLandmarker
    from facepoints.metrics import nme

    landmarker = FaceLandmarker()
    faces = open_dataset(SHARED / "data/udacity-68/test")
    print("\n| faces | found | NME in the group photo % | NME of the same faces at native size % |\n|---|---|---|---|")
    for size in sizes:
        image, _, truth, picks = group_photo(size)
        found = landmarker.detect(image)
        if not found:
            print(f"| {size} px | 0/24 | - | - |")
            continue
        got, native, ref = [], [], []
        for points, i in zip(truth, picks):
            best = min(found, key=lambda f: np.linalg.norm(f.points.mean(0) - points.mean(0)))
            if np.linalg.norm(best.points.mean(0) - points.mean(0)) > size / 2:
                continue
            sample = faces[int(i)]
            near = min(landmarker.detect(sample.image), key=lambda f: np.linalg.norm(f.points.mean(0) - sample.keypoints.mean(0)))
            got.append(best.points)
            ref.append(points)
            native.append((near.points, sample.keypoints))
        small = 100 * float(np.mean(nme(np.asarray(got), np.asarray(ref), "ibug68")))
        big = 100 * float(np.mean(nme(np.asarray([a for a, _ in native]), np.asarray([b for _, b in native]), "ibug68")))
        print(f"| {size} px | {len(got)}/24 | {small:.2f} | {big:.2f} |", flush=True)


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


def free_size(weights: Path, folder: Path) -> Path:
    """``weights`` as a YuNet file that runs at any input size (a converted copy in ``folder`` when its
    size is fixed, as released files' is)."""
    import onnx

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from yunet_any_size import any_size

    model = onnx.load(str(weights))
    if not all(d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[2:]):
        return weights
    out = folder / weights.name
    onnx.save(any_size(model), str(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--step", type=int, default=3, help="use every STEP-th training image for calibration")
    parser.add_argument("--landmarks", action="store_true", help="also the landmarks' NME on the small faces")
    parser.add_argument("--yunet-weights", nargs="*", default=[], help="other YuNet ONNX files to measure too")
    parser.add_argument("--min-face", type=float, nargs="+", default=[DEFAULT_MIN_FACE], help="min_face values (0: off)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    sets = {name: open_dataset(SHARED / rel) for name, rel in TEST_SETS.items()}
    groups = (60, 90, 120)
    print("| detector | min face | " + " | ".join(f"{n} detected % | {n} ms/img" for n in sets)
          + " | false positives on demos | " + " | ".join(f"{g} px group: found, false, ms" for g in groups) + " |")
    print("|---|---|" + "---|---|" * len(sets) + "---|" + "---|" * len(groups))
    configs = [(name, {}) for name in list_detectors(available_only=True)]
    converted = tempfile.TemporaryDirectory()
    configs += [(f"yunet {Path(w).name}", {"weights": free_size(Path(w), Path(converted.name))}) for w in args.yunet_weights]
    for label, kwargs in configs:
        for min_face in args.min_face:
            detector = get_detector(label.split()[0], min_face=min_face or None, **kwargs)
            cells = []
            for ds in sets.values():
                rate, ms = detection_rate(detector, ds)
                cells += [f"{100 * rate:.1f}", f"{ms:.1f}"]
            cells.append(str(false_positives(detector)))
            for g in groups:
                found, false, ms = small_faces(detector, g)
                cells.append(f"{found}/24, {false}, {ms:.0f}")
            print(f"| {label} | {min_face or 'off'} | " + " | ".join(cells) + " |", flush=True)
    if args.landmarks:
        small_face_landmarks()
    if args.calibrate:
        print("\nbox calibration (median over training images; landmark box from detector box):")
        for name in list_detectors(available_only=True):
            dx, dy, sx, sy, n = calibrate(get_detector(name), args.step)
            print(f"  {name}: BoxCalibration(dx={dx:.3f}, dy={dy:.3f}, sx={sx:.3f}, sy={sy:.3f})  from {n} faces")


if __name__ == "__main__":
    main()
