"""Landmark accuracy benchmark: facepoints' default model against the mean-shape baseline,
dlib's 68-point shape predictor and MediaPipe FaceMesh, on Udacity test and 300-W AFW.

Run by hand from the repository root (needs ../shared; the peers are optional):

    python benchmarks/landmarks.py                      # facepoints + mean shape only
    python benchmarks/landmarks.py --peers /work/peers  # also dlib and MediaPipe (see benchmarks/peers/README.md)
    python benchmarks/landmarks.py --model default fast # both bundled facepoints models
    python benchmarks/landmarks.py --refine 1           # a second pass for every face

Two protocols per set:

- ``gt boxes``: every method gets the face box derived from the ground-truth landmarks, in its own
  box convention (facepoints: the landmark box, which is what it is trained on; dlib and MediaPipe:
  the landmark box mapped to their detector's convention by a calibration measured on training data);
- ``end-to-end``: every method runs its own face detector; a face counts as detected when a
  detection overlaps the landmark box with IoU >= 0.3, and landmark metrics are over detected faces;
- ``end-to-end, common faces``: the same predictions restricted to the faces that every method's
  detector found, so that a detector that misses the hard faces does not flatter its landmarks.

Metrics are those of ``facepoints.metrics`` (NME by the outer eye corners 36/45). Timing is the
landmark step per face on one thread (facepoints: crop + model + refinement pass; the model
alone is printed above each table).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from facepoints.datasets import open_dataset  # noqa: E402
from facepoints.evaluation import box_iou  # noqa: E402
from facepoints.landmarker import FaceLandmarker  # noqa: E402
from facepoints.layouts import ibug68_mean_shape  # noqa: E402
from facepoints.metrics import auc, failure_rate, nme  # noqa: E402
from facepoints.predict import points_box  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SETS = {"udacity-68 test": "udacity-68/test", "300w afw": "300w/afw"}
PEERS = {"dlib": "dlib_peer.py", "mediapipe": "mediapipe_peer.py"}


def mean_shape_in_box(box: np.ndarray) -> np.ndarray:
    """The mean shape stretched onto a box (the 'simple average model' given the true box)."""
    shape = ibug68_mean_shape()
    lo, hi = shape.min(0), shape.max(0)
    return box[:2] + (shape - lo) / (hi - lo) * (box[2:] - box[:2])


def row(name: str, preds: list, gts: np.ndarray, ms: float | None) -> str:
    found = np.array([p is not None for p in preds])
    if not found.any():
        return f"| {name} | - | - | - | - | - | 0.0 | - |"
    errors = nme(np.stack([p for p in preds if p is not None]), gts[found], "ibug68")
    timing = f"{ms:.2f}" if ms is not None else "-"
    return (
        f"| {name} | {100 * errors.mean():.2f} | {100 * np.median(errors):.2f} | {100 * failure_rate(errors, 0.08):.2f} "
        f"| {100 * failure_rate(errors, 0.10):.2f} | {auc(errors, 0.08):.4f} | {100 * found.mean():.1f} | {timing} |"
    )


def match(faces: list[tuple[np.ndarray | None, np.ndarray]], gt_box: np.ndarray) -> np.ndarray | None:
    """Points of the detection that best overlaps the labelled face (IoU >= 0.3), else None."""
    best, best_iou = None, 0.3
    for box, points in faces:
        box = points_box(points) if box is None else box
        iou = float(box_iou(np.asarray(box)[None], gt_box)[0])
        if iou >= best_iou:
            best, best_iou = points, iou
    return best


def model_alone_ms(predictor, repeats: int = 200) -> float:
    """Median time of one forward pass on a single face crop (no detection, cropping or refinement)."""
    h, w = predictor.spec.size
    x = np.random.default_rng(0).random((1, predictor.spec.channels, h, w), dtype=np.float32)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predictor.engine.run(x)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times[repeats // 5 :]))


def run_facepoints(samples, gts, landmarker: FaceLandmarker, model: str) -> dict[str, tuple[list, float]]:
    predictor = landmarker.predictor
    print(f"facepoints {model}: backend {predictor.backend}; model alone: {model_alone_ms(predictor):.2f} ms per face (1 thread)")
    gt_preds, times = [], []
    for sample, gt in zip(samples, gts):
        t0 = time.perf_counter()
        gt_preds.append(predictor.predict(sample.image, [points_box(gt)])[0].points)
        times.append(time.perf_counter() - t0)
    e2e = []
    for sample, gt in zip(samples, gts):
        faces = [(f.box, f.points) for f in landmarker.detect(sample.image)]
        e2e.append(match(faces, points_box(gt)))
    return {"gt boxes": (gt_preds, 1000 * float(np.median(times))), "end-to-end": (e2e, None)}


def run_peer(peers: Path, method: str, samples, gts) -> dict[str, tuple[list, float]]:
    python = peers / method / "bin" / "python"
    script = ROOT / "benchmarks" / "peers" / PEERS[method]
    out: dict[str, tuple[list, float]] = {}
    for mode, label in (("boxes", "gt boxes"), ("detect", "end-to-end")):
        job = {"mode": mode, "images": [{"path": s.path, "boxes": [points_box(g).tolist()]} for s, g in zip(samples, gts)]}
        with tempfile.TemporaryDirectory() as tmp:
            job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
            job_path.write_text(json.dumps(job))
            subprocess.run([str(python), str(script), "--job", str(job_path), "--out", str(result_path)], check=True)
            result = json.loads(result_path.read_text())
        preds = []
        for image, gt in zip(result["images"], gts):
            faces = [(f.get("box"), np.asarray(f["points"], np.float64)) for f in image["faces"] if f.get("points")]
            if mode == "boxes":
                preds.append(faces[0][1] if faces else None)
            else:
                preds.append(match([(None if b is None else np.asarray(b), p) for b, p in faces], points_box(gt)))
        out[label] = (preds, result.get("ms_per_face_landmarks") if mode == "boxes" else None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", type=Path, help="folder holding the dlib/ and mediapipe/ virtual environments")
    parser.add_argument("--limit", type=int, help="first N images of each set (quick look)")
    parser.add_argument("--flip", action="store_true", help="facepoints with mirror test-time augmentation")
    parser.add_argument(
        "--refine", type=int, help="facepoints refinement passes for every face (default: the detector's policy)"
    )
    parser.add_argument(
        "--model", nargs="+", default=["default"], help="facepoints model(s): bundled names or checkpoint paths"
    )
    args = parser.parse_args()
    landmarkers = {
        model: FaceLandmarker(model=model, flip=args.flip, refine=args.refine, threads=1) for model in args.model
    }
    for set_name, rel in SETS.items():
        ds = open_dataset(SHARED / rel)
        samples = [ds[i] for i in range(min(len(ds), args.limit or len(ds)))]
        gts = np.stack([s.keypoints for s in samples]).astype(np.float64)
        methods: dict[str, dict[str, tuple[list, float]]] = {
            "mean shape": {"gt boxes": ([mean_shape_in_box(points_box(g)) for g in gts], None)},
        }
        for model, landmarker in landmarkers.items():
            name = "facepoints" if args.model == ["default"] else f"facepoints {model}"
            methods[name] = run_facepoints(samples, gts, landmarker, model)
        if args.peers:
            for method in PEERS:
                if (args.peers / method / "bin" / "python").is_file():
                    methods[method] = run_peer(args.peers, method, samples, gts)
                else:
                    print(f"(no {args.peers / method} virtual environment: {method} skipped)", file=sys.stderr)
        print(f"\n### {set_name} ({len(samples)} faces)\n")
        print("| method | NME % | median NME % | FR@0.08 % | FR@0.10 % | AUC@0.08 | detected % | ms/face (1 thread) |")
        print("|---|---|---|---|---|---|---|---|")
        for protocol in ("gt boxes", "end-to-end"):
            for name, results in methods.items():
                if protocol in results:
                    preds, ms = results[protocol]
                    print(row(f"{name}, {protocol}", preds, gts, ms))
        e2e = {name: results["end-to-end"][0] for name, results in methods.items() if "end-to-end" in results}
        common = np.all([[p is not None for p in preds] for preds in e2e.values()], axis=0)
        if len(e2e) > 1 and not common.all():
            for name, preds in e2e.items():
                kept = [p for p, keep in zip(preds, common) if keep]
                print(row(f"{name}, end-to-end, {common.sum()} common faces", kept, gts[common], None))


if __name__ == "__main__":
    main()
