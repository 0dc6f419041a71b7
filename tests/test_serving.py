"""The HTTP service: routes, error shape, security headers, offline docs, readiness, and its limits under
abuse (size, bombs, non-images, failing detection, stalled uploads, idle connections, the connection
cap, timeouts that keep their slot, client disconnects, a mixed load) against real uvicorn servers."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import httpx
import numpy as np
import psutil
import pytest
import uvicorn
from conftest import ASSETS, assert_valid_output, needs_shared
from fastapi.testclient import TestClient
from PIL import Image

import facepoints.serving.app as app_module
from facepoints.cli.main import main as cli_main
from facepoints.landmarker import FaceLandmarker, sample_image_path
from facepoints.serving import ServiceConfig, create_app
from facepoints.serving.app import ModelLoadError

SAMPLE = sample_image_path().read_bytes()  # 512x512, one face
HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ServiceConfig(max_bytes=2_000_000, max_pixels=5_000_000))) as c:
        yield c


def png(width: int, height: int, value: int = 120) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def assert_error(r: httpx.Response, status: int) -> str:
    """``r`` is ``status`` with the one error shape, a message free of object reprs; returns the message."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json" and list(r.json()) == ["error"]
    message = r.json()["error"]
    assert message and "0x" not in message and "object at" not in message
    return message


def test_landmarks_multipart_and_raw_body(client):
    r = client.post("/v1/landmarks", files={"file": ("astronaut.jpg", SAMPLE, "image/jpeg")})
    assert r.status_code == 200
    doc = r.json()
    assert_valid_output(doc)
    assert doc["image"] == "astronaut.jpg" and (doc["width"], doc["height"]) == (512, 512)
    (face,) = doc["faces"]
    assert len(face["points"]) == 68 and face["layout"] == "ibug68" and "pose" not in face
    r = client.post(
        "/v1/landmarks?pose=true&eyes=true&expression=true", content=SAMPLE, headers={"content-type": "image/jpeg"}
    )
    assert_valid_output(r.json())
    face = r.json()["faces"][0]
    assert {"pose", "eyes", "expression"} <= set(face)
    assert client.post("/v1/landmarks?detector=haar", content=SAMPLE).json()["faces"]
    assert_error(client.post("/v1/landmarks?detector=nope", content=SAMPLE), 422)


def test_model_query_is_honoured_or_refused(client):
    default = client.post("/v1/landmarks", content=SAMPLE).json()
    fast = client.post("/v1/landmarks?model=fast", content=SAMPLE).json()
    assert_valid_output(fast)
    (a,), (b,) = default["faces"], fast["faces"]
    assert a["box"] == b["box"] and a["points"] != b["points"]  # same detection, another landmark model
    assert client.post("/v1/landmarks?model=fpnet68-fast", content=SAMPLE).json()["faces"][0]["points"] == b["points"]
    assert client.post("/v1/filter?overlay=hat&model=fast", content=SAMPLE).status_code == 200
    for name in ("nope", "/etc/passwd", "../../model.pt"):  # names only: no request names a file
        assert "unknown model" in assert_error(client.post(f"/v1/landmarks?model={name}", content=SAMPLE), 422)


def test_no_face_is_an_empty_list(client):
    r = client.post("/v1/landmarks", content=png(300, 200))
    assert r.status_code == 200 and r.json()["faces"] == []
    assert_valid_output(r.json())


@pytest.mark.parametrize("size", [(3000, 1), (1, 3000), (1, 1)])
def test_degenerate_images_never_get_a_5xx(client, size):
    r = client.post("/v1/landmarks", content=png(*size))
    assert r.status_code == 200 or "cannot find faces" in assert_error(r, 422)


def test_filter_returns_png(client):
    r = client.post("/v1/filter?overlay=sunglasses", files={"file": ("a.jpg", SAMPLE)})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.headers["x-faces"] == "1"
    image = np.asarray(Image.open(io.BytesIO(r.content)))
    assert image.shape == (512, 512, 3)
    assert_error(client.post("/v1/filter?overlay=/etc/passwd", content=SAMPLE), 422)  # no paths from clients
    assert "overlay" in assert_error(client.post("/v1/filter", content=SAMPLE), 422)


def test_health_models_openapi_and_page(client):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["slots"] == {"free": 2, "total": 2}
    models = client.get("/v1/models").json()
    assert {"default", "fast"} <= set(models["models"]) and "sunglasses" in models["filters"] and models["detectors"]
    assert models["limits"]["max_bytes"] == 2_000_000 and models["limits"]["body_timeout_s"] == 30.0
    spec = client.get("/openapi.json").json()
    assert {"/v1/landmarks", "/v1/filter", "/healthz", "/v1/models"} <= set(spec["paths"])
    page = client.get("/")
    assert page.status_code == 200 and "facepoints" in page.text and "app.js" in page.text
    assert client.get("/app.js").status_code == 200


def test_docs_page_is_served_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and not [a for a in assets if not a.startswith("/")]  # nothing from a CDN
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 1000
    assert any(
        a.endswith(".js") and len(client.get(a).content) > 500_000 for a in assets
    )  # the whole Swagger UI bundle


@pytest.mark.parametrize("path", ["/", "/app.js", "/healthz", "/v1/models", "/nope", "/docs", "/openapi.json"])
def test_security_headers_on_every_response(client, path):
    r = client.get(path)
    assert {k: r.headers.get(k) for k in HEADERS} == HEADERS
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert ("'unsafe-inline'" in csp) == (path == "/docs")  # only Swagger UI's start-up script needs it


@pytest.mark.parametrize(
    "body, ctype, status",
    [
        (b"x" * 3_000_000, "image/png", 413),  # over the body limit
        (png_header_bomb(20000, 20000), "image/png", 413),  # 400 megapixels claimed by a 100-byte file
        (b"hello, this is text\n" * 10, "text/plain", 415),
        (SAMPLE[:300], "image/jpeg", 415),  # a truncated JPEG
        (b"", "image/jpeg", 422),
    ],
)
def test_bad_input_gets_a_clean_4xx_with_json(client, body, ctype, status):
    r = client.post("/v1/landmarks", content=body, headers={"content-type": ctype})
    assert_error(r, status)
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/nope", 404),
        ("DELETE", "/v1/landmarks", 405),
        ("POST", "/", 405),
        ("POST", "/v1/landmarks?pose=maybe", 422),  # FastAPI's validation
        ("POST", "/v1/filter", 422),  # a required parameter missing
    ],
)
def test_one_error_shape_for_routing_and_validation(client, method, path, status):
    message = assert_error(client.request(method, path, content=SAMPLE), status)
    assert "detail" not in message


def test_multipart_without_file_and_oversized_multipart(client):
    assert "file" in assert_error(client.post("/v1/landmarks", files={"other": ("a.txt", b"abc")}), 422)
    r = client.post("/v1/landmarks", files={"file": ("big.png", b"0" * 2_500_000)})
    assert_error(r, 413)
    assert r.headers["connection"] == "close"  # the rest of a body over the limit is not read


def test_requests_write_no_files(client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client.post("/v1/landmarks", files={"file": ("../../evil.jpg", SAMPLE)})
    client.post("/v1/filter?overlay=hat", files={"file": ("x/y.png", SAMPLE)})
    assert list(tmp_path.rglob("*")) == []


def test_one_log_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="facepoints.serving"):
        client.post("/v1/landmarks", content=SAMPLE)
    (record,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "facepoints.serving"]
    assert record["status"] == 200 and record["faces"] == 1 and record["bytes"] == len(SAMPLE) and record["ms"] > 0


@needs_shared
def test_obamas_give_two_faces(client):
    r = client.post("/v1/landmarks", files={"file": ("obamas.jpg", (ASSETS / "obamas.jpg").read_bytes())})
    assert len(r.json()["faces"]) == 2


# ----------------------------------------------------------------------------- readiness: models load at start-up


def test_a_corrupt_model_stops_the_start(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: pytest.fail("uvicorn started with a corrupt model"))
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint" * 100)
    with (
        pytest.raises(ModelLoadError, match="cannot load the landmark model"),
        TestClient(create_app(ServiceConfig(model=str(bad)))),
    ):
        pass
    assert cli_main(["serve", "--model", str(bad), "--port", "0"]) == 1  # before uvicorn starts
    assert "cannot load the landmark model" in capsys.readouterr().err


def test_not_ready_without_start_up():
    c = TestClient(create_app())  # no `with`: the start-up (lifespan) never ran, so no model is loaded
    assert "not ready" in assert_error(c.get("/healthz"), 503)
    assert "not ready" in assert_error(c.post("/v1/landmarks", content=SAMPLE), 503)


# ----------------------------------------------------------------------------- real servers under abuse


class Probe(FaceLandmarker):
    """A landmarker that counts what it builds and runs, sleeps or fails on chosen image widths (class-wide
    settings, set after a server has started: its start-up check runs on the 512-pixel bundled photo)."""

    delays: ClassVar[dict[int, float]] = {}  # image width -> seconds find_faces sleeps
    faults: ClassVar[dict[int, BaseException]] = {}  # image width -> exception find_faces raises
    built: ClassVar[list[tuple[str, str]]] = []  # (detector, model file) of each landmarker built
    running = peak = landmark_calls = 0
    lock = threading.Lock()

    def __init__(self, detector=None, model=None, **kwargs) -> None:
        super().__init__(detector, model, **kwargs)
        Probe.built.append((detector, model))

    @classmethod
    def reset(cls) -> None:
        cls.delays, cls.faults = {}, {}
        cls.running = cls.peak = cls.landmark_calls = 0

    def find_faces(self, image):
        with Probe.lock:
            Probe.running += 1
            Probe.peak = max(Probe.peak, Probe.running)
        try:
            if image.shape[1] in Probe.faults:
                raise Probe.faults[image.shape[1]]
            time.sleep(Probe.delays.get(image.shape[1], 0.0))
            return super().find_faces(image)
        finally:
            with Probe.lock:
                Probe.running -= 1

    def landmarks(self, *args, **kwargs):
        with Probe.lock:
            Probe.landmark_calls += 1
        return super().landmarks(*args, **kwargs)


@contextmanager
def running(app, config: ServiceConfig | None = None) -> Iterator[str]:
    """A real uvicorn server for ``app`` on a free loopback port (bound here, port 0); yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    options = (config or ServiceConfig()).uvicorn_options()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None, **options))  # logs reach caplog
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def probe_server(**settings) -> Iterator[str]:
    """A real server with the ``Probe`` landmarker and these ``ServiceConfig`` settings."""
    config = ServiceConfig(**settings)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(app_module, "FaceLandmarker", Probe)  # the app builds its landmarkers at start-up
        Probe.built = []
        with running(create_app(config), config) as url:
            Probe.reset()  # forget the start-up check's work
            yield url


@pytest.fixture(scope="module")
def abuse_server():
    """Processing limit 4 s, 2 slots waited for at most 0.5 s, bodies within 0.5 s, idle connections 0.5 s."""
    with probe_server(timeout=4.0, queue_timeout=0.5, body_timeout=0.5, keep_alive=0.5, max_connections=10) as url:
        yield url


@pytest.fixture
def probe(abuse_server):
    Probe.reset()
    yield Probe
    Probe.reset()


def free_slots(url: str) -> int:
    return httpx.get(f"{url}/healthz", timeout=5).json()["slots"]["free"]


def wait_all_slots_free(url: str, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while free_slots(url) != 2:
        assert time.monotonic() < deadline, "processing slots did not come back"
        time.sleep(0.05)


def raw_request(url: str, head: str, body: bytes = b"") -> socket.socket:
    """A loopback socket to the server at ``url`` that has sent ``head`` (CRLF line ends added) and ``body``."""
    sock = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a socket timeout fails the test)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def stalled_upload(url: str) -> tuple[float, bytes]:
    """Declares the whole photo, sends 1000 bytes of it and stalls; returns (seconds to the close, reply)."""
    start = time.monotonic()
    head = f"POST /v1/landmarks HTTP/1.1\nHost: test\nContent-Type: image/jpeg\nContent-Length: {len(SAMPLE)}"
    with raw_request(url, head, SAMPLE[:1000]) as sock:
        reply = read_until_closed(sock)
    return time.monotonic() - start, reply


def abandoned_request(url: str, after: float, body: bytes = SAMPLE) -> None:
    """Sends a whole request and closes the connection ``after`` seconds, without reading the answer."""
    head = f"POST /v1/landmarks HTTP/1.1\nHost: test\nContent-Type: image/png\nContent-Length: {len(body)}"
    with raw_request(url, head, body):
        time.sleep(after)


@contextmanager
def resident_memory() -> Iterator[dict[str, int]]:
    """This process's resident memory at the start and its peak (sampled every 20 ms) until the block ends."""
    process, stop = psutil.Process(), threading.Event()
    rss = {"start": process.memory_info().rss}
    rss["peak"] = rss["start"]

    def sample() -> None:
        while not stop.wait(0.02):
            rss["peak"] = max(rss["peak"], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield rss
    finally:
        stop.set()
        sampler.join()


def test_healthz_answers_while_images_are_processed(abuse_server, probe):
    probe.delays = {512: 0.6}
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(httpx.post, f"{abuse_server}/v1/landmarks", content=SAMPLE, timeout=30)
        time.sleep(0.3)
        t0 = time.perf_counter()
        assert httpx.get(f"{abuse_server}/healthz", timeout=5).json()["slots"]["free"] == 1
        assert time.perf_counter() - t0 < 0.5  # not queued behind the detection
        assert slow.result().status_code == 200


@pytest.mark.slow
def test_timed_out_work_keeps_its_slot_until_it_stops(abuse_server, probe):
    probe.delays = {512: 5.0}  # over the 4 s limit
    with ThreadPoolExecutor(6) as pool:
        replies = list(
            pool.map(lambda _: httpx.post(f"{abuse_server}/v1/landmarks", content=SAMPLE, timeout=30), range(6))
        )
        assert free_slots(abuse_server) == 0  # the 503s are sent, the two threads still run
    messages = sorted(assert_error(r, 503) for r in replies)
    assert all(r.headers["retry-after"] == "1" for r in replies)
    assert sum("longer than 4 s" in m for m in messages) == 2 and sum("busy" in m for m in messages) == 4
    assert probe.peak == 2  # never more work than slots, though 6 requests came and 2 timed out
    wait_all_slots_free(abuse_server)
    assert probe.landmark_calls == 0  # the timed-out work stopped after detection
    probe.delays = {}
    r = httpx.post(f"{abuse_server}/v1/landmarks", content=SAMPLE, timeout=30)
    assert r.status_code == 200 and len(r.json()["faces"]) == 1
    assert_valid_output(r.json())


def test_models_load_at_start_up_once_each(abuse_server, probe):
    at_start = list(probe.built)  # the service's model, then the other bundled one, with the default detector
    assert [(d, Path(m).name) for d, m in at_start] == [("yunet", "fpnet68.pt"), ("yunet", "fpnet68-fast.pt")]
    for query in ("model=fast", "model=fpnet68-fast", "model=default", "", "detector=haar", "detector=haar&model=fast"):
        assert httpx.post(f"{abuse_server}/v1/landmarks?{query}", content=SAMPLE, timeout=30).status_code == 200
    assert probe.built[2:] == [("haar", m) for _, m in at_start]  # another detector: built once, on first use


def test_a_failing_detection_is_the_images_fault_and_server_faults_stay_500(abuse_server, probe, caplog):
    probe.faults = {777: ValueError("odd <_io.BytesIO object at 0x7f0012345678>"), 778: MemoryError()}
    r = httpx.post(f"{abuse_server}/v1/landmarks", content=png(777, 100), timeout=30)
    assert assert_error(r, 422) == "cannot find faces in this image (777x100 pixels): ValueError"
    r = httpx.post(f"{abuse_server}/v1/filter?overlay=hat", content=png(778, 100), timeout=30)
    assert assert_error(r, 500) == "internal error" and r.headers["x-frame-options"] == "DENY"
    logged = [(r.levelname, r.exc_info[0]) for r in caplog.records if r.exc_info]  # each once, with its traceback
    assert logged == [("WARNING", ValueError), ("ERROR", MemoryError)]
    wait_all_slots_free(abuse_server)


def test_stalled_upload_gets_408_and_its_connection_closed(abuse_server, probe):
    seconds, reply = stalled_upload(abuse_server)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
    assert "did not arrive within 0.5 s (1000 bytes received)" in json.loads(body)["error"]
    assert 0.4 < seconds < 5  # closed by the server after the body timeout (read_until_closed saw the end)


def test_idle_keep_alive_connections_are_closed(abuse_server):
    start = time.monotonic()
    with raw_request(abuse_server, "GET /healthz HTTP/1.1\nHost: test") as sock:
        reply = read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 200") and reply.count(b"HTTP/1.1") == 1
    assert b"\r\nserver:" not in reply.lower()  # uvicorn does not name itself
    assert 0.4 < time.monotonic() - start < 5  # kept open for the 0.5 s keep-alive, then closed


def test_connections_over_the_cap_are_refused(abuse_server):
    idle = [socket.create_connection(("127.0.0.1", int(abuse_server.rsplit(":", 1)[1]))) for _ in range(10)]
    try:
        time.sleep(0.3)
        assert httpx.get(f"{abuse_server}/healthz", timeout=5).status_code == 503  # uvicorn's own answer
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(f"{abuse_server}/healthz", timeout=5).status_code == 200


def test_client_disconnects_are_logged_quietly_and_stop_the_work(abuse_server, probe, caplog):
    probe.delays = {512: 0.8}
    with caplog.at_level(logging.INFO):
        abandoned_request(abuse_server, after=0.2)  # leaves while its image is processed
        head = f"POST /v1/landmarks HTTP/1.1\nHost: test\nContent-Length: {len(SAMPLE)}"
        raw_request(abuse_server, head, SAMPLE[:1000]).close()  # leaves in the middle of its upload
        wait_all_slots_free(abuse_server)
        time.sleep(0.2)
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "facepoints.serving"]
    assert [r["status"] for r in records if r["path"] == "/v1/landmarks"] == [499, 499]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert probe.landmark_calls == 0  # the abandoned work stopped after detection


@pytest.mark.slow
def test_mixed_load_keeps_every_limit(caplog):
    """A small version of benchmarks/load.py: 40 requests from 8 clients, with stalled uploads, requests that
    run past the processing limit and clients that leave; no 5xx but the deliberate timeouts, no more work
    than slots, bounded memory, and every slot free afterwards."""
    slow, leaving = png(333, 333), png(334, 334)  # Probe sleeps 3 s (over the 2.5 s limit) and 1 s on them
    kinds = ["normal", "normal", "normal", "stalled", "normal", "normal", "normal", "slow", "normal", "left"]

    def one(i: int) -> tuple[str, int | None]:
        kind = kinds[i % len(kinds)]
        if kind == "stalled":
            return kind, int(stalled_upload(url)[1][9:12])
        if kind == "left":
            abandoned_request(url, 0.2, leaving)
            return kind, None
        r = httpx.post(f"{url}/v1/landmarks", content=slow if kind == "slow" else SAMPLE, timeout=30)
        if kind == "normal":
            assert_valid_output(r.json())
        else:
            assert "longer than 2.5 s" in assert_error(r, 503) and r.headers["retry-after"]
        return kind, r.status_code

    with caplog.at_level(logging.INFO), probe_server(timeout=2.5, queue_timeout=20, body_timeout=0.5) as url:
        Probe.delays = {333: 3.0, 334: 1.0}
        with resident_memory() as rss, ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(40)))
        wait_all_slots_free(url)
        after = httpx.post(f"{url}/v1/landmarks", content=SAMPLE, timeout=30)
    assert after.status_code == 200
    statuses = {kind: sorted({s for k, s in results if k == kind}, key=str) for kind in kinds}
    assert statuses == {"normal": [200], "stalled": [408], "slow": [503], "left": [None]}
    logged = [json.loads(r.getMessage())["status"] for r in caplog.records if r.name == "facepoints.serving"]
    assert 500 not in logged and logged.count(499) == 4 and logged.count(503) == 4
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert Probe.peak <= 2  # never more images in work than slots
    assert rss["peak"] - rss["start"] < 300 * 2**20


# ----------------------------------------------------------------------------- the page in a browser

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.slow
@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are not installed")
def test_web_page_in_headless_chromium(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    photo = ASSETS / "obamas.jpg" if (ASSETS / "obamas.jpg").is_file() else sample_image_path()
    expected = 2 if photo.name == "obamas.jpg" else 1
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    with running(create_app()) as url:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.set_window_size(1000, 900)
            driver.get(f"{url}/")
            driver.find_element(By.ID, "file").send_keys(str(Path(photo).resolve()))
            WebDriverWait(driver, 60).until(
                lambda d: d.find_element(By.ID, "canvas").get_attribute("data-drawn") is not None
            )
            assert driver.find_element(By.ID, "count").get_attribute("data-faces") == str(expected)
            assert driver.find_element(By.ID, "canvas").get_attribute("data-drawn") == str(expected)
            pixels = driver.execute_script(
                "const c = document.getElementById('canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] > 150 && d[i + 2] < 60) n++; return n;"
            )
            assert pixels > 50  # the orange-yellow jaw contours are drawn on the picture
            out = Path("test-output")
            out.mkdir(exist_ok=True)
            driver.save_screenshot(str(out / "web-page.png"))
            assert (out / "web-page.png").stat().st_size > 10_000
        finally:
            driver.quit()
