"""Settings of one service process, apart from the app so that the CLI can read their defaults
without importing FastAPI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ServiceConfig"]


@dataclass(frozen=True)
class ServiceConfig:
    """Limits and defaults of one service process (docs/serving.md explains each limit)."""

    model: str | None = None  # bundled name or checkpoint path (default: the bundled model)
    max_bytes: int = 20 * 1024 * 1024  # largest request body (413 above)
    max_pixels: int = 40_000_000  # largest image (413 above, checked before decoding)
    timeout: float = 30.0  # seconds of processing per request (503 after; the slot stays taken until the work stops)
    concurrency: int = 2  # images processed at once per worker process (processing slots)
    queue_timeout: float = 5.0  # seconds a request waits for a free slot (503 with Retry-After after)
    body_timeout: float = 30.0  # seconds to receive a whole request body (408 and the connection closed after)
    keep_alive: float = 5.0  # seconds an idle keep-alive connection stays open
    max_connections: int = 32  # open connections per worker process (uvicorn answers 503 above)

    def uvicorn_options(self) -> dict[str, Any]:
        """The uvicorn settings that enforce the connection limits (keep-alive, connection cap)."""
        return {
            "timeout_keep_alive": self.keep_alive,
            "limit_concurrency": self.max_connections,
            "server_header": False,
        }
