"""``facepoints serve``: the HTTP service and web page (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict

from facepoints.serving.config import ServiceConfig

ENV = "FACEPOINTS_SERVICE_CONFIG"  # how worker processes receive the settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve landmarks over HTTP with a web page at /")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes (each loads the models once)")
    p.add_argument("--model", help="landmark model: bundled default or fast, or a checkpoint path")
    d = ServiceConfig()
    p.add_argument("--max-bytes", type=int, default=d.max_bytes, help="largest request body (413 above)")
    p.add_argument("--max-pixels", type=int, default=d.max_pixels, help="largest image in pixels (413 above)")
    p.add_argument("--timeout", type=float, default=d.timeout, help="seconds of processing per request (503 above)")
    p.add_argument("--concurrency", type=int, default=d.concurrency, help="images processed at once per worker")
    p.add_argument("--queue-timeout", type=float, default=d.queue_timeout, help="seconds to wait for a free slot (503)")
    p.add_argument("--body-timeout", type=float, default=d.body_timeout, help="seconds to receive a request body (408)")
    p.add_argument("--keep-alive", type=float, default=d.keep_alive, help="seconds an idle connection stays open")
    p.add_argument("--max-connections", type=int, default=d.max_connections, help="open connections per worker (503)")
    p.set_defaults(func=run)


def app_from_env():
    """Build the app from the settings ``facepoints serve`` put in the environment."""
    from facepoints.serving.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # worker processes start with no logging set up
    return create_app(ServiceConfig(**json.loads(os.environ.get(ENV, "{}"))))


def run(args: argparse.Namespace) -> int:
    """Check that the models load (exit 1 with the reason if not), then serve until interrupted."""
    import uvicorn

    from facepoints.serving.app import Landmarkers, ModelLoadError

    config = ServiceConfig(
        model=args.model,
        max_bytes=args.max_bytes,
        max_pixels=args.max_pixels,
        timeout=args.timeout,
        concurrency=args.concurrency,
        queue_timeout=args.queue_timeout,
        body_timeout=args.body_timeout,
        keep_alive=args.keep_alive,
        max_connections=args.max_connections,
    )
    try:  # before uvicorn: a worker failing its start-up gives a traceback, and with --workers > 1 exit status 0
        Landmarkers(config).load()
    except ModelLoadError as exc:
        print(f"facepoints: error: {exc}", file=sys.stderr)
        return 1
    os.environ[ENV] = json.dumps(asdict(config))
    uvicorn.run(
        "facepoints.cli.serve:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        **config.uvicorn_options(),
    )
    return 0
