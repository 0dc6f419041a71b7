"""The HTTP service: routes, hardening (size, bombs, non-images, timeout, event loop), the web page."""

from __future__ import annotations

import io
import json
import logging
import shutil
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from conftest import ASSETS, needs_shared
from fastapi.testclient import TestClient
from PIL import Image

import facepoints.serving.app as app_module
from facepoints.landmarker import FaceLandmarker, sample_image_path
from facepoints.serving import ServiceConfig, create_app

SAMPLE = sample_image_path().read_bytes()


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ServiceConfig(max_bytes=2_000_000, max_pixels=5_000_000))) as c:
        yield c


def png_header_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_landmarks_multipart_and_raw_body(client):
    r = client.post("/v1/landmarks", files={"file": ("astronaut.jpg", SAMPLE, "image/jpeg")})
    assert r.status_code == 200
    doc = r.json()
    assert doc["image"] == "astronaut.jpg" and (doc["width"], doc["height"]) == (512, 512)
    (face,) = doc["faces"]
    assert len(face["points"]) == 68 and face["layout"] == "ibug68" and "pose" not in face
    r = client.post("/v1/landmarks?pose=true&eyes=true&expression=true", content=SAMPLE, headers={"content-type": "image/jpeg"})
    face = r.json()["faces"][0]
    assert {"pose", "eyes", "expression"} <= set(face)
    assert client.post("/v1/landmarks?detector=haar", content=SAMPLE).json()["faces"]
    assert client.post("/v1/landmarks?detector=nope", content=SAMPLE).status_code == 422


def test_no_face_is_an_empty_list(client):
    buffer = io.BytesIO()
    Image.fromarray(np.full((200, 300, 3), 120, np.uint8)).save(buffer, format="PNG")
    r = client.post("/v1/landmarks", content=buffer.getvalue())
    assert r.status_code == 200 and r.json()["faces"] == []


def test_filter_returns_png(client):
    r = client.post("/v1/filter?overlay=sunglasses", files={"file": ("a.jpg", SAMPLE)})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.headers["x-faces"] == "1"
    image = np.asarray(Image.open(io.BytesIO(r.content)))
    assert image.shape == (512, 512, 3)
    assert client.post("/v1/filter?overlay=/etc/passwd", content=SAMPLE).status_code == 422  # no paths from clients
    assert client.post("/v1/filter", content=SAMPLE).status_code == 422


def test_health_models_openapi_and_page(client):
    assert client.get("/healthz").json()["status"] == "ok"
    models = client.get("/v1/models").json()
    assert "default" in models["models"] and "sunglasses" in models["filters"] and models["detectors"]
    spec = client.get("/openapi.json").json()
    assert {"/v1/landmarks", "/v1/filter", "/healthz", "/v1/models"} <= set(spec["paths"])
    page = client.get("/")
    assert page.status_code == 200 and "facepoints" in page.text and "app.js" in page.text
    assert client.get("/app.js").status_code == 200


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
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json" and r.json()["error"]


def test_multipart_without_file_and_oversized_multipart(client):
    r = client.post("/v1/landmarks", files={"other": ("a.txt", b"abc")})
    assert r.status_code == 422 and "file" in r.json()["error"]
    r = client.post("/v1/landmarks", files={"file": ("big.png", b"0" * 2_500_000)})
    assert r.status_code == 413


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


class SlowLandmarker(FaceLandmarker):
    def detect(self, image, **kwargs):
        time.sleep(1.5)
        return super().detect(image, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app) -> Iterator[str]:
    """A real uvicorn server for ``app`` on a free loopback port; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 10 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture(scope="module")
def live_server():
    """A real uvicorn server on loopback whose detection takes 1.5 s, with a 5 s request timeout."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(app_module, "FaceLandmarker", SlowLandmarker)  # the app builds its landmarker on the first request
        with running(create_app(ServiceConfig(timeout=5.0))) as url:
            yield url


def test_healthz_answers_while_images_are_processed(live_server):
    results = {}

    def slow():
        results["slow"] = httpx.post(f"{live_server}/v1/landmarks", content=SAMPLE, timeout=30).status_code

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    assert httpx.get(f"{live_server}/healthz", timeout=5).status_code == 200
    assert time.perf_counter() - t0 < 0.5  # not queued behind the 1.5 s detection
    worker.join()
    assert results["slow"] == 200


def test_request_timeout(monkeypatch):
    monkeypatch.setattr(app_module, "FaceLandmarker", SlowLandmarker)
    with TestClient(create_app(ServiceConfig(timeout=0.5))) as c:
        r = c.post("/v1/landmarks", content=SAMPLE)
    assert r.status_code == 503 and "longer" in r.json()["error"]


@needs_shared
def test_obamas_give_two_faces(client):
    r = client.post("/v1/landmarks", files={"file": ("obamas.jpg", (ASSETS / "obamas.jpg").read_bytes())})
    assert len(r.json()["faces"]) == 2


# ----------------------------------------------------------------------------- the page in a browser

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


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
            WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "canvas").get_attribute("data-drawn") is not None)
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
