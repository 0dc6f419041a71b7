"""Jitter benchmark: landmark stability on clips with a known motion (run by hand).

    python benchmarks/jitter.py [--images 8] [--frames 150] [--data ../shared/data/300w/afw]

Each clip is one labelled photo moving slowly along a known path, with noise and JPEG
re-encoding per frame (facepoints.tracking.clips). For every method it reports, in % of the
frame's true outer-eye-corner distance:

- jitter: the mean frame-to-frame change of each point's error (its motion minus the true
  motion), i.e. how much the points shake on top of the face's own movement;
- error: the mean NME to the true path;

and the tracker's processing speed in frames per second on 640x480 frames (landmarks, pose
and tracking; the end-to-end video rate with decoding, drawing and encoding is measured by
``facepoints video`` on a written clip). Methods: the detector + landmarks on every frame
(raw), the tracker without smoothing, and the tracker with One-Euro smoothing (the default).

    python benchmarks/jitter.py --tune --data ../shared/data/300w/helen_train

grid-searches the smoothing parameters on clips from training photos instead (how the
defaults in facepoints.tracking.smoothing were chosen; AFW stays for reporting).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from facepoints.datasets import open_dataset
from facepoints.landmarker import FaceLandmarker
from facepoints.tracking import Tracker
from facepoints.tracking.clips import make_clip, write_clip
from facepoints.tracking.smoothing import LandmarkSmoother
from facepoints.video import process_video

ROOT = Path(__file__).resolve().parents[1]


def nearest(faces, truth: np.ndarray) -> np.ndarray | None:
    if not faces:
        return None
    centre = truth.mean(axis=0)
    return min(faces, key=lambda f: np.linalg.norm(f.points.mean(axis=0) - centre)).points


def score(preds: list[np.ndarray | None], truth: np.ndarray) -> tuple[float, float, float]:
    """(jitter %, error %, found %) of a sequence of predictions against the true points."""
    iod = np.linalg.norm(truth[:, 45] - truth[:, 36], axis=1)
    errors, jitters, prev = [], [], None
    for p, g, d in zip(preds, truth, iod):
        if p is None:
            prev = None
            continue
        e = p - g
        errors.append(np.linalg.norm(e, axis=1).mean() / d)
        if prev is not None:
            jitters.append(np.linalg.norm(e - prev, axis=1).mean() / d)
        prev = e
    found = 100 * sum(p is not None for p in preds) / len(preds)
    return 100 * float(np.mean(jitters)), 100 * float(np.mean(errors)), found


def tune(args: argparse.Namespace) -> None:
    """Track each clip once without smoothing, then smooth the same points with each setting."""
    ds = open_dataset(args.data)
    tracker = Tracker(FaceLandmarker(threads=args.threads), args.detect_every, smooth="none")
    runs = []
    for k, i in enumerate(np.linspace(0, len(ds) - 1, args.images).round().astype(int)):
        sample = ds[int(i)]
        clip = list(make_clip(sample.image, sample.keypoints, args.frames, seed=100 + k))
        truth = np.array([g for _, g in clip])
        tracker.reset()
        runs.append(([nearest(tracker.update(f, j / 30), truth[j]) for j, (f, _) in enumerate(clip)], truth))
    base = np.mean([score(p, t)[:2] for p, t in runs], axis=0)
    print(f"unsmoothed tracker: jitter {base[0]:.3f} %, error {base[1]:.2f} %\n")
    print("| min_cutoff | beta | jitter % | error % | jitter vs unsmoothed | error vs unsmoothed |")
    print("|---|---|---|---|---|---|")
    for min_cutoff in (0.5, 1.0, 2.0):
        for beta in (3.0, 5.0, 10.0, 20.0):
            res = []
            for preds, truth in runs:
                smoother = LandmarkSmoother(min_cutoff, beta)
                res.append(score([None if p is None else smoother(p, j / 30) for j, p in enumerate(preds)], truth)[:2])
            j, e = np.mean(res, axis=0)
            print(f"| {min_cutoff} | {beta} | {j:.3f} | {e:.2f} | {base[0] / j:.2f}x less | {100 * (e / base[1] - 1):+.1f} % |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/300w/afw"), help="labelled 68-point photos")
    parser.add_argument("--images", type=int, default=8, help="clips to make (evenly spread over the dataset)")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--detect-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tune", action="store_true", help="grid-search min_cutoff and beta instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.tune:
        tune(args)
        return

    ds = open_dataset(args.data)
    picks = np.linspace(0, len(ds) - 1, args.images).round().astype(int)
    landmarker = FaceLandmarker(threads=args.threads)
    methods = {
        "detector + landmarks every frame (raw)": None,
        "tracker, no smoothing": Tracker(landmarker, args.detect_every, smooth="none"),
        "tracker + One-Euro (default)": Tracker(landmarker, args.detect_every),
    }
    results = {name: [] for name in methods}
    seconds = {name: 0.0 for name in methods}
    frames_done = 0
    for k, i in enumerate(picks):
        sample = ds[int(i)]
        clip = list(make_clip(sample.image, sample.keypoints, args.frames, seed=k))
        truth = np.array([g for _, g in clip])
        for name, tracker in methods.items():
            preds = []
            if tracker is not None:
                tracker.reset()
            t0 = time.perf_counter()
            for j, (frame, _) in enumerate(clip):
                faces = landmarker.detect(frame) if tracker is None else tracker.update(frame, j / 30.0)
                preds.append(nearest(faces, truth[j]))
            seconds[name] += time.perf_counter() - t0
            results[name].append(score(preds, truth))
        frames_done += len(clip)
        print(f"clip {k + 1}/{len(picks)}: {Path(ds.paths[int(i)]).name}", file=sys.stderr)

    raw_jitter, raw_error = np.mean([r[:2] for r in results["detector + landmarks every frame (raw)"]], axis=0)
    print(f"\n{len(picks)} clips x {args.frames} frames of 640x480 from {args.data}; {args.threads} threads\n")
    print("| method | jitter % | error (NME) % | found % | jitter vs raw | error vs raw | fps |")
    print("|---|---|---|---|---|---|---|")
    for name in methods:
        j, e, f = (float(np.mean([r[c] for r in results[name]])) for c in range(3))
        print(f"| {name} | {j:.3f} | {e:.2f} | {f:.1f} | {raw_jitter / j:.2f}x less | {100 * (e / raw_error - 1):+.1f} % | {frames_done / seconds[name]:.1f} |")

    with tempfile.TemporaryDirectory() as tmp:  # end to end: decode, track, draw, encode
        sample = ds[int(picks[0])]
        src = Path(tmp) / "clip.mp4"
        write_clip(src, make_clip(sample.image, sample.keypoints, args.frames))
        summary = process_video(src, methods["tracker + One-Euro (default)"], Path(tmp) / "out.mp4", Path(tmp) / "out.jsonl", progress=False)
        print(f"\n`facepoints video` end to end (decode, track, pose, draw, encode, JSON): {summary.processing_fps:.1f} fps on {summary.width}x{summary.height}")


if __name__ == "__main__":
    main()
