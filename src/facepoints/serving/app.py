"""The HTTP service: landmarks and filters over HTTP, a web page, hardened against bad input and abuse.

Routes: ``POST /v1/landmarks`` (JSON in the versioned output schema), ``POST /v1/filter`` (PNG),
``GET /healthz`` (readiness), ``GET /v1/models``, ``GET /openapi.json``, ``GET /docs`` (Swagger UI
served from the installed package, so it works offline) and the web page at ``/``. An image comes as
a multipart ``file`` field or as the raw request body.

Limits (``ServiceConfig``): bodies over ``max_bytes`` get 413, images over ``max_pixels`` 413 before
they are decoded, a body that does not arrive within ``body_timeout`` 408 with the connection closed,
data that is not an image 415, an image the detector fails on 422. Decoding and detection run in a
``WorkPool`` of ``concurrency`` threads, never on the event loop: a request waits at most
``queue_timeout`` for a slot (503 with Retry-After after), and its work at most ``timeout`` (503);
abandoned work keeps its slot until its thread ends. The models load at start-up, so a model that
cannot load stops the service before it answers. Every error is ``{"error": message}``; every
response carries security headers; each request logs one JSON line (a client that disconnects is
logged with status 499, without a traceback). Nothing from a request is written to disk, and no
request names a file the server reads: models and filters are built-ins only.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TypeVar

import anyio
import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartParser
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facepoints import __version__
from facepoints.apps.filters import list_filters, make_filter
from facepoints.detection import DEFAULT_DETECTOR, list_detectors
from facepoints.files import ImageResult
from facepoints.imageio import ImageReadError, ImageTooLargeError, decode_image, encode_image, load_image
from facepoints.landmarker import BUNDLED_MODELS, Face, FaceLandmarker, resolve_model_path, sample_image_path
from facepoints.serving.config import ServiceConfig
from facepoints.serving.work import CancelToken, ClientGone, NoSlot, WorkPool, WorkTimeout

__all__ = ["Landmarkers", "ModelLoadError", "ServiceConfig", "create_app"]

log = logging.getLogger("facepoints.serving")
T = TypeVar("T")

#: Security headers on every response. The page at / and its script are same-origin files, so the
#: policy allows nothing else; /docs needs Swagger UI's inline start-up script and styles.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
DOCS_CSP = CSP + "; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"
DOCS_URL = "/docs"
OBJECT_REPR = re.compile(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>")  # e.g. <_io.BytesIO object at 0x7f...>


class ModelLoadError(RuntimeError):
    """A landmark model the service offers cannot be loaded or run."""


def _public(message: str) -> str:
    """An error message fit for a client: object reprs (memory addresses) removed."""
    return OBJECT_REPR.sub("", message)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": _public(message)}, status_code=status, headers=headers)


class Landmarkers:
    """The landmarkers a service process uses, one per (detector, model file), each built once.

    ``model`` in a request is a bundled name only (never a path); ``None`` is the service's model."""

    def __init__(self, config: ServiceConfig) -> None:
        self.default = config.model or "default"
        self._built: dict[tuple[str, str], FaceLandmarker] = {}
        self._lock = threading.Lock()  # held while one is built, so concurrent requests never load a model twice

    def offered(self) -> list[str]:
        """Model names a request may give."""
        return sorted(BUNDLED_MODELS)

    def get(self, detector: str | None, model: str | None) -> FaceLandmarker:
        key = (detector or DEFAULT_DETECTOR, str(resolve_model_path(model or self.default)))
        with self._lock:
            if key not in self._built:
                self._built[key] = FaceLandmarker(key[0], key[1], threads=1)
            return self._built[key]

    def load(self) -> None:
        """Load every offered model with the default detector and run it once on the bundled photo,
        so that readiness means the service can answer; raises :class:`ModelLoadError`."""
        sample = load_image(sample_image_path())
        files: dict[Path, str] = {}
        for name in [self.default, *self.offered()]:
            files.setdefault(resolve_model_path(name), name)  # aliases of one file once
        for name in files.values():
            try:
                landmarker = self.get(None, name)
                landmarker.landmarks([sample], [landmarker.find_faces(sample)])
            except Exception as exc:
                raise ModelLoadError(f"cannot load the landmark model {name!r}: {exc}") from exc


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body, at most ``limit`` bytes (413), arriving within ``timeout`` seconds (408). Both answers
    close the connection, so the rest of the body is neither read nor waited for."""
    close = {"Connection": "close"}
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body of {int(declared)} bytes is over the limit of {limit} bytes", close)
    body = bytearray()
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise HTTPException(413, f"request body is over the limit of {limit} bytes", close)
    except TimeoutError:
        message = f"the request body did not arrive within {timeout:g} s ({len(body)} bytes received)"
        raise HTTPException(408, message, close) from None
    return bytes(body)


async def _image_bytes(request: Request, config: ServiceConfig) -> tuple[bytes, str]:
    """The uploaded image and a name for it, from a multipart ``file`` field or the raw body."""
    body = await _read_body(request, config.max_bytes, config.body_timeout)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):

        async def replay():  # the body is already read (and size-checked): parse it from memory
            yield body
            yield b""

        parser = MultiPartParser(Headers(raw=request.headers.raw), replay(), max_part_size=config.max_bytes)
        parser.spool_max_size = config.max_bytes  # file parts stay in memory (starlette spools over 1 MB to disk)
        try:
            form = await parser.parse()
        except Exception as exc:  # malformed multipart
            raise HTTPException(422, f"cannot parse the multipart form ({exc})") from None
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "multipart form has no 'file' field with an image")
            return await upload.read(), upload.filename or "upload"
        finally:
            await form.close()
    if not body:
        raise HTTPException(422, "empty request: send an image as the body or as a multipart 'file' field")
    return body, "upload"


def _decode(data: bytes, max_pixels: int) -> np.ndarray:
    """The image as RGB; its header is checked against ``max_pixels`` before any pixel is decoded."""
    try:
        return decode_image(data, max_pixels)
    except ImageTooLargeError as exc:
        raise HTTPException(413, str(exc).removeprefix("<bytes>: ")) from None
    except MemoryError:
        raise
    except Exception as exc:  # ImageReadError, or anything else a decoder raises on these bytes
        reason = str(exc).removeprefix("<bytes>: ") if isinstance(exc, ImageReadError) else type(exc).__name__
        raise HTTPException(
            415, f"the data is not an image facepoints can read (send JPEG, PNG, WebP, BMP, TIFF or GIF): {reason}"
        ) from None


@contextmanager
def _image_fault(image: np.ndarray) -> Iterator[None]:
    """Exceptions inside come from this image (the models are loaded and checked at start-up): 422.
    Running out of memory is the server's fault and stays an error (500)."""
    try:
        yield
    except (HTTPException, MemoryError):
        raise
    except Exception as exc:
        height, width = image.shape[:2]
        log.warning("face finding failed on a %dx%d image", width, height, exc_info=True)
        raise HTTPException(
            422, f"cannot find faces in this image ({width}x{height} pixels): {type(exc).__name__}"
        ) from None


def _faces(landmarker: FaceLandmarker, image: np.ndarray, token: CancelToken, **measures: bool) -> list[Face]:
    """Detection, then landmarks and measures, stopping between the two if the request was abandoned."""
    with _image_fault(image):
        found = landmarker.find_faces(image)
    token.check()
    with _image_fault(image):
        return landmarker.landmarks([image], [found], **measures)[0]


async def _disconnected(request: Request) -> None:
    """Returns once the client has closed the connection (called after the body has been read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


class Guard:
    """Outermost middleware: security headers on every response, one JSON log line per request, a
    client that disconnects logged as status 499 without a traceback, and any unhandled exception
    answered as 500 ``{"error": "internal error"}`` (its traceback goes to the log, not the client)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), None

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                headers["Content-Security-Policy"] = DOCS_CSP if scope["path"].endswith(DOCS_URL) else CSP
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except (ClientDisconnect, ClientGone):
            status = 499  # nobody to answer (nginx's code for it)
        except Exception:
            log.exception("internal error on %s %s", scope["method"], scope["path"])
            if status is None:
                await _error(500, "internal error")(scope, receive, send_with_headers)
            status = 500
        headers = Headers(scope=scope)
        record = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "bytes": int(headers.get("content-length") or 0),
            "faces": scope.get("state", {}).get("faces"),
            "ms": round(1000 * (time.perf_counter() - start), 1),
        }
        log.info(json.dumps(record))


def create_app(config: ServiceConfig | None = None) -> FastAPI:
    """A FastAPI application; its models load and are checked at start-up (lifespan), per process."""
    config = config or ServiceConfig()
    landmarkers = Landmarkers(config)
    retry_after = {"Retry-After": str(max(1, math.ceil(config.queue_timeout)))}
    overlays = cache(make_filter)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        landmarkers.load()  # before the first request is accepted; a model that cannot load stops the start
        app.state.pool = WorkPool(config.concurrency)
        try:
            yield
        finally:
            app.state.pool.close()

    app = FastAPIOffline(
        title="facepoints",
        version=__version__,
        description="Faces and 68 landmarks over HTTP.",
        lifespan=lifespan,
        docs_url=DOCS_URL,
        redoc_url=None,
    )
    app.add_middleware(Guard)

    @app.exception_handler(StarletteHTTPException)  # also Starlette's own: 404, 405
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{e['loc'][0]} parameter {'.'.join(map(str, e['loc'][1:]))!r}: {e['msg']}" for e in exc.errors()]
        return _error(422, "; ".join(problems))

    async def process(request: Request, work: Callable[[CancelToken], T]) -> T:
        """``work`` in a processing slot; the limits become 503 answers (docs/serving.md)."""
        pool: WorkPool | None = getattr(request.app.state, "pool", None)
        if pool is None:
            raise HTTPException(503, "not ready: the models are not loaded", headers=retry_after)
        try:
            return await pool.run(work, config.queue_timeout, config.timeout, lambda: _disconnected(request))
        except NoSlot:
            raise HTTPException(
                503,
                f"busy: all {pool.size} processing slots stayed taken for {config.queue_timeout:g} s",
                headers=retry_after,
            ) from None
        except WorkTimeout:
            raise HTTPException(
                503, f"processing took longer than {config.timeout:g} s and was stopped", headers=retry_after
            ) from None

    def check_choices(detector: str | None, model: str | None) -> None:
        if detector is not None and detector not in list_detectors(available_only=True):
            raise HTTPException(
                422, f"unknown detector {detector!r}; choose from {', '.join(list_detectors(available_only=True))}"
            )
        if model is not None and model not in landmarkers.offered():
            raise HTTPException(422, f"unknown model {model!r}; choose from {', '.join(landmarkers.offered())}")

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        """Readiness: 200 once the models are loaded and checked (at start-up), with the free processing slots."""
        pool: WorkPool | None = getattr(request.app.state, "pool", None)
        if pool is None:
            return _error(503, "not ready: the models are not loaded")
        return JSONResponse({"status": "ok", "version": __version__, "slots": {"free": pool.free, "total": pool.size}})

    @app.get("/v1/models")
    async def models() -> dict:
        """Bundled landmark models, face detectors and filters this service offers, and its limits."""
        return {
            "models": landmarkers.offered(),
            "default_model": Path(landmarkers.default).name,
            "detectors": list_detectors(available_only=True),
            "filters": list_filters(),
            "limits": {
                "max_bytes": config.max_bytes,
                "max_pixels": config.max_pixels,
                "timeout_s": config.timeout,
                "concurrency": config.concurrency,
                "queue_timeout_s": config.queue_timeout,
                "body_timeout_s": config.body_timeout,
                "keep_alive_s": config.keep_alive,
                "max_connections": config.max_connections,
            },
        }

    binary = {"type": "string", "format": "binary"}
    image_body = {"requestBody": {"content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {"file": binary}}},
        "image/*": {"schema": binary},
    }}}  # fmt: skip
    detector_query = Query(None, description="face detector (default: the best available)")
    model_query = Query(None, description="landmark model: default or fast (default: the service's model)")

    @app.post("/v1/landmarks", openapi_extra=image_body)
    async def landmarks(
        request: Request,
        detector: str | None = detector_query,
        model: str | None = model_query,
        pose: bool = Query(False, description="add yaw, pitch, roll"),
        eyes: bool = Query(False, description="add eye and mouth state"),
        expression: bool = Query(False, description="add expression measures"),
    ) -> dict:
        """Faces and 68 landmarks in the uploaded image (multipart ``file`` or raw body)."""
        check_choices(detector, model)
        data, name = await _image_bytes(request, config)

        def work(token: CancelToken) -> dict:
            image = _decode(data, config.max_pixels)
            token.check()
            faces = _faces(landmarkers.get(detector, model), image, token, pose=pose, eyes=eyes, expression=expression)
            return ImageResult(name, image.shape[1], image.shape[0], faces).to_dict()

        record = await process(request, work)
        request.state.faces = len(record["faces"])
        return record

    @app.post(
        "/v1/filter", response_class=Response, responses={200: {"content": {"image/png": {}}}}, openapi_extra=image_body
    )
    async def filter_image(
        request: Request,
        overlay: str = Query(..., description="sunglasses, moustache, hat, blur or pixelate"),
        detector: str | None = detector_query,
        model: str | None = model_query,
    ) -> Response:
        """The uploaded image with a filter on every face, as PNG."""
        if overlay not in list_filters():
            raise HTTPException(422, f"unknown filter {overlay!r}; choose from {', '.join(list_filters())}")
        check_choices(detector, model)
        data, _ = await _image_bytes(request, config)

        def work(token: CancelToken) -> tuple[bytes, int]:
            image = _decode(data, config.max_pixels)
            token.check()
            faces = _faces(landmarkers.get(detector, model), image, token)
            token.check()
            with _image_fault(image):
                out = overlays(overlay)(image, [f.points for f in faces])
            return encode_image(out, "PNG"), len(faces)

        png, count = await process(request, work)
        request.state.faces = count
        return Response(png, media_type="image/png", headers={"X-Faces": str(count)})

    static = resources.files("facepoints.serving").joinpath("static")
    app.mount("/", StaticFiles(directory=str(static), html=True), name="web")
    return app
