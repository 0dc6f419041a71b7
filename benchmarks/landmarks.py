"""Landmark accuracy benchmark: facepoints' default model against the mean-shape baseline,
dlib's 68-point shape predictor and MediaPipe FaceMesh, on Udacity test and 300-W AFW.

Run by hand from the repository root (needs ../shared; the peers are optional):

    python benchmarks/landmarks.py                      # facepoints + mean shape only
    python benchmarks/landmarks.py --peers /work/peers  # also dlib and MediaPipe (see benchmarks/peers/README.md)
    python benchmarks/landmarks.py --model default fast # both bundled facepoints models
    python benchmarks/landmarks.py --refine 1           # a second pass for every face
    python benchmarks/landmarks.py --peers /work/peers --limit 60  # quick look: about 60 faces per set

Two protocols per set, in one table:

- ``gt boxes``: every method gets the face box derived from the ground-truth landmarks, in its own
  box convention (facepoints: the landmark box, which is what it is trained on; dlib and MediaPipe:
  the landmark box mapped to their detector's convention by a calibration measured on training data);
- ``end-to-end``: every method runs its own face detector; a face counts as detected when a
  detection overlaps the landmark box with IoU >= 0.3, and landmark metrics are over detected faces.

and, after it, two tables of the end-to-end predictions on shared faces, so that a detector that
misses the hard faces does not flatter its landmarks:

- ``common faces``: the faces that every method in the run detected (each with its own detector),
  every method's metrics on exactly those faces, and their count;
- ``on the faces dlib also detects`` (with ``--peers``): for each other method, the faces that both
  it and dlib detected, with its metrics and dlib's on exactly those faces.

``--limit N`` takes every k-th face of a set (k = ceil(size / N)), so about N faces spread over the
whole set rather than its first N.

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

import numpy as np

from facepoints.datasets import open_dataset
from facepoints.geometry import box_iou
from facepoints.landmarker import FaceLandmarker
from facepoints.layouts import ibug68_mean_shape
from facepoints.metrics import auc, failure_rate, nme
from facepoints.predict import points_box

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SETS = {"udacity-68 test": "udacity-68/test", "300w afw": "300w/afw"}
PEERS = {"dlib": "dlib_peer.py", "mediapipe": "mediapipe_peer.py"}


def mean_shape_in_box(box: np.ndarray) -> np.ndarray:
    """The mean shape stretched onto a box (the 'simple average model' given the true box)."""
    shape = ibug68_mean_shape()
    lo, hi = shape.min(0), shape.max(0)
    return box[:2] + (shape - lo) / (hi - lo) * (box[2:] - box[:2])


def errors_of(preds: list, gts: np.ndarray) -> np.ndarray:
    """Per-face NME (outer eye corners 36/45) of the faces with a prediction (``None``: not found)."""
    found = detected(preds)
    if not found.any():
        return np.zeros(0)
    return nme(np.stack([p for p in preds if p is not None]), gts[found], "ibug68")


def cells(errors: np.ndarray) -> str:
    """NME %, median NME %, FR@0.08 %, FR@0.10 %, AUC@0.08 as table cells."""
    if not len(errors):
        return "- | - | - | - | -"
    return (
        f"{100 * errors.mean():.2f} | {100 * np.median(errors):.2f} | {100 * failure_rate(errors, 0.08):.2f} "
        f"| {100 * failure_rate(errors, 0.10):.2f} | {auc(errors, 0.08):.4f}"
    )


def row(name: str, preds: list, gts: np.ndarray, ms: float | None) -> str:
    found = detected(preds)
    errors = errors_of(preds, gts)
    timing = f"{ms:.2f}" if ms is not None and len(errors) else "-"
    return f"| {name} | {cells(errors)} | {100 * found.mean():.1f} | {timing} |"


def detected(preds: list) -> np.ndarray:
    """Which faces have a prediction."""
    return np.array([p is not None for p in preds], bool)


def subset(preds: list, keep: np.ndarray) -> list:
    """The predictions of the kept faces."""
    return [p for p, k in zip(preds, keep) if k]


def common_faces_table(set_name: str, e2e: dict[str, list], gts: np.ndarray) -> None:
    """Every end-to-end method's metrics on the faces that every one of them detected."""
    common = np.all([detected(preds) for preds in e2e.values()], axis=0)
    print(
        f"\n#### {set_name}: end-to-end, common faces ({common.sum()} of {len(gts)} faces detected by every method: "
        f"{', '.join(e2e)})\n"
    )
    print("| method | faces | NME % | median NME % | FR@0.08 % | FR@0.10 % | AUC@0.08 |")
    print("|---|---|---|---|---|---|---|")
    for name, preds in e2e.items():
        print(f"| {name} | {common.sum()} | {cells(errors_of(subset(preds, common), gts[common]))} |")


def with_dlib_table(set_name: str, e2e: dict[str, list], gts: np.ndarray) -> None:
    """For each method, its metrics and dlib's on the faces that both it and dlib detected (end to end)."""
    dlib_found = detected(e2e["dlib"])
    print(
        f"\n#### {set_name}: end-to-end, on the faces dlib also detects (dlib detects {dlib_found.sum()} of {len(gts)})\n"
    )
    print(
        "| method | faces (both detect) | NME % | median NME % | FR@0.08 % | FR@0.10 % | AUC@0.08 "
        "| dlib NME % | dlib median NME % | dlib FR@0.08 % | dlib FR@0.10 % | dlib AUC@0.08 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, preds in e2e.items():
        if name == "dlib":
            continue
        both = detected(preds) & dlib_found
        own = errors_of(subset(preds, both), gts[both])
        theirs = errors_of(subset(e2e["dlib"], both), gts[both])
        print(f"| {name} | {both.sum()} | {cells(own)} | {cells(theirs)} |")


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
    print(
        f"facepoints {model}: backend {predictor.backend}; model alone: {model_alone_ms(predictor):.2f} ms per face (1 thread)"
    )
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
        job = {
            "mode": mode,
            "images": [{"path": s.path, "boxes": [points_box(g).tolist()]} for s, g in zip(samples, gts)],
        }
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
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="every k-th face of each set, k = ceil(size / N): about N faces per set (quick look)",
    )
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
        step = max(1, -(-len(ds) // args.limit)) if args.limit else 1
        samples = [ds[i] for i in range(0, len(ds), step)]
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
        taken = f", 1 in {step} of {len(ds)}" if step > 1 else ""
        print(f"\n### {set_name} ({len(samples)} faces{taken})\n")
        print("| method | NME % | median NME % | FR@0.08 % | FR@0.10 % | AUC@0.08 | detected % | ms/face (1 thread) |")
        print("|---|---|---|---|---|---|---|---|")
        for protocol in ("gt boxes", "end-to-end"):
            for name, results in methods.items():
                if protocol in results:
                    preds, ms = results[protocol]
                    print(row(f"{name}, {protocol}", preds, gts, ms))
        e2e = {name: results["end-to-end"][0] for name, results in methods.items() if "end-to-end" in results}
        if len(e2e) > 1:
            common_faces_table(set_name, e2e, gts)
        if "dlib" in e2e and len(e2e) > 1:
            with_dlib_table(set_name, e2e, gts)


if __name__ == "__main__":
    main()
