"""The HTTP service and its web page (``facepoints serve``)."""

from facepoints.serving.app import ServiceConfig, create_app

__all__ = ["ServiceConfig", "create_app"]
