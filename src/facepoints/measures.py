"""Per-face measures by name: what ``detect(..., pose=True)`` and friends add to each face.

Applications sit above the landmarker: they are named here as ``"module:function"`` targets and
imported on first use, as insightface's FaceAnalysis finds its task models by name, so the
landmarker never imports them. A measure takes ``(points, image, layout)`` (the face's points in
image pixels, the RGB image, the layout's name) and returns an object with ``to_dict()``.
:func:`register_measure` adds one (a callable, or a target string).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Measure", "register_measure", "get_measure", "list_measures"]

Measure = Callable[[np.ndarray, np.ndarray, str], Any]

_MEASURES: dict[str, str | Measure] = {
    "pose": "facepoints.headpose:measure",
    "eyes": "facepoints.apps.eyes:measure",
    "expression": "facepoints.apps.expression:measure",
}


def register_measure(name: str, measure: str | Measure) -> None:
    """Add (or replace) the measure called ``name``: a callable or a ``"module:function"`` target."""
    _MEASURES[name] = measure


def list_measures() -> list[str]:
    return sorted(_MEASURES)


def get_measure(name: str) -> Measure:
    """The measure called ``name`` (its module is imported on first use)."""
    target = _MEASURES.get(name)
    if target is None:
        raise KeyError(f"unknown measure {name!r}; known: {', '.join(list_measures())}")
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = _MEASURES[name] = getattr(importlib.import_module(module), attr)
    return target
