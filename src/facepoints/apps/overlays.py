"""RGBA overlays for face filters and the anchors that place them on landmarks.

An overlay is an RGBA picture plus two anchor points in its pixels and, for each anchor,
the landmark position it goes to. A landmark position is an affine combination of points,
written as text. Each term is a layout anchor (``"right_eye_centre"``: its position, see
:class:`facepoints.layouts.Layout`), one point of an anchor (``"jaw[0]"``) or a point index
of the layout (iBUG 68 by default): ``"left_eye"`` (mean of the left eye's outline),
``"36-41"`` (mean of points 36..41), ``"nose_base[0]+right_mouth_corner"`` (the mean of
two positions) or ``"jaw[0]*1+right_eyebrow[2]*0.7+chin*-0.7"`` (weights summing to 1; this
one lies above the jaw's end by 0.7 of the chin-to-brow vector). Targets are checked against
the iBUG 68 layout when the overlay is made. The two anchor pairs fix a similarity
(position, scale, rotation with the face's roll).

The built-in overlays (``sunglasses``, ``moustache``, ``hat``) are drawn here with OpenCV
primitives, so facepoints ships no third-party artwork. A user PNG comes with its anchors as
JSON, either next to it (``glasses.png`` + ``glasses.json``) or given directly::

    {"points": [[120, 80], [360, 80]], "targets": ["right_eye_centre", "left_eye_centre"]}
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import cv2
import numpy as np

from facepoints.imageio import ImageReadError
from facepoints.layouts import Layout, get_layout

__all__ = ["Overlay", "parse_position", "get_overlay", "list_overlays", "load_overlay", "premultiply", "BUILTIN_OVERLAYS"]

SUPERSAMPLE = 4  # built-ins are drawn this much larger, then area-averaged: smooth edges


_TERM = re.compile(r"(?P<index>\d+)|(?P<anchor>[a-z][a-z_]*)(?:\[(?P<k>\d+)\])?")


def _term_points(term: str, layout: Layout, text: str) -> tuple[int, ...]:
    """The point indices a term stands for (their mean is its position)."""
    m = _TERM.fullmatch(term)
    if m is None:
        examples = "'left_eye', '36-41', 'nose_base[0]+right_mouth_corner'"
        raise ValueError(f"cannot read landmark position {text!r} (examples: {examples})")
    if m["index"] is not None:
        index = int(m["index"])
        if not 0 <= index < layout.num_points:
            raise ValueError(f"landmark position {text!r}: indices must lie in 0..{layout.num_points - 1}")
        return (index,)
    (idx,) = layout.require_anchors(m["anchor"], purpose=f"landmark position {text!r}")
    if m["k"] is None:
        return idx
    if int(m["k"]) >= len(idx):
        raise ValueError(f"landmark position {text!r}: anchor {m['anchor']} has {len(idx)} points in {layout.name}")
    return (idx[int(m["k"])],)


def parse_position(text: str, layout: str | Layout = "ibug68") -> dict[int, float]:
    """A landmark position in text form -> {point index: weight} (see the module docstring)."""
    lay = get_layout(layout)
    text = str(text).replace(" ", "")
    if re.fullmatch(r"\d+-\d+", text):  # a range of point indices
        lo, hi = (int(v) for v in text.split("-"))
        terms = [(str(i), 1.0 / (hi - lo + 1)) for i in range(lo, hi + 1)]
    elif "*" in text:
        try:
            terms = [(term, float(weight)) for term, weight in (t.split("*") for t in text.split("+"))]
        except ValueError:
            example = "jaw[0]*1+right_eyebrow[2]*0.7+chin*-0.7"
            raise ValueError(f"cannot read landmark position {text!r} (example: {example!r})") from None
    else:
        parts = text.split("+")
        terms = [(term, 1.0 / len(parts)) for term in parts]
    weights: dict[int, float] = {}
    for term, weight in terms:
        idx = _term_points(term, lay, text)
        for i in idx:
            weights[i] = weights.get(i, 0.0) + weight / len(idx)
    if not weights or abs(sum(weights.values()) - 1) > 1e-6:
        raise ValueError(f"landmark position {text!r}: the weights must sum to 1")
    return weights


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """float32 RGBA with colour multiplied by alpha (so that resampling does not bleed colour
    from transparent pixels)."""
    out = rgba.astype(np.float32)
    out[..., :3] *= out[..., 3:] / 255
    return out


@dataclass
class Overlay:
    """An RGBA picture with two anchors (its pixels) and the landmark positions they go to."""

    name: str
    rgba: np.ndarray  # (H, W, 4) uint8
    anchors: np.ndarray  # (2, 2) overlay pixels
    targets: tuple[str, str]  # landmark positions, see parse_position

    def __post_init__(self) -> None:
        if self.rgba.ndim != 3 or self.rgba.shape[2] != 4:
            raise ValueError(f"overlay {self.name!r} must be RGBA (H, W, 4), got shape {self.rgba.shape}")
        self.anchors = np.asarray(self.anchors, dtype=np.float64).reshape(2, 2)
        if np.linalg.norm(self.anchors[1] - self.anchors[0]) < 1:
            raise ValueError(f"overlay {self.name!r}: its two anchor points must differ")
        for target in self.targets:
            parse_position(target)  # a bad target fails here, when the overlay is made

    @cached_property
    def premultiplied(self) -> np.ndarray:
        """float32 RGBA with colour multiplied by alpha (what blending and warping need)."""
        return premultiply(self.rgba)

    def target_points(self, points: np.ndarray, layout: str | Layout = "ibug68") -> np.ndarray:
        """Where the two anchors go on a face with these points (2, 2)."""
        pts = np.asarray(points, dtype=np.float64)
        positions = [parse_position(t, layout) for t in self.targets]
        return np.array([sum(w * pts[i] for i, w in weights.items()) for weights in positions])


def _anchor_doc(data: dict, source: str) -> tuple[np.ndarray, tuple[str, str]]:
    try:
        points = np.asarray(data["points"], dtype=np.float64)
        targets = tuple(str(t) for t in data["targets"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{source}: anchors need 'points' [[x, y], [x, y]] and 'targets' [pos, pos]") from None
    if points.shape != (2, 2) or len(targets) != 2:
        raise ValueError(f"{source}: anchors need exactly two points and two targets")
    return points, targets  # type: ignore[return-value]


def load_overlay(path: str | os.PathLike, anchors: str | dict | None = None) -> Overlay:
    """A user PNG with an alpha channel; ``anchors`` is JSON text, a JSON file or a dict
    (default: the JSON file next to the PNG)."""
    path = Path(path)
    rgba = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if rgba is None:
        raise ImageReadError(f"{path}: cannot read the overlay image")
    if rgba.dtype != np.uint8:
        rgba = (rgba / 257).astype(np.uint8) if rgba.dtype == np.uint16 else rgba.astype(np.uint8)
    if rgba.ndim == 2 or rgba.shape[2] != 4:
        raise ValueError(f"{path}: an overlay needs an alpha channel (RGBA PNG)")
    rgba = cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA)
    if anchors is None:
        side = path.with_suffix(".json")
        if not side.is_file():
            raise ValueError(f"{path}: no anchors given and no {side.name} next to it (see facepoints filter --help)")
        anchors = side.read_text()
        source = str(side)
    elif isinstance(anchors, str) and not anchors.lstrip().startswith("{"):
        source = anchors
        anchors = Path(anchors).read_text()
    else:
        source = "anchors"
    try:
        data = json.loads(anchors) if isinstance(anchors, str) else anchors
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not JSON ({exc})") from None
    points, targets = _anchor_doc(data, source)
    return Overlay(path.stem, rgba, points, targets)


# ----------------------------------------------------------------------------- built-ins


def _canvas(width: int, height: int) -> np.ndarray:
    return np.zeros((height * SUPERSAMPLE, width * SUPERSAMPLE, 4), np.uint8)


def _finish(canvas: np.ndarray) -> np.ndarray:
    h, w = canvas.shape[0] // SUPERSAMPLE, canvas.shape[1] // SUPERSAMPLE
    small = cv2.resize(premultiply(canvas), (w, h), interpolation=cv2.INTER_AREA)
    alpha = small[..., 3:]
    small[..., :3] = np.where(alpha > 0, small[..., :3] * 255 / np.maximum(alpha, 1e-6), 0)
    return np.clip(small + 0.5, 0, 255).astype(np.uint8)


def _pts(points: list[tuple[float, float]]) -> np.ndarray:
    return (np.asarray(points, dtype=np.float64) * SUPERSAMPLE).round().astype(np.int32)


def _sunglasses() -> Overlay:
    c = _canvas(660, 230)
    s = SUPERSAMPLE
    frame = (25, 25, 30, 255)
    for cx in (175, 485):
        cv2.ellipse(c, (cx * s, 115 * s), (135 * s, 98 * s), 0, 0, 360, (30, 35, 45, 225), -1, cv2.LINE_AA)
        cv2.ellipse(c, (cx * s, 115 * s), (135 * s, 98 * s), 0, 0, 360, frame, 13 * s, cv2.LINE_AA)
        glint = _pts([(cx - 90, 70), (cx - 62, 52), (cx - 22, 150), (cx - 50, 166)])
        cv2.fillPoly(c, [glint], (200, 210, 230, 70), cv2.LINE_AA)
    cv2.ellipse(c, (330 * s, 108 * s), (30 * s, 24 * s), 0, 200, 340, frame, 13 * s, cv2.LINE_AA)  # bridge
    for x0, x1 in ((42, 0), (618, 659)):
        cv2.line(c, (x0 * s, 78 * s), (x1 * s, 68 * s), frame, 13 * s, cv2.LINE_AA)  # arms
    return Overlay("sunglasses", _finish(c), [(175, 115), (485, 115)], ("right_eye_centre", "left_eye_centre"))


def _moustache() -> Overlay:
    c = _canvas(400, 140)
    half = [(200, 40), (165, 30), (120, 34), (80, 48), (45, 66), (22, 68), (8, 50), (4, 66), (18, 88),
            (50, 100), (95, 104), (140, 98), (175, 88), (200, 78)]  # fmt: skip
    left = _pts(half)
    right = _pts([(400 - x, y) for x, y in half])
    for poly in (left, right):
        cv2.fillPoly(c, [poly], (62, 40, 24, 255), cv2.LINE_AA)
    for i in range(14):  # a few darker strands
        x = 40 + i * 23
        cv2.line(c, _pts([(x, 50)])[0], _pts([(x + (8 if x < 200 else -8), 92)])[0], (40, 25, 15, 255), 2 * SUPERSAMPLE, cv2.LINE_AA)
    targets = ("nose_base[0]+right_mouth_corner", "nose_base[4]+left_mouth_corner")  # nose wing and mouth corner
    return Overlay("moustache", _finish(c), [(95, 70), (305, 70)], targets)


def _hat() -> Overlay:
    c = _canvas(600, 420)
    s = SUPERSAMPLE
    straw, dark, band = (222, 190, 120, 255), (170, 135, 75, 255), (150, 30, 35, 255)
    cv2.ellipse(c, (300 * s, 335 * s), (260 * s, 62 * s), 0, 0, 360, straw, -1, cv2.LINE_AA)  # brim
    cv2.ellipse(c, (300 * s, 335 * s), (260 * s, 62 * s), 0, 0, 360, dark, 3 * s, cv2.LINE_AA)
    crown = _pts([(160, 330), (175, 140), (215, 95), (300, 85), (385, 95), (425, 140), (440, 330)])
    cv2.fillPoly(c, [crown], straw, cv2.LINE_AA)
    cv2.polylines(c, [crown], False, dark, 3 * s, cv2.LINE_AA)
    for y in range(120, 330, 22):  # woven texture
        cv2.line(c, (175 * s, y * s), (425 * s, y * s), dark, s, cv2.LINE_AA)
    band_poly = _pts([(164, 285), (436, 285), (440, 330), (160, 330)])
    cv2.fillPoly(c, [band_poly], band, cv2.LINE_AA)
    # each end of the jaw lifted by 0.42 of the vector from the chin to the middle of the brow above it
    targets = ("jaw[0]*1+right_eyebrow[2]*0.42+chin*-0.42", "jaw[16]*1+left_eyebrow[2]*0.42+chin*-0.42")
    return Overlay("hat", _finish(c), [(160, 318), (440, 318)], targets)


BUILTIN_OVERLAYS: dict[str, Callable[[], Overlay]] = {"sunglasses": _sunglasses, "moustache": _moustache, "hat": _hat}


@cache
def _builtin(name: str) -> Overlay:
    """Built-ins are drawn once per process (drawing takes longer than placing)."""
    return BUILTIN_OVERLAYS[name]()


def list_overlays() -> list[str]:
    return sorted(BUILTIN_OVERLAYS)


def get_overlay(name_or_path: str, anchors: str | dict | None = None) -> Overlay:
    """A built-in overlay by name, or a user RGBA PNG with its anchors."""
    if name_or_path in BUILTIN_OVERLAYS and anchors is None:
        return _builtin(name_or_path)
    if not Path(name_or_path).is_file():
        raise ValueError(f"unknown overlay {name_or_path!r}: a built-in ({', '.join(list_overlays())}) or an RGBA PNG file")
    return load_overlay(name_or_path, anchors)
