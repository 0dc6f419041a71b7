"""The HTTP service and its web page (``facepoints serve``)."""

from facepoints.serving.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]


def __getattr__(name: str):
    """``create_app`` imports FastAPI only when asked for, not with every ``facepoints`` command."""
    if name == "create_app":
        from facepoints.serving.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
