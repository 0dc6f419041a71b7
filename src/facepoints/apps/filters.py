"""Face filters: overlays placed by the landmarks, and anonymization inside the face hull.

``apply_overlay`` maps an :class:`~facepoints.apps.overlays.Overlay` onto every face with the
similarity that takes its two anchors to their landmark positions (so it follows the face's
position, size and roll), warps it only over the region it covers (clipped at the image
borders) and alpha-blends it with premultiplied colours (no dark fringes). ``anonymize``
blurs or pixelates each face inside the convex hull of its landmarks, extended up to the
forehead, with a soft edge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import cv2
import numpy as np

from facepoints.apps.align import fit_similarity
from facepoints.apps.overlays import Overlay, get_overlay, list_overlays
from facepoints.layouts import Layout, get_layout
from facepoints.transforms.geometry import warp_image

__all__ = ["apply_overlay", "anonymize", "face_hull", "apply_filter", "make_filter", "list_filters", "FilterFn", "ANONYMIZERS"]

ANONYMIZERS = ("blur", "pixelate")

#: ``f(image, faces_points) -> image``: a filter made once by :func:`make_filter`
FilterFn = Callable[[np.ndarray, Sequence[np.ndarray]], np.ndarray]


def list_filters() -> list[str]:
    """Names of the built-in filters: overlays, then anonymizers."""
    return list_overlays() + list(ANONYMIZERS)


def _paste(image: np.ndarray, premul: np.ndarray, matrix: np.ndarray) -> None:
    """Alpha-blend premultiplied RGBA ``premul`` warped by the 2x3 ``matrix`` into ``image`` (in place)."""
    h, w = premul.shape[:2]
    corners = cv2.transform(np.array([[[0, 0]], [[w, 0]], [[0, h]], [[w, h]]], np.float64), matrix).reshape(-1, 2)
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, image.shape[1]), min(y1, image.shape[0])
    if x1 <= x0 or y1 <= y0:
        return  # entirely outside the picture
    shift = matrix.copy()
    shift[:, 2] -= (x0, y0)
    warped = warp_image(premul, shift, (x1 - x0, y1 - y0), fill=(0, 0, 0, 0))
    alpha = warped[..., 3:] / 255
    roi = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = np.clip(warped[..., :3] + roi * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)


def apply_overlay(
    image: np.ndarray, faces_points: Sequence[np.ndarray], overlay: Overlay, layout: str | Layout = "ibug68"
) -> np.ndarray:
    """A copy of ``image`` (RGB) with ``overlay`` placed on every face given by its points."""
    out = np.ascontiguousarray(image).copy()
    for points in faces_points:
        matrix = fit_similarity(overlay.anchors, overlay.target_points(points, layout))
        _paste(out, overlay.premultiplied, matrix)
    return out


def face_hull(points: np.ndarray, forehead: float = 0.45, layout: str | Layout = "ibug68") -> np.ndarray:
    """Convex hull (K, 2) of the points plus the brows lifted by ``forehead`` of the
    chin-to-brow distance (the landmarks stop at the brows; the forehead is part of the face),
    and the jaw's ends lifted by 0.6 of that."""
    lay = get_layout(layout)
    right_brow, left_brow, jaw = lay.require_anchors("right_eyebrow", "left_eyebrow", "jaw", purpose="the face hull")
    pts = np.asarray(points, dtype=np.float64)
    brows = pts[list(right_brow + left_brow)]
    up = (brows.mean(axis=0) - lay.anchor_point(pts, "chin")) * forehead
    extended = np.concatenate([pts, brows + up, pts[[jaw[0], jaw[-1]]] + up * 0.6])
    return cv2.convexHull(extended.astype(np.float32)).reshape(-1, 2)


def anonymize(
    image: np.ndarray,
    faces_points: Sequence[np.ndarray],
    method: str = "blur",
    strength: float = 1.0,
    layout: str | Layout = "ibug68",
) -> np.ndarray:
    """A copy of ``image`` with every face blurred or pixelated inside its hull."""
    if method not in ANONYMIZERS:
        raise ValueError(f"unknown anonymization {method!r}; choose from {', '.join(ANONYMIZERS)}")
    out = np.ascontiguousarray(image).copy()
    for points in faces_points:
        hull = face_hull(points, layout=layout)
        x0, y0 = np.floor(hull.min(axis=0)).astype(int)
        x1, y1 = np.ceil(hull.max(axis=0)).astype(int) + 1
        side = max(x1 - x0, y1 - y0)
        pad = max(2, side // 10)
        x0, y0 = max(x0 - pad, 0), max(y0 - pad, 0)
        x1, y1 = min(x1 + pad, out.shape[1]), min(y1 + pad, out.shape[0])
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        roi = out[y0:y1, x0:x1]
        if method == "blur":
            k = max(3, int(side * 0.25 * strength) | 1)
            hidden = cv2.GaussianBlur(roi, (k, k), 0)
        else:
            blocks = max(2, int(round(10 / max(strength, 1e-3))))
            cell = max(1, side // blocks)
            small = cv2.resize(roi, (max(1, roi.shape[1] // cell), max(1, roi.shape[0] // cell)), interpolation=cv2.INTER_AREA)
            hidden = cv2.resize(small, (roi.shape[1], roi.shape[0]), interpolation=cv2.INTER_NEAREST)
        mask = np.zeros(roi.shape[:2], np.float32)
        cv2.fillConvexPoly(mask, np.round(hull - (x0, y0)).astype(np.int32), 1.0, cv2.LINE_AA)
        soft = max(3, (side // 30) | 1)
        mask = cv2.GaussianBlur(mask, (soft, soft), 0)[..., None]
        out[y0:y1, x0:x1] = np.clip(hidden * mask + roi * (1 - mask) + 0.5, 0, 255).astype(np.uint8)
    return out


def make_filter(name: str, anchors: str | dict | None = None, layout: str | Layout = "ibug68") -> FilterFn:
    """A filter by name, ready to apply many times to faces of ``layout`` (``f(image, faces_points)
    -> image``): an anonymizer name, a built-in overlay name or an RGBA PNG path (with ``anchors``),
    read once."""
    if name in ANONYMIZERS:
        return partial(anonymize, method=name, layout=layout)
    overlay = get_overlay(name, anchors)
    return lambda image, faces_points: apply_overlay(image, faces_points, overlay, layout)


def apply_filter(
    image: np.ndarray,
    faces_points: Sequence[np.ndarray],
    name: str,
    anchors: str | dict | None = None,
    layout: str | Layout = "ibug68",
) -> np.ndarray:
    """Apply filter ``name`` once (see :func:`make_filter`)."""
    return make_filter(name, anchors, layout)(image, faces_points)
