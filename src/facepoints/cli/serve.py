"""``facepoints serve``: the HTTP service and web page (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import asdict

from facepoints.serving.config import ServiceConfig

ENV = "FACEPOINTS_SERVICE_CONFIG"  # how worker processes receive the settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve landmarks over HTTP with a web page at /")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes (each loads the model once)")
    p.add_argument("--model", help="landmark model: bundled default or fast, or a checkpoint path")
    defaults = ServiceConfig()
    p.add_argument("--max-bytes", type=int, default=defaults.max_bytes, help="largest request body (413 above)")
    p.add_argument("--max-pixels", type=int, default=defaults.max_pixels, help="largest image in pixels (413 above)")
    p.add_argument("--timeout", type=float, default=defaults.timeout, help="seconds per request (503 above)")
    p.add_argument("--concurrency", type=int, default=defaults.concurrency, help="images processed at once per worker")
    p.set_defaults(func=run)


def app_from_env():
    """Build the app from the settings ``facepoints serve`` put in the environment."""
    from facepoints.serving.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # worker processes start with no logging set up
    return create_app(ServiceConfig(**json.loads(os.environ.get(ENV, "{}"))))


def run(args: argparse.Namespace) -> int:
    import uvicorn

    config = ServiceConfig(
        model=args.model, max_bytes=args.max_bytes, max_pixels=args.max_pixels, timeout=args.timeout, concurrency=args.concurrency
    )
    os.environ[ENV] = json.dumps(asdict(config))
    uvicorn.run("facepoints.cli.serve:app_from_env", factory=True, host=args.host, port=args.port, workers=args.workers, access_log=False)
    return 0
