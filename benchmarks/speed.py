"""Speed benchmark against dlib and MediaPipe, all in one run (run by hand; prints markdown tables).

    python benchmarks/speed.py [--peers /work/peers] [--images 200]

Measures, on this machine and in this run so that the ratios hold on a noisy machine:

1. landmarks alone, ms per face on one thread: facepoints' model (one ONNX pass, batch 1) and its
   whole landmark step (crop + model + refinement pass + mapping back), against dlib's shape
   predictor alone (given boxes) and MediaPipe FaceMesh's landmark step;
2. facepoints' throughput in faces per second with batches of 1, 8 and 32 on two threads;
3. end-to-end ms per image (detector + landmarks, one thread) on Udacity test images and on a
   1280x720 photo with several faces (the Beatles demo photo letterboxed), against dlib's HOG
   detector + shape predictor and MediaPipe FaceMesh with its own detector;
4. directory mode (``facepoints detect FOLDER`` with the CLI's thread settings: a one-thread model,
   a reader thread per core; JSON Lines, no drawings) in faces/s, and its CPU time per image, with
   the faces/s that CPU time allows on two cores (on a shared machine wall time is noisy, CPU time is not);
5. peak resident memory of each method's process, and of ``facepoints detect PHOTO`` (the CLI,
   drawing and saving included) on the demo photos.

Peers run in their own virtual environments (``benchmarks/peers/README.md``), each in a child
process, on the same image files; their times exclude image decoding, like facepoints'.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PEERS = {"dlib": "dlib_peer.py", "mediapipe": "mediapipe_peer.py"}


def facepoints_rows(decoded: list[np.ndarray], big: np.ndarray, folder: Path, model: str) -> dict:
    """Every facepoints measurement of one model (bundled name or checkpoint), in this process,
    on images decoded beforehand (decoding is not timed, as for the peers)."""
    from facepoints.cli.detect import folder_threads
    from facepoints.files import detect_files
    from facepoints.landmarker import FaceLandmarker

    lm = FaceLandmarker(model=model, threads=1)
    folder_lm = FaceLandmarker(model=model, threads=folder_threads(None, [str(folder)]))  # as facepoints detect FOLDER
    two = FaceLandmarker(model=model, threads=2).predictor.engine
    one = lm.predictor.engine  # what the default backend (auto) runs
    if one.name == "torch":
        raise SystemExit(f"{model}: no usable ONNX export beside the checkpoint (make one with facepoints export)")
    res = {"model_file": one.path.name}

    x = np.random.default_rng(0).random((1, lm.predictor.spec.channels, *lm.predictor.spec.size), dtype=np.float32)
    for _ in range(50):
        one.run(x)
    t0 = time.perf_counter()
    n = 1000
    for _ in range(n):
        one.run(x)
    res["model_ms"] = 1000 * (time.perf_counter() - t0) / n

    res["throughput"] = {}
    for batch in (1, 8, 32):
        xb = np.repeat(x, batch, axis=0)
        for _ in range(10):
            two.run(xb)
        reps = max(20, 2000 // batch)
        t0 = time.perf_counter()
        for _ in range(reps):
            two.run(xb)
        res["throughput"][batch] = reps * batch / (time.perf_counter() - t0)

    found = [lm.find_faces(im) for im in decoded]
    faces = sum(len(f) for f in found)
    for im, f in zip(decoded[:20], found[:20]):  # warm-up
        lm.landmarks([im], [f])
    t0, c0 = time.perf_counter(), time.thread_time()
    for im, f in zip(decoded, found):
        lm.landmarks([im], [f])
    res["step_ms"] = 1000 * (time.perf_counter() - t0) / max(faces, 1)
    res["step_cpu_ms"] = 1000 * (time.thread_time() - c0) / max(faces, 1)
    t0 = time.perf_counter()
    for im in decoded:
        lm.detect(im)
    res["e2e_ms"] = 1000 * (time.perf_counter() - t0) / len(decoded)
    lm.detect(big)
    t0 = time.perf_counter()
    reps = 10
    for _ in range(reps):
        photo_faces = len(lm.detect(big))
    res["photo_ms"], res["photo_faces"] = 1000 * (time.perf_counter() - t0) / reps, photo_faces

    with tempfile.TemporaryDirectory() as tmp:
        list(detect_files([folder], folder_lm, tmp, draw=False, progress=False))  # warm-up run, then a clean one
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        results = list(detect_files([folder], folder_lm, tmp, draw=False, progress=False))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    folder_faces = sum(len(r.faces) for r in results)
    res["folder_faces_s"], res["folder_cpu_faces_s"] = folder_faces / wall, 2 * folder_faces / cpu
    res["folder_images"], res["folder_cpu_ms"] = len(results), 1000 * cpu / len(results)
    res["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


def run_peer(
    peers: Path, method: str, images: list[Path], mode: str, boxes: list[list] | None = None
) -> tuple[dict, float]:
    """Run a peer job in its venv; returns its result document and the child's peak RSS (MiB)."""
    python = peers / method / "bin" / "python"
    script = ROOT / "benchmarks" / "peers" / PEERS[method]
    job = {
        "mode": mode,
        "images": [{"path": str(p), "boxes": b or []} for p, b in zip(images, boxes or [None] * len(images))],
    }
    with tempfile.TemporaryDirectory() as tmp:
        job_path, out_path = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job_path.write_text(json.dumps(job))
        proc = psutil.Popen([str(python), str(script), "--job", str(job_path), "--out", str(out_path), "--threads", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        peak = 0.0
        while proc.poll() is None:
            try:
                peak = max(peak, proc.memory_info().rss / 2**20)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.02)
        if proc.returncode != 0:
            raise RuntimeError(f"{method} peer failed (exit {proc.returncode})")
        return json.loads(out_path.read_text()), peak


def peer_rows(peers: Path, method: str, images: list[Path], boxes: list[list], photo: Path) -> dict:
    res = {}
    doc, _ = run_peer(peers, method, images, "boxes", boxes)
    res["step_ms"] = doc["ms_per_face_landmarks"]
    doc, peak = run_peer(peers, method, images, "detect")
    res["e2e_ms"] = float(np.mean([im["ms"] for im in doc["images"][20:]]))  # the first images warm up
    res["peak_mib"] = peak
    doc, _ = run_peer(peers, method, [photo] * 11, "detect")
    res["photo_ms"] = float(np.mean([im["ms"] for im in doc["images"][1:]]))
    res["photo_faces"] = len(doc["images"][-1]["faces"])
    return res


def cli_peak_mib(photo: Path, model: str) -> float:
    """Peak resident memory (MiB) of ``facepoints detect PHOTO`` in a process of its own (drawing and
    saving included), as that process's VmHWM (Linux): a child's ru_maxrss would count the memory of
    this process, which it is forked from."""
    report = "import sys; from facepoints.cli.main import main; code = main(sys.argv[1:]); "
    report += "print([line for line in open('/proc/self/status') if line.startswith('VmHWM')][0]); sys.exit(code)"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-c", report, "detect", str(photo), "--out", tmp, "--no-progress", "--model", model]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return int(proc.stdout.split("VmHWM:")[1].split()[0]) / 1024


def letterbox_photo(target: Path) -> Path:
    """A 1280x720 photo with several faces (the Beatles demo photo, or the bundled one tiled)."""
    from facepoints.imageio import load_image, save_image
    from facepoints.landmarker import sample_image_path

    source = SHARED / "assets" / "the_beatles.jpg"
    image = load_image(source) if source.is_file() else np.hstack([load_image(sample_image_path())] * 3)
    scale = min(1280 / image.shape[1], 720 / image.shape[0])
    small = cv2.resize(
        image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA
    )
    canvas = np.zeros((720, 1280, 3), np.uint8)
    y, x = (720 - small.shape[0]) // 2, (1280 - small.shape[1]) // 2
    canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
    return save_image(target, canvas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", type=Path, help="folder with the dlib/ and mediapipe/ virtual environments")
    parser.add_argument("--images", type=int, default=200, help="Udacity test images to time")
    parser.add_argument(
        "--model", nargs="+", default=["default", "fast"], help="facepoints model(s): bundled names or checkpoints"
    )
    args = parser.parse_args()

    from facepoints.datasets import open_dataset
    from facepoints.imageio import load_image
    from facepoints.predict import points_box

    ds = open_dataset(str(SHARED / "data/udacity-68/test"))
    step = max(1, len(ds) // args.images)
    picks = list(range(0, len(ds), step))[: args.images]
    images = [Path(ds.paths[i]) for i in picks]
    boxes = [[points_box(ds.keypoints[i]).tolist()] for i in picks]
    decoded = [load_image(p) for p in images]
    with tempfile.TemporaryDirectory() as tmp:
        photo = letterbox_photo(Path(tmp) / "photo_1280x720.png")
        big = load_image(photo)
        rows = {
            f"facepoints {m}": facepoints_rows(decoded, big, SHARED / "data/udacity-68/test", m) for m in args.model
        }
        photos = [
            SHARED / "assets" / name
            for name in ("obamas.jpg", "the_beatles.jpg")
            if (SHARED / "assets" / name).is_file()
        ]
        for m in args.model:
            rows[f"facepoints {m}"]["cli_peak_mib"] = {p: cli_peak_mib(p, m) for p in photos or [photo]}
        for method in PEERS:
            if args.peers and (args.peers / method / "bin" / "python").is_file():
                rows[method] = peer_rows(args.peers, method, images, boxes, photo)
            else:
                print(f"({method}: no environment under --peers; skipped)", file=sys.stderr)

    ours = {name: r for name, r in rows.items() if name.startswith("facepoints")}
    dl = rows.get("dlib")
    ratio = lambda v, ref: f"{v / ref:.2f}x" if ref else "-"
    print(f"\n{len(images)} Udacity test images; {os.cpu_count()} CPUs")
    for name, fp in ours.items():
        print(f"{name} model alone ({fp['model_file']}): {fp['model_ms']:.3f} ms per face (1 thread)")
    print()
    print(
        "| method | landmarks ms/face (1 thread) | vs dlib | end-to-end ms/image, Udacity (1 thread) | vs dlib | 1280x720 photo ms (faces) | vs dlib | peak MiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for method, r in rows.items():
        ref = dl or {}
        print(
            f"| {method} | {r['step_ms']:.2f} | {ratio(r['step_ms'], ref.get('step_ms'))} | {r['e2e_ms']:.2f} | "
            f"{ratio(r['e2e_ms'], ref.get('e2e_ms'))} | {r['photo_ms']:.1f} ({r['photo_faces']}) | "
            f"{ratio(r['photo_ms'], ref.get('photo_ms'))} | {r['peak_mib']:.0f} |"
        )
    for name, fp in ours.items():
        if dl:
            print(f"| {name}, model alone | {fp['model_ms']:.2f} | {ratio(fp['model_ms'], dl['step_ms'])} | | | | | |")
    print("\nPeak MiB of facepoints is that of the one process that ran every facepoints model in turn.")
    for name, fp in ours.items():
        print(f"\n{name} landmark step: {fp['step_cpu_ms']:.2f} ms of CPU per face (the table's column is wall time)")
        print(
            f"{name} throughput on 2 threads (model alone): "
            + ", ".join(f"batch {b}: {v:.0f} faces/s" for b, v in fp["throughput"].items())
        )
        print(
            f"{name} directory mode (CLI thread settings, JSON Lines, no drawings), {fp['folder_images']} Udacity test images: "
            f"{fp['folder_faces_s']:.0f} faces/s; {fp['folder_cpu_ms']:.1f} ms of CPU per image, "
            f"so {fp['folder_cpu_faces_s']:.0f} faces/s on 2 fully available cores"
        )
        peaks = ", ".join(f"{photo.name} {mib:.0f} MiB" for photo, mib in fp["cli_peak_mib"].items())
        print(f"{name} peak memory of facepoints detect PHOTO (own process, drawing and saving included): {peaks}")


if __name__ == "__main__":
    main()
