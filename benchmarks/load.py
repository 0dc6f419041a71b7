"""Load test of `facepoints serve` on loopback (run by hand; prints a markdown table).

    python benchmarks/load.py [--requests 2000] [--clients 8] [--workers 1]

Starts a server in a child process (or uses --url), then N client threads send a fixed
number of POST /v1/landmarks requests with real photos (the bundled astronaut and, when
../shared is there, the demo photos and AFW faces), round robin. Reports throughput, latency
percentiles, errors, and the server's resident memory at the start, after the first 10 % of
requests (warm) and at the end: memory growth under load should be near zero.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

from facepoints.landmarker import sample_image_path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def photos() -> list[tuple[str, bytes]]:
    files = [sample_image_path()]
    files += sorted((SHARED / "assets").glob("*.jpg"))
    files += sorted((SHARED / "data/300w/afw").glob("*.jpg"))[:20]
    return [(f.name, f.read_bytes()) for f in files if f.is_file()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_rss(proc: psutil.Process) -> float:
    """Resident memory of the server and its worker processes, MiB."""
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--url", help="use a running server instead of starting one")
    args = parser.parse_args()

    server = None
    url = args.url
    if url is None:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "facepoints", "serve", "--port", str(port), "--workers", str(args.workers)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
    proc = psutil.Process(server.pid) if server else None
    images = photos()
    latencies: list[float] = []
    errors: list[str] = []
    faces = [0]
    counter = iter(range(args.requests))
    lock = threading.Lock()
    memory = {"start": server_rss(proc) if proc else float("nan")}
    warm_at = max(1, args.requests // 10)

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                name, data = images[i % len(images)]
                t0 = time.perf_counter()
                try:
                    r = http.post(f"{url}/v1/landmarks", files={"file": (name, data)})
                    ok = r.status_code == 200
                    n = len(r.json()["faces"]) if ok else 0
                except (httpx.HTTPError, ValueError) as exc:
                    ok, n, r = False, 0, exc
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    faces[0] += n
                    if not ok:
                        errors.append(str(getattr(r, "status_code", r)))
                    if len(latencies) == warm_at and proc:
                        memory["warm"] = server_rss(proc)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    memory["end"] = server_rss(proc) if proc else float("nan")
    if server:
        server.terminate()
        server.wait(10)

    lat = np.array(latencies) * 1000
    print(f"\n{args.requests} requests, {args.clients} clients, {args.workers} worker(s), {len(images)} photos, {os.cpu_count()} CPUs\n")
    print("| requests | errors | throughput req/s | faces/s | p50 ms | p95 ms | p99 ms | max ms | server MiB start / warm / end |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {len(lat)} | {len(errors)} | {len(lat) / wall:.1f} | {faces[0] / wall:.1f} | {np.percentile(lat, 50):.0f} | "
        f"{np.percentile(lat, 95):.0f} | {np.percentile(lat, 99):.0f} | {lat.max():.0f} | "
        f"{memory['start']:.0f} / {memory.get('warm', float('nan')):.0f} / {memory['end']:.0f} |"
    )
    if errors:
        print(f"\nerrors: {sorted(set(errors))}")


if __name__ == "__main__":
    main()
