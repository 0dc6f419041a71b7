"""Load test of `facepoints serve` under a mixed, partly abusive load (run by hand; prints markdown tables).

    python benchmarks/load.py [--requests 1000] [--clients 8] [--stalled 0.05] [--slow 0.02] [--leave 0.02]

Starts `facepoints serve` in a child process (`--timeout 3 --body-timeout 2 --queue-timeout 5`, other
limits at their defaults), then N client threads send a fixed number of requests on loopback, in a shuffled order:

- normal: POST /v1/landmarks with a real photo as a multipart upload (the bundled astronaut and,
  when ../shared is there, the demo photos and 20 AFW faces, round robin); expected 200;
- stalled: an upload that declares the whole photo, sends half of it and stalls; expected 408 and
  the connection closed by the server;
- slow: a 39-megapixel photo (the bundled one scaled up) that takes longer than --timeout; expected
  503 with Retry-After, and its slot held until its thread stops;
- leave: the same big photo, the client closing the connection 0.3 s after sending it; the server
  is expected to log 499 and stop the work.

Reports, per kind, the answers and latency; the statuses the server logged (no 500 expected, and no
5xx but the deliberate timeouts); the server's resident memory at the start, its peak (sampled every
0.1 s) and at the end; and whether every processing slot is free after the load and a normal
request then succeeds. `--stalled 0 --slow 0 --leave 0` is a plain throughput test.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import IO

import httpx
import numpy as np
import psutil
from PIL import Image

from facepoints.landmarker import sample_image_path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def photos() -> list[tuple[str, bytes]]:
    files = [sample_image_path()]
    files += sorted((SHARED / "assets").glob("*.jpg"))
    files += sorted((SHARED / "data/300w/afw").glob("*.jpg"))[:20]
    return [(f.name, f.read_bytes()) for f in files if f.is_file()]


def big_photo(width: int = 7200, height: int = 5400) -> bytes:
    """The bundled photo scaled to ``width`` x ``height`` (38.9 Mpx, under the 40 Mpx limit), as JPEG."""
    buffer = io.BytesIO()
    Image.open(sample_image_path()).resize((width, height)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_rss(proc: psutil.Process) -> float:
    """Resident memory of the server and its worker processes, MiB."""
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


def raw_post(port: int, body: bytes, send: int, timeout: float) -> socket.socket:
    """A connection that has sent a POST /v1/landmarks declaring ``body`` and the first ``send`` bytes of it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    head = (
        f"POST /v1/landmarks HTTP/1.1\r\nHost: bench\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body[:send])
    return sock


def stalled(port: int, body: bytes, timeout: float) -> str:
    """Sends half of ``body`` and stalls; the answer's status, with "+closed" when the server closed the connection."""
    with raw_post(port, body, len(body) // 2, timeout) as sock:
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except TimeoutError:
            return f"{reply[9:12].decode() or 'no answer'} (left open)"
    return f"{reply[9:12].decode()}+closed"


def left(port: int, body: bytes, after: float) -> str:
    """Sends ``body`` and closes the connection ``after`` seconds later without reading the answer."""
    with raw_post(port, body, len(body), 30):
        time.sleep(after)
    return "left"


def request(
    kind: str, http: httpx.Client, port: int, photo: tuple[str, bytes], big: bytes, body_timeout: float
) -> tuple[str, int]:
    """One request of ``kind``; returns what came back and the number of faces found."""
    if kind == "stalled":
        return stalled(port, photo[1], body_timeout + 30), 0
    if kind == "leave":
        return left(port, big, 0.3), 0
    url = f"http://127.0.0.1:{port}/v1/landmarks"
    r = http.post(url, files={"file": photo}) if kind == "normal" else http.post(url, content=big)
    if r.status_code == 503:  # the reason: "busy" (no slot in time) or "processing took longer than ..."
        reason = r.json()["error"].split()[0].rstrip(":") if "retry-after" in r.headers else "no Retry-After"
        return f"503 {reason}", 0
    return str(r.status_code), len(r.json()["faces"]) if r.status_code == 200 else 0


def start_server(args: argparse.Namespace, log: IO[str]) -> tuple[subprocess.Popen, int]:
    """`facepoints serve` on a free port, its log going to ``log``, once /healthz answers."""
    port = free_port()
    command = [sys.executable, "-m", "facepoints", "serve", "--port", str(port), "--workers", str(args.workers),
               "--timeout", str(args.timeout), "--body-timeout", str(args.body_timeout),
               "--queue-timeout", str(args.queue_timeout)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server, port
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the server did not become ready within a minute")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--stalled", type=float, default=0.05, help="fraction of stalled uploads")
    parser.add_argument("--slow", type=float, default=0.02, help="fraction of 39-Mpx photos past --timeout")
    parser.add_argument("--leave", type=float, default=0.02, help="fraction of clients that leave early")
    parser.add_argument("--timeout", type=float, default=3.0, help="the server's --timeout")
    parser.add_argument("--body-timeout", type=float, default=2.0, help="the server's --body-timeout")
    parser.add_argument("--queue-timeout", type=float, default=5.0, help="the server's --queue-timeout")
    args = parser.parse_args()

    counts = {k: round(args.requests * getattr(args, k)) for k in ("stalled", "slow", "leave")}
    kinds = [k for k, n in counts.items() for _ in range(n)]
    kinds += ["normal"] * (args.requests - len(kinds))
    random.Random(0).shuffle(kinds)
    images, big = photos(), big_photo()
    answers: dict[str, Counter] = defaultdict(Counter)
    latencies: dict[str, list[float]] = defaultdict(list)
    faces = [0]
    counter = iter(range(args.requests))
    lock = threading.Lock()
    done = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while (i := next(counter, None)) is not None:
                t0 = time.perf_counter()
                try:
                    answer, n = request(kinds[i], http, port, images[i % len(images)], big, args.body_timeout)
                except (httpx.HTTPError, OSError, ValueError) as exc:
                    answer, n = type(exc).__name__, 0
                with lock:
                    answers[kinds[i]][answer] += 1
                    latencies[kinds[i]].append(time.perf_counter() - t0)
                    faces[0] += n

    def sample_memory() -> None:
        while not done.wait(0.1):
            memory["peak"] = max(memory["peak"], server_rss(proc))

    with tempfile.TemporaryFile("w+") as log:
        server, port = start_server(args, log)
        url = f"http://127.0.0.1:{port}"
        proc = psutil.Process(server.pid)
        memory = {"start": server_rss(proc)}
        memory["peak"] = memory["start"]
        threading.Thread(target=sample_memory, daemon=True).start()
        start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        t0 = time.perf_counter()
        while (slots := httpx.get(f"{url}/healthz", timeout=5).json()["slots"])["free"] != slots["total"]:
            if time.perf_counter() - t0 > 60:
                break
            time.sleep(0.1)
        slots_back = time.perf_counter() - t0
        after = httpx.post(f"{url}/v1/landmarks", files={"file": images[0]}, timeout=60).status_code
        done.set()
        memory["end"] = server_rss(proc)
        server.terminate()
        server.wait(10)
        log.seek(0)
        logged = Counter(json.loads(line)["status"] for line in log if line.startswith('{"method"'))

    setup = f"{args.requests} requests, {args.clients} clients, {args.workers} worker(s), {len(images)} photos"
    limits = f"--timeout {args.timeout:g} --body-timeout {args.body_timeout:g} --queue-timeout {args.queue_timeout:g}"
    print(f"\n{setup}, {os.cpu_count()} CPUs; server {limits}\n")
    rows = []
    for kind in ("normal", "stalled", "slow", "leave"):
        if latencies[kind]:
            lat = np.array(latencies[kind]) * 1000
            shown = ", ".join(f"{a}: {n}" for a, n in sorted(answers[kind].items()))
            rows.append([kind, len(lat), shown, *(f"{v:.0f}" for v in np.percentile(lat, [50, 95, 100]))])
    table(["kind", "requests", "answers", "p50 ms", "p95 ms", "max ms"], rows)
    expected = {"normal": {"200"}, "stalled": {"408+closed"}, "slow": {"503 processing"}, "leave": {"left"}}
    unexpected = sum(n for kind, c in answers.items() for a, n in c.items() if a not in expected[kind])
    server_5xx = (
        sum(n for status, n in logged.items() if status >= 500) - answers["slow"]["503 processing"]
    )  # but deliberate ones
    statuses = ", ".join(f"{k}: {n}" for k, n in sorted(logged.items()))
    print()
    table(
        ["req/s", "faces/s", "statuses the server logged", "5xx but the deliberate timeouts", "unexpected answers",
         "server MiB start / peak / end", "slots all free again after", "a request after the load"],
        [[f"{args.requests / wall:.1f}", f"{faces[0] / wall:.1f}", statuses, server_5xx, unexpected,
          f"{memory['start']:.0f} / {memory['peak']:.0f} / {memory['end']:.0f}", f"{slots_back:.1f} s", after]],
    )  # fmt: skip


def table(header: list[str], rows: list[list]) -> None:
    """Print a markdown table."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
