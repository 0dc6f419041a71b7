"""Geometry below everything else: affine matrices between image and crop pixels, warping, point
boxes, box overlap and similarity fits. Pixel centres sit at integer coordinates, as in
``cv2.warpAffine``, so a point and the pixel under it move identically.

A face's *roll* is the image-coordinate angle in degrees (``atan2(dy, dx)``, y pointing down) of
the line from the subject's right eye to the subject's left eye: 0 for an upright face, +90 for
a face turned clockwise on screen by a quarter turn, 180 for an upside-down one. An *oriented
box* is an ``(x1, y1, x2, y2)`` box in the face's upright frame, turned by the roll about its
centre: with roll 0 it is a plain box.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "box_iou",
    "fit_similarity",
    "oriented_points_box",
    "points_box",
    "resize_matrix",
    "roll_from_parts",
    "snap_roll",
    "square_crop_matrix",
    "transform_points",
    "upright_matrix",
    "warp_image",
]  # fmt: skip


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3x3 (or 2x3) affine matrix to Nx2 points."""
    m = np.asarray(matrix, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return (pts @ m[:2, :2].T + m[:2, 2]).astype(np.float32)


def resize_matrix(src_wh: tuple[float, float], dst_wh: tuple[float, float]) -> np.ndarray:
    """Map an image of size ``src_wh`` onto ``dst_wh`` (edges onto edges, as cv2.resize does)."""
    sx, sy = dst_wh[0] / src_wh[0], dst_wh[1] / src_wh[1]
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], dtype=np.float64)


def square_crop_matrix(box: np.ndarray | tuple, out_size: int, margin: float = 0.25, roll: float = 0.0) -> np.ndarray:
    """3x3 matrix mapping source pixels to an ``out_size`` square crop around ``box``; with a
    ``roll`` (degrees) the box is an oriented box and the crop shows the face upright."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"degenerate face box {box}")
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    s = out_size / side
    left, top = (x1 + x2) / 2 - side / 2, (y1 + y2) / 2 - side / 2
    # continuous extent [left, left + side] -> [-0.5, out_size - 0.5] (pixel centres at integers)
    crop = np.array([[s, 0, -left * s - 0.5], [0, s, -top * s - 0.5], [0, 0, 1]], dtype=np.float64)
    return crop if roll == 0 else crop @ upright_matrix(((x1 + x2) / 2, (y1 + y2) / 2), roll)


def upright_matrix(centre: tuple[float, float] | np.ndarray, roll: float) -> np.ndarray:
    """3x3 rotation about ``centre`` that turns a face of ``roll`` degrees upright."""
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(roll), 1.0)
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _prefilter(
    image: np.ndarray, matrix: np.ndarray, size: tuple[int, int] | None = None, reach_out: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """For strong downscaling, shrink first with area averaging (no aliasing) and fold
    that shrink into the matrix, so the final bilinear warp samples near 1:1. Given the output
    ``size``, only the part of the image the output sees is shrunk (a face crop in a large photo
    costs its own pixels, not the photo's); ``reach_out=False`` (a border mode that copies image
    pixels) keeps the whole image when the output reaches beyond it."""
    a, b, c, d = (float(v) for v in (matrix[0, 0], matrix[0, 1], matrix[1, 0], matrix[1, 1]))
    scale = abs(a * d - b * c) ** 0.5
    if scale >= 0.5:
        return image, matrix
    h, w = image.shape[:2]
    full = np.vstack([matrix[:2], [0, 0, 1]])
    x0, y0, x1, y1 = 0, 0, w, h
    if size is not None:
        corners = np.array([[-0.5, -0.5], [size[0] - 0.5, -0.5], [-0.5, size[1] - 0.5], [size[0] - 0.5, size[1] - 0.5]])
        seen = transform_points(np.linalg.inv(full), corners)
        pad = 2.0 / scale + 2  # the bilinear warp's and the area average's reach, in source pixels
        lo, hi = np.floor(seen.min(0) - pad), np.ceil(seen.max(0) + pad)
        if reach_out or (lo >= 0).all() and (hi <= (w, h)).all():
            x0, y0 = (int(v) for v in np.clip(lo, 0, (w, h)))
            x1, y1 = (int(v) for v in np.clip(hi, 0, (w, h)))
            if x1 <= x0 or y1 <= y0:  # the output sees no image pixel
                x0, y0, x1, y1 = 0, 0, min(w, 1), min(h, 1)
    part = image[y0:y1, x0:x1]
    new_w, new_h = max(1, round((x1 - x0) * scale * 1.5)), max(1, round((y1 - y0) * scale * 1.5))
    small = cv2.resize(part, (new_w, new_h), interpolation=cv2.INTER_AREA)
    shift = np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1]])
    return small, full @ shift @ np.linalg.inv(resize_matrix((x1 - x0, y1 - y0), (new_w, new_h)))


def warp_image(
    image: np.ndarray,
    matrix: np.ndarray,
    size: tuple[int, int],
    border: int = cv2.BORDER_CONSTANT,
    fill: tuple[int, ...] = (0, 0, 0),
) -> np.ndarray:
    """Warp an image by a 2x3 or 3x3 affine ``matrix`` into ``size`` = (width, height),
    area-averaging first when the matrix shrinks a lot."""
    matrix = np.asarray(matrix, dtype=np.float64)
    source, m = _prefilter(image, matrix, size, reach_out=border == cv2.BORDER_CONSTANT)
    out = cv2.warpAffine(source, m[:2], (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=fill)
    return out


def points_box(points: np.ndarray) -> np.ndarray:
    """The landmark box (x1, y1, x2, y2) of points: the box convention face-crop models train on."""
    return np.concatenate([points.min(0), points.max(0)]).astype(np.float64)


def oriented_points_box(points: np.ndarray, roll: float) -> np.ndarray:
    """The oriented box of ``points`` for a face of ``roll`` degrees: the landmark box in the
    face's upright frame, placed so that turning it by ``roll`` about its centre encloses them."""
    if roll == 0:
        return points_box(points)
    p = np.asarray(points, np.float64)
    centre = p.mean(0)
    box = points_box(transform_points(upright_matrix(centre, roll), p).astype(np.float64))
    middle = (box[:2] + box[2:]) / 2
    back = transform_points(np.linalg.inv(upright_matrix(centre, roll)), middle[None])[0].astype(np.float64)
    return np.concatenate([box[:2] - middle + back, box[2:] - middle + back])


def roll_from_parts(right_eye: np.ndarray, left_eye: np.ndarray, mouth: np.ndarray) -> np.ndarray:
    """Roll (degrees, see the module docstring) of faces from their eye centres and mouth centre,
    each ``(..., 2)``. The eye line and the eyes-to-mouth line (turned a quarter back) both point
    along the face's across axis; their sum stays stable on profile faces, whose eye line is short."""
    right_eye, left_eye, mouth = (np.asarray(a, np.float64) for a in (right_eye, left_eye, mouth))
    across = left_eye - right_eye
    down = mouth - (left_eye + right_eye) / 2
    x = across[..., 0] + down[..., 1]
    y = across[..., 1] - down[..., 0]
    return np.degrees(np.arctan2(y, x))


def snap_roll(roll: np.ndarray | float, min_roll: float) -> np.ndarray:
    """Rolls within ``min_roll`` degrees of a quarter turn become that quarter turn (the model
    handles small rolls itself: its training crops are turned by up to 35 degrees), others stay;
    all in (-180, 180]."""
    roll = np.asarray(roll, np.float64)
    quarter = np.round(roll / 90.0) * 90.0
    snapped = np.where(np.abs(roll - quarter) < min_roll, quarter, roll)
    return snapped - 360.0 * np.ceil((snapped - 180.0) / 360.0)  # in (-180, 180]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``(x1, y1, x2, y2)``: every box in ``a`` (K, 4) with one box ``b`` (4,) -> (K,),
    or with every box in ``b`` (M, 4) -> (K, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64)
    one = b.ndim == 1
    b = b.reshape(-1, 4)
    x1, y1 = np.maximum(a[:, None, 0], b[None, :, 0]), np.maximum(a[:, None, 1], b[None, :, 1])
    x2, y2 = np.minimum(a[:, None, 2], b[None, :, 2]), np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a, area_b = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou = inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
    return iou[:, 0] if one else iou


def fit_similarity(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """2x3 similarity matrix minimizing the weighted squared distance from mapped ``src`` to ``dst``."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    if len(src) < 2 or src.shape != dst.shape or len(w) != len(src):
        raise ValueError("a similarity needs at least two matching point pairs")
    x, y = src[:, 0], src[:, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    a = np.concatenate([np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)])  # [a, b, tx, ty]
    rhs = np.concatenate([dst[:, 0], dst[:, 1]])
    sw = np.sqrt(np.concatenate([w, w]))
    (ca, sb, tx, ty), *_ = np.linalg.lstsq(a * sw[:, None], rhs * sw, rcond=None)
    return np.array([[ca, -sb, tx], [sb, ca, ty]])
