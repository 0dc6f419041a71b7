"""Rotation benchmark: end-to-end detection and landmark accuracy on 300-W AFW and Udacity test turned
by 0, 30, 60, 90, 135 and 180 degrees, for facepoints' any-angle modes, its old upright-only
behaviour, and (when their environments are there) dlib and MediaPipe FaceMesh.

Run by hand from the repository root (needs ../shared; the peers are optional, see
benchmarks/peers/README.md):

    python benchmarks/rotation.py --limit 150                      # facepoints only, about 150 faces per set
    python benchmarks/rotation.py --peers /work/peers --limit 100  # also dlib and MediaPipe
    python benchmarks/rotation.py --sets afw --angles 0 90         # one set, two angles

Protocol:

- Turning: each image is turned clockwise (on screen) by the angle about its centre, onto a canvas
  just large enough to hold all of it, filled with black (bilinear ``cv2.warpAffine``; multiples of
  90 degrees use ``cv2.rotate``, which is exact). The ground-truth points are moved by the same
  matrix. The turned images are written once as PNG (lossless) to a temporary folder, and every
  method reads the same files.
- Methods, each with its own face detector: facepoints with ``any_angle="auto"`` (the default: the
  turned copies are searched only when the upright search finds no confident face) and
  ``any_angle="always"``, both with ``upright=True`` (each crop turned by the face's roll); the old
  behaviour (``any_angle="off"``, ``upright=False``); dlib and MediaPipe in their ``detect`` mode.
- Matching (as in ``benchmarks/landmarks.py``): a face counts as detected when one of the method's
  boxes overlaps the box of the turned ground-truth points with IoU >= 0.3; landmark metrics are over
  detected faces. NME is ``facepoints.metrics.nme`` (outer eye corners 36/45), which a rotation does
  not change, so the angles compare directly.
- Timing: wall ms per image of the whole detect call on one thread, image decoding excluded (the
  peers report the same); facepoints' methods run one after another on each image, so that the load
  of the machine weighs on them alike, each method first on every third image (the first call on a
  freshly read image pays for bringing it into the caches). ms/face divides the total time by the faces the method
  returned (every set image holds one labelled face).

``--limit N`` takes every k-th face of a set (k = ceil(size / N)), as ``benchmarks/landmarks.py`` does.
Besides the main table per set, it prints each method's NME at every angle over its NME upright, and
the NME of every method on the faces that all of them detected at that angle ("common faces").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np
from landmarks import PEERS, ROOT, SHARED, detected, errors_of, match, subset
from tqdm import tqdm

from facepoints.datasets import open_dataset
from facepoints.imageio import load_image
from facepoints.landmarker import FaceLandmarker
from facepoints.metrics import failure_rate
from facepoints.predict import points_box

SETS = {"afw": "300w:" + str(SHARED / "300w" / "afw"), "udacity": str(SHARED / "udacity-68" / "test")}
ANGLES = (0, 30, 60, 90, 135, 180)
QUARTER_TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
#: facepoints rows: name -> FaceLandmarker keywords besides model, backend and threads
FACEPOINTS = {
    "facepoints auto": {"any_angle": "auto"},
    "facepoints always": {"any_angle": "always"},
    "facepoints old (off, not upright)": {"any_angle": "off", "upright": False},
}


@dataclass
class Run:
    """One method's end-to-end results at one angle: matched points per face (``None``: not
    detected), ms per image and the number of faces it returned per image."""

    preds: list[np.ndarray | None] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)

    def add(self, pred: np.ndarray | None, ms: float, returned: int) -> None:
        self.preds.append(pred)
        self.ms.append(ms)
        self.returned.append(returned)


def turn_matrix(width: int, height: int, angle: float) -> tuple[np.ndarray, tuple[int, int]]:
    """The 2x3 matrix that turns pixel-centre coordinates clockwise on screen by ``angle`` degrees
    about the image centre onto a canvas just large enough for the whole image, and that canvas's
    (width, height)."""
    rad = math.radians(angle)
    cos, sin = round(abs(math.cos(rad)), 9), round(abs(math.sin(rad)), 9)
    size = math.ceil(width * cos + height * sin - 1e-6), math.ceil(width * sin + height * cos - 1e-6)
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), -angle, 1.0)
    matrix[:, 2] += ((size[0] - width) / 2, (size[1] - height) / 2)
    return matrix, size


def turn(image: np.ndarray, points: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (any channels) and its ``points`` (N, 2) turned clockwise by ``angle`` degrees, with
    black filling the new corners."""
    height, width = image.shape[:2]
    matrix, size = turn_matrix(width, height, angle)
    points = points @ matrix[:, :2].T + matrix[:, 2]
    if angle % 360 == 0:
        return image, points
    if angle % 360 in QUARTER_TURNS:
        turned = cv2.rotate(image, QUARTER_TURNS[angle % 360])
        assert turned.shape[1::-1] == size
        return turned, points
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0), points


def write_turned(samples: list, angles: list[float], folder: Path) -> dict[float, tuple[list[Path], np.ndarray]]:
    """Every sample turned by every angle, written as PNG under ``folder``: angle -> (paths, turned
    ground-truth points (N, 68, 2))."""
    out = {}
    for angle in angles:
        (folder / str(angle)).mkdir(parents=True)
        paths, gts = [], []
        for i, sample in enumerate(samples):
            image, points = turn(sample.image, sample.keypoints.astype(np.float64), angle)
            path = folder / str(angle) / f"{i:04d}.png"
            cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
            paths.append(path)
            gts.append(points)
        out[angle] = (paths, np.stack(gts))
    return out


def run_facepoints(
    turned: dict[float, tuple[list[Path], np.ndarray]], landmarkers: dict[str, FaceLandmarker], label: str
) -> dict[str, dict[float, Run]]:
    """Every facepoints landmarker on every turned image, one after another on each image."""
    runs = {name: {angle: Run() for angle in turned} for name in landmarkers}
    jobs = [(angle, path, gt) for angle, (paths, gts) in turned.items() for path, gt in zip(paths, gts)]
    names = list(landmarkers)
    for k, (angle, path, gt) in enumerate(tqdm(jobs, desc=f"{label}: facepoints", unit="image", mininterval=10)):
        image = load_image(path)
        for name in names[k % len(names) :] + names[: k % len(names)]:  # each method first in turn
            landmarker = landmarkers[name]
            t0 = time.perf_counter()
            faces = landmarker.detect(image)
            ms = 1000 * (time.perf_counter() - t0)
            runs[name][angle].add(match([(f.box, f.points) for f in faces], points_box(gt)), ms, len(faces))
    return runs


def run_peer(
    peers: Path, method: str, turned: dict[float, tuple[list[Path], np.ndarray]], threads: int
) -> dict[float, Run]:
    """One peer in its ``detect`` mode on every turned image (one job for all angles)."""
    job = {"mode": "detect", "images": [{"path": str(p), "boxes": []} for paths, _ in turned.values() for p in paths]}
    with tempfile.TemporaryDirectory() as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job))
        python, script = peers / method / "bin" / "python", ROOT / "benchmarks" / "peers" / PEERS[method]
        files = ["--job", str(job_path), "--out", str(result_path)]
        subprocess.run([str(python), str(script), *files, "--threads", str(threads)], check=True)
        result = {image["path"]: image for image in json.loads(result_path.read_text())["images"]}
    runs = {}
    for angle, (paths, gts) in turned.items():
        runs[angle] = Run()
        for path, gt in zip(paths, gts):
            image = result[str(path)]
            faces = [
                (None if f.get("box") is None else np.asarray(f["box"]), np.asarray(f["points"], np.float64))
                for f in image["faces"]
                if f.get("points")
            ]
            runs[angle].add(match(faces, points_box(gt)), image["ms"], len(faces))
    return runs


def nme_percent(errors: np.ndarray) -> str:
    return f"{100 * errors.mean():.2f}" if len(errors) else "-"


def main_table(runs: dict[str, dict[float, Run]], turned: dict[float, tuple[list[Path], np.ndarray]]) -> None:
    print("| angle | method | detected % | NME % | median NME % | FR@0.10 % | ms/image | ms/face |")
    print("|---|---|---|---|---|---|---|---|")
    for angle, (_, gts) in turned.items():
        for name, by_angle in runs.items():
            run = by_angle[angle]
            errors = errors_of(run.preds, gts)
            median = f"{100 * np.median(errors):.2f}" if len(errors) else "-"
            fr = f"{100 * failure_rate(errors, 0.10):.2f}" if len(errors) else "-"
            per_face = f"{sum(run.ms) / sum(run.returned):.1f}" if sum(run.returned) else "-"
            found, ms, nme_cell = 100 * detected(run.preds).mean(), np.mean(run.ms), nme_percent(errors)
            print(f"| {angle} | {name} | {found:.1f} | {nme_cell} | {median} | {fr} | {ms:.1f} | {per_face} |")


def ratio_table(runs: dict[str, dict[float, Run]], turned: dict[float, tuple[list[Path], np.ndarray]]) -> None:
    """Each method's NME at every angle over its NME at angle 0 (over the faces it detects at each)."""
    if 0 not in turned:
        return
    print("\nNME(angle) / NME(0), each method over the faces it detects:\n")
    print("| method | " + " | ".join(str(a) for a in turned) + " |")
    print("|---|" + "---|" * len(turned))
    for name, by_angle in runs.items():
        upright = errors_of(by_angle[0].preds, turned[0][1])
        cells = []
        for angle, (_, gts) in turned.items():
            errors = errors_of(by_angle[angle].preds, gts)
            cells.append(f"{errors.mean() / upright.mean():.3f}" if len(errors) and len(upright) else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")


def common_table(runs: dict[str, dict[float, Run]], turned: dict[float, tuple[list[Path], np.ndarray]]) -> None:
    """Every method's NME % at each angle on the faces that all methods detected at that angle."""
    print("\nNME % on the common faces (detected by every method at that angle):\n")
    print("| angle | faces | " + " | ".join(runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for angle, (_, gts) in turned.items():
        common = np.all([detected(by_angle[angle].preds) for by_angle in runs.values()], axis=0)
        cells = [nme_percent(errors_of(subset(r[angle].preds, common), gts[common])) for r in runs.values()]
        print(f"| {angle} | {common.sum()} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--angles", nargs="+", type=float, default=list(ANGLES), help="degrees, clockwise on screen")
    parser.add_argument(
        "--limit", type=int, metavar="N", help="every k-th face of each set, k = ceil(size / N): about N faces per set"
    )
    parser.add_argument("--peers", type=Path, help="folder holding the dlib/ and mediapipe/ virtual environments")
    parser.add_argument("--threads", type=int, default=1, help="threads for every method (default 1)")
    parser.add_argument("--model", default="default", help="facepoints model: a bundled name or a checkpoint path")
    parser.add_argument("--backend", default="int8", help="facepoints backend (default int8)")
    args = parser.parse_args()
    angles = [int(a) if float(a).is_integer() else a for a in args.angles]
    cv2.setNumThreads(args.threads)
    landmarkers = {
        name: FaceLandmarker(model=args.model, backend=args.backend, threads=args.threads, **keywords)
        for name, keywords in FACEPOINTS.items()
    }
    peers = []
    for method in PEERS if args.peers else ():
        if (args.peers / method / "bin" / "python").is_file():
            peers.append(method)
        else:
            print(f"(no {args.peers / method} virtual environment: {method} skipped)", file=sys.stderr)
    for set_name in args.sets:
        ds = open_dataset(SETS[set_name])
        step = max(1, -(-len(ds) // args.limit)) if args.limit else 1
        samples = [ds[i] for i in range(0, len(ds), step)]
        with tempfile.TemporaryDirectory(prefix="rotation-") as tmp:
            turned = write_turned(samples, angles, Path(tmp))
            runs = run_facepoints(turned, landmarkers, set_name)
            for method in peers:
                print(f"{set_name}: {method} ...", file=sys.stderr)
                runs[method] = run_peer(args.peers, method, turned, args.threads)
        taken = f", 1 in {step} of {len(ds)}" if step > 1 else ""
        print(f"\n### {set_name} ({len(samples)} faces{taken}; model {args.model}, backend {args.backend})\n")
        main_table(runs, turned)
        ratio_table(runs, turned)
        common_table(runs, turned)


if __name__ == "__main__":
    main()
