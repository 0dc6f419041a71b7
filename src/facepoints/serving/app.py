"""The HTTP service: landmarks and filters over HTTP, a web page, hardened against bad input.

Routes: ``POST /v1/landmarks`` (JSON as ``facepoints detect --json``), ``POST /v1/filter``
(PNG), ``GET /healthz``, ``GET /v1/models``, ``GET /openapi.json`` and the web page at ``/``.
An image comes as a multipart ``file`` field or as the raw request body.

Hardening: bodies over ``max_bytes`` get 413 (checked on Content-Length and again while
reading), images over ``max_pixels`` get 413 before they are decoded (decompression bombs),
data that is not an image gets 415, and a request that takes longer than ``timeout`` seconds
gets 503. Decoding and detection run in a small thread pool (``concurrency`` at a time), never on the
event loop, so ``/healthz`` answers while images are processed. Nothing from a request is
written to disk, and no request names a file the server reads: filters are built-ins only.
Each request logs one JSON line (method, path, status, bytes, faces, ms).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from facepoints import __version__
from facepoints.apps import filter_faces
from facepoints.apps.filters import list_filters
from facepoints.detection import list_detectors
from facepoints.files import ImageResult
from facepoints.imageio import ImageReadError, ImageTooLargeError, decode_image, encode_image
from facepoints.landmarker import BUNDLED_MODELS, FaceLandmarker
from facepoints.serving.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]

log = logging.getLogger("facepoints.serving")


class HTTPProblem(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, f"request body of {int(declared)} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _image_bytes(request: Request, limit: int) -> tuple[bytes, str]:
    """The uploaded image and a name for it, from a multipart ``file`` field or the raw body."""
    body = await _read_body(request, limit)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        from starlette.datastructures import Headers
        from starlette.formparsers import MultiPartParser

        async def replay():  # the body is already read (and size-checked): parse it from memory
            yield body
            yield b""

        parser = MultiPartParser(Headers(raw=request.headers.raw), replay(), max_part_size=limit)
        parser.spool_max_size = limit  # file parts stay in memory (starlette spools over 1 MB to disk)
        try:
            form = await parser.parse()
        except Exception as exc:  # malformed multipart
            raise HTTPProblem(422, f"cannot parse the multipart form ({exc})") from None
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPProblem(422, "multipart form has no 'file' field with an image")
            return await upload.read(), upload.filename or "upload"
        finally:
            await form.close()
    if not body:
        raise HTTPProblem(422, "empty request: send an image as the body or as a multipart 'file' field")
    return body, "upload"


def _decode(data: bytes, max_pixels: int) -> np.ndarray:
    """The image as RGB; its header is checked against ``max_pixels`` before any pixel is decoded."""
    try:
        return decode_image(data, max_pixels)
    except ImageTooLargeError as exc:
        raise HTTPProblem(413, str(exc)) from None
    except ImageReadError as exc:
        raise HTTPProblem(415, f"the data is not an image facepoints can read (send JPEG, PNG, WebP, BMP, TIFF or GIF): {exc}") from None


def create_app(config: ServiceConfig | None = None) -> FastAPI:
    """A FastAPI application; the landmark model loads once, on first use, per process."""
    config = config or ServiceConfig()
    app = FastAPI(title="facepoints", version=__version__, description="Faces and 68 landmarks over HTTP.")
    limiter = anyio.CapacityLimiter(config.concurrency)

    @cache
    def landmarker(detector: str | None) -> FaceLandmarker:
        return FaceLandmarker(detector, config.model, threads=1)

    async def run(fn: Callable[[], Any]) -> Any:
        try:
            return await asyncio.wait_for(anyio.to_thread.run_sync(fn, limiter=limiter), config.timeout)
        except TimeoutError:
            raise HTTPProblem(503, f"processing took longer than {config.timeout:g} s") from None

    def check_detector(detector: str | None) -> None:
        if detector is not None and detector not in list_detectors():
            raise HTTPProblem(422, f"unknown detector {detector!r}; choose from {', '.join(list_detectors())}")

    @app.exception_handler(HTTPProblem)
    async def problem(request: Request, exc: HTTPProblem) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.middleware("http")
    async def access_log(request: Request, call_next):
        start = time.perf_counter()
        request.state.faces = None
        try:
            response = await call_next(request)
        except Exception:
            log.exception("unhandled error")
            response = JSONResponse({"error": "internal error"}, status_code=500)
        record = {
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "bytes": int(request.headers.get("content-length") or 0),
            "faces": request.state.faces,
            "ms": round(1000 * (time.perf_counter() - start), 1),
        }
        log.info(json.dumps(record))
        return response

    @app.get("/healthz")
    async def healthz() -> dict:
        """Liveness: answers while images are being processed."""
        return {"status": "ok", "version": __version__}

    @app.get("/v1/models")
    async def models() -> dict:
        """Bundled landmark models, face detectors and filters this service offers."""
        return {
            "models": sorted(BUNDLED_MODELS),
            "default_model": config.model or "default",
            "detectors": list_detectors(),
            "filters": list_filters(),
            "limits": {"max_bytes": config.max_bytes, "max_pixels": config.max_pixels, "timeout_s": config.timeout},
        }

    @app.post(
        "/v1/landmarks",
        openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}, "image/*": {"schema": {"type": "string", "format": "binary"}}}}},
    )  # fmt: skip
    async def landmarks(
        request: Request,
        detector: str | None = Query(None, description="face detector (default: best available)"),
        pose: bool = Query(False, description="add yaw, pitch, roll"),
        eyes: bool = Query(False, description="add eye and mouth state"),
        expression: bool = Query(False, description="add expression measures"),
    ) -> dict:
        """Faces and 68 landmarks in the uploaded image (multipart ``file`` or raw body)."""
        check_detector(detector)
        data, name = await _image_bytes(request, config.max_bytes)

        def work() -> tuple[np.ndarray, list]:
            image = _decode(data, config.max_pixels)
            return image, landmarker(detector).detect(image, pose=pose, eyes=eyes, expression=expression)

        image, faces = await run(work)
        request.state.faces = len(faces)
        return ImageResult(name, image.shape[1], image.shape[0], faces).to_dict()

    @app.post(
        "/v1/filter",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}},
        openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}, "image/*": {"schema": {"type": "string", "format": "binary"}}}}},
    )  # fmt: skip
    async def filter_image(
        request: Request,
        overlay: str = Query(..., description="sunglasses, moustache, hat, blur or pixelate"),
        detector: str | None = Query(None),
    ) -> Response:
        """The uploaded image with a filter on every face, as PNG."""
        if overlay not in list_filters():
            raise HTTPProblem(422, f"unknown filter {overlay!r}; choose from {', '.join(list_filters())}")
        check_detector(detector)
        data, _ = await _image_bytes(request, config.max_bytes)

        def work() -> tuple[bytes, int]:
            image = _decode(data, config.max_pixels)
            out, faces = filter_faces(image, overlay, landmarker=landmarker(detector))
            return encode_image(out, "PNG"), len(faces)

        png, count = await run(work)
        request.state.faces = count
        return Response(png, media_type="image/png", headers={"X-Faces": str(count)})

    static = resources.files("facepoints.serving").joinpath("static")
    app.mount("/", StaticFiles(directory=str(static), html=True), name="web")
    return app
