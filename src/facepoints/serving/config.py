"""Settings of one service process, apart from the app so that the CLI can read their defaults
without importing FastAPI."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServiceConfig"]


@dataclass(frozen=True)
class ServiceConfig:
    """Limits and defaults of one service process."""

    model: str | None = None  # bundled name or checkpoint path (default: the bundled model)
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    timeout: float = 30.0  # seconds per request
    concurrency: int = 2  # images processed at once per worker process
