"""Scale benchmark: the local engine against the Ray engine on this machine, in one run (run by hand;
prints markdown tables; needs ``pip install -e '.[ray]'``).

    python benchmarks/scale.py [--data ../shared/data/udacity-68/test] [--photos ../shared/assets]
                               [--repeats 2] [--actors N] [--stages 100] [--kill-actor]

Measures, in one process so that the ratios hold on a noisy machine:

1. the stages of one image on one core: ms to decode, to find the faces, to place the landmarks (faces
   of 8 images per batch), to build and serialize the record; hence images/s per core;
2. the throughput of both engines on the same folder, no drawings: the local engine (this process, all
   cores) then the Ray engine (one actor per core), ``--repeats`` times interleaved; Ray's own start
   is timed apart, since a production cluster runs already;
3. whether the records match: the same images, errors and fields, points within 0.001 px, on the
   folder and on the demo photos;
4. with ``--kill-actor``: one more Ray run in which one landmark actor is killed (SIGKILL) mid-run, and
   whether every image still got its record, equal to the local engine's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import psutil

from facepoints.engines.ray_engine import detect_ray
from facepoints.files import ImageResult, detect_files, list_images
from facepoints.imageio import load_image
from facepoints.landmarker import FaceLandmarker

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ACTOR_TITLE = "MapBatches(LandmarkActor)"  # in the process title Ray gives each landmark actor


def stages(folder: Path, count: int) -> list[tuple[str, float]]:
    """CPU ms per image of each stage on one thread (CPU time: what other loads on the machine do not
    change), over the first ``count`` images of ``folder``."""
    cv2.setNumThreads(1)
    landmarker = FaceLandmarker(threads=1)
    paths = list_images(folder)[:count]
    start = time.process_time()
    images = [load_image(p) for p in paths]
    decode = time.process_time() - start
    start = time.process_time()
    found = [landmarker.find_faces(im) for im in images]
    detect = time.process_time() - start
    start = time.process_time()
    faces = []
    for k in range(0, len(images), 8):
        faces += landmarker.landmarks(images[k : k + 8], found[k : k + 8])
    marks = time.process_time() - start
    start = time.process_time()
    for path, image, got in zip(paths, images, faces):
        json.dumps(ImageResult(str(path), image.shape[1], image.shape[0], got).to_dict())
    record = time.process_time() - start
    cv2.setNumThreads(-1)
    n = len(paths)
    rows = [("decode", decode), ("face detection", detect), ("landmarks (batches of 8 images)", marks)]
    rows.append(("record", record))
    return [(name, 1000 * t / n) for name, t in rows] + [("faces per image", sum(map(len, faces)) / n)]


class CpuMeter:
    """CPU time of this process and of every process under it (Ray's, when this process started Ray),
    sampled every 0.2 s while a run goes, since Ray's ended workers leave no trace in their parent:
    what the run costs in CPU, whatever else loads the machine."""

    def __init__(self) -> None:
        self.first = self._now()
        self.last = dict(self.first)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    @staticmethod
    def _now() -> dict[int, float]:
        seen = {}
        for proc in [psutil.Process(), *psutil.Process().children(recursive=True)]:
            try:
                seen[proc.pid] = sum(proc.cpu_times()[:2])
            except psutil.NoSuchProcess:
                continue
        return seen

    def _sample(self) -> None:
        while not self.stop.wait(0.2):
            self.last |= self._now()

    def seconds(self) -> float:
        self.stop.set()
        self.thread.join()
        self.last |= self._now()
        return sum(t - self.first.get(pid, 0.0) for pid, t in self.last.items())


def timed(run) -> tuple[float, float, list[dict]]:
    """(wall seconds, CPU seconds, records) of ``run()``."""
    wall, cpu = time.perf_counter(), CpuMeter()
    records = run()
    return time.perf_counter() - wall, cpu.seconds(), records


def run_local(inputs: list[str], out: Path) -> tuple[float, float, list[dict]]:
    """The local engine as `facepoints detect FOLDER --no-draw` runs it: the model loaded, all cores."""
    return timed(lambda: [r.to_dict() for r in detect_files(inputs, FaceLandmarker(), out, draw=False, progress=False)])


def run_ray(inputs: list[str], out: Path, actors: int | None) -> tuple[float, float, list[dict]]:
    """The Ray engine, Ray started already: the actors' start (their imports, their models) is in the time."""

    def run() -> list[dict]:
        result = detect_ray(inputs, out, {}, actors=actors, progress=False)
        assert result.failed == 0 and result.processed == result.planned, result
        return result.records

    return timed(run)


def compare(ours: list[dict], theirs: list[dict]) -> tuple[int, float]:
    """(records that differ other than in points and boxes, the largest point or box difference in px)."""
    differ, worst = 0, 0.0
    if [r["image"] for r in ours] != [r["image"] for r in theirs]:
        return max(len(ours), len(theirs)), float("inf")
    for a, b in zip(ours, theirs):
        fa, fb = a.get("faces", []), b.get("faces", [])
        if a.keys() != b.keys() or a.get("error") != b.get("error") or len(fa) != len(fb):
            differ += 1
            continue
        for x, y in zip(fa, fb):
            for name in ("points", "box"):
                worst = max(worst, float(np.abs(np.subtract(x[name], y[name])).max()))
            rest = [{k: v for k, v in f.items() if k not in ("points", "box")} for f in (x, y)]
            differ += rest[0] != rest[1]
    return differ, worst


def kill_one_actor(after: float, killed: list) -> None:
    """After ``after`` seconds, SIGKILL one landmark actor of this process's Ray (a process we started)."""
    time.sleep(after)
    for proc in psutil.process_iter(["pid", "cmdline", "memory_info"]):
        if ACTOR_TITLE in " ".join(proc.info["cmdline"] or []):
            os.kill(proc.info["pid"], signal.SIGKILL)
            killed.append((proc.info["pid"], after, proc.info["memory_info"].rss / 2**20))
            return


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(SHARED / "data" / "udacity-68" / "test"))
    ap.add_argument("--photos", default=str(SHARED / "assets"))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--actors", type=int, help="Ray actors (default: one per core)")
    ap.add_argument("--stages", type=int, default=100, help="images for the per-stage timing (0: skip it)")
    ap.add_argument("--kill-actor", action="store_true", help="also kill one actor mid-run and check every image")
    args = ap.parse_args()
    import ray

    n = len(list_images(args.data))
    print(f"{n} images in {args.data}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start\n")
    if args.stages:
        print("| stage, one core | CPU ms per image |\n|---|---:|")
        for name, value in stages(Path(args.data), args.stages):
            print(f"| {name} | {value:.1f} |" if name != "faces per image" else f"| ({name}: {value:.2f}) | |")
        print()

    start = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    ray_start = time.perf_counter() - start
    rows, local_records, ray_records = [], None, None
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            seconds, cpu, local_records = run_local([args.data], Path(tmp, f"local{k}"))
            rows.append(("local", k, seconds, cpu))
            seconds, cpu, ray_records = run_ray([args.data], Path(tmp, f"ray{k}"), args.actors)
            rows.append(("ray", k, seconds, cpu))
        photo_records = run_local([args.photos], Path(tmp, "pl"))[2]
        photos = (len(photo_records), *compare(run_ray([args.photos], Path(tmp, "pr"), args.actors)[2], photo_records))
        killed: list = []
        if args.kill_actor:
            local_time = min(row[2] for row in rows if row[0] == "local")
            watcher = threading.Thread(target=kill_one_actor, args=(0.5 * local_time, killed), daemon=True)
            watcher.start()
            kill_seconds, _, kill_records = run_ray([args.data], Path(tmp, "kill"), args.actors)
            watcher.join()
    ray.shutdown()

    print(f"Ray's start on this machine (not in the times below): {ray_start:.1f} s\n")
    print("| engine | run | images | wall s | images/s | CPU s | images per CPU-second |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for engine, k, seconds, cpu in rows:
        print(f"| {engine} | {k + 1} | {n} | {seconds:.1f} | {n / seconds:.1f} | {cpu:.1f} | {n / cpu:.1f} |")
    pairs = [(rows[i][2] / rows[i + 1][2], rows[i][3] / rows[i + 1][3]) for i in range(0, len(rows), 2)]
    print("\n| run | ray / local, throughput | ray / local, images per CPU-second |\n|---:|---:|---:|")
    for k, (wall, cpu) in enumerate(pairs):
        print(f"| {k + 1} | {wall:.2f} | {cpu:.2f} |")
    total = {(engine, i): sum(r[i] for r in rows if r[0] == engine) for engine in ("local", "ray") for i in (2, 3)}
    wall, cpu = total["local", 2] / total["ray", 2], total["local", 3] / total["ray", 3]
    print(f"| all | {wall:.2f} | {cpu:.2f} |")
    folder = compare(ray_records, local_records)
    print("\n| records, Ray vs local | images | records that differ | largest point difference (px) |")
    print("|---|---:|---:|---:|")
    print(f"| {args.data} | {len(local_records)} | {folder[0]} | {folder[1]:.4f} |")
    print(f"| {args.photos} | {photos[0]} | {photos[1]} | {photos[2]:.4f} |")
    if args.kill_actor:
        if not killed:
            print("\nno actor was running when the kill came: rerun with more images")
        else:
            differ, worst = compare(kill_records, local_records)
            pid, when, rss = killed[0]
            print(f"\nkilled actor pid {pid} (resident memory {rss:.0f} MiB) at {when:.0f} s; the run took "
                  f"{kill_seconds:.1f} s, recorded {len(kill_records)} of {n} images; {differ} records differ from "
                  f"the local engine's (largest point difference {worst:.4f} px)")  # fmt: skip
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
