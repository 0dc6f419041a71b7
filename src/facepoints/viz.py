"""Drawing keypoints, contours and boxes, and grids of dataset samples."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from facepoints.datasets.base import LandmarkDataset, Sample
from facepoints.layouts import Layout, get_layout
from facepoints.transforms.geometry import scale_matrix, warp
from facepoints.transforms.pipeline import augmentation, sample_rng

__all__ = ["GROUP_COLOURS", "draw_keypoints", "make_grid", "fit_to_tile", "dataset_grid"]

#: RGB colour per layout group; groups not listed cycle through FALLBACK_COLOURS.
GROUP_COLOURS: dict[str, tuple[int, int, int]] = {
    "jaw": (255, 200, 0),
    "brows": (255, 120, 0),
    "nose": (0, 220, 255),
    "eyes": (0, 255, 80),
    "mouth": (255, 60, 160),
}
FALLBACK_COLOURS = [(200, 200, 255), (255, 255, 120), (120, 255, 255), (255, 150, 150)]
_SHIFT = 4


def _colour(layout: Layout, group: str) -> tuple[int, int, int]:
    if group in GROUP_COLOURS:
        return GROUP_COLOURS[group]
    return FALLBACK_COLOURS[list(layout.groups).index(group) % len(FALLBACK_COLOURS)]


def _fixed(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]) * (1 << _SHIFT))), int(round(float(p[1]) * (1 << _SHIFT)))


def draw_keypoints(
    image: np.ndarray,
    points: np.ndarray,
    layout: str | Layout,
    mask: np.ndarray | None = None,
    numbers: bool = False,
    radius: float | None = None,
    contours: bool = True,
    box: Sequence[float] | None = None,
    in_place: bool = False,
) -> np.ndarray:
    """A copy of ``image`` (RGB uint8) with points coloured by group and contours joined
    (``in_place``: drawn on ``image`` itself, a C-contiguous array, and returned).

    Points of the subject's left side (names starting ``left_``) get a white ring, so a
    swapped left/right is visible at a glance. Masked-out points (``mask`` False) are not drawn, nor any contour segment that
    touches one. ``numbers`` writes each point's index beside it.
    """
    lay = get_layout(layout)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) != lay.num_points:
        raise ValueError(f"{len(pts)} points given for layout {lay.name} of {lay.num_points}")
    visible = np.ones(len(pts), bool) if mask is None else np.asarray(mask, bool)
    out = image if in_place else np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    r = radius if radius is not None else max(1.5, min(h, w) / 160)
    thickness = max(1, int(round(r / 2)))
    if box is not None:
        x1, y1, x2, y2 = box
        cv2.rectangle(out, _fixed((x1, y1)), _fixed((x2, y2)), (255, 255, 255), thickness, cv2.LINE_AA, _SHIFT)
    if contours:
        for chain, closed in zip(lay.contours, lay.closed):
            seq = list(chain) + ([chain[0]] if closed else [])
            colour = _colour(lay, lay.group_of(chain[0]))
            for a, b in zip(seq, seq[1:]):
                if visible[a] and visible[b]:
                    cv2.line(out, _fixed(pts[a]), _fixed(pts[b]), colour, thickness, cv2.LINE_AA, _SHIFT)
    for i, p in enumerate(pts):
        if not visible[i]:
            continue
        colour = _colour(lay, lay.group_of(i))
        cv2.circle(out, _fixed(p), int(r * (1 << _SHIFT)), colour, -1, cv2.LINE_AA, _SHIFT)
        if lay.names[i].startswith("left_"):
            cv2.circle(out, _fixed(p), int((r + 1) * (1 << _SHIFT)), (255, 255, 255), 1, cv2.LINE_AA, _SHIFT)
        if numbers:
            cv2.putText(out, str(i), (int(p[0] + r), int(p[1] - r)), cv2.FONT_HERSHEY_SIMPLEX, r / 8, colour, 1, cv2.LINE_AA)
    return out


def make_grid(images: Sequence[np.ndarray], cols: int | None = None, pad: int = 4) -> np.ndarray:
    """Tile equally sized RGB images into one picture (dark gaps between tiles)."""
    if not images:
        raise ValueError("no images to put in a grid")
    h, w = images[0].shape[:2]
    cols = cols or int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / cols))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 32, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = img
    return grid


def fit_to_tile(sample: Sample, tile: int) -> Sample:
    """Scale a sample to fit a ``tile`` x ``tile`` square, centred, keypoints moved along."""
    h, w = sample.image.shape[:2]
    s = tile / max(h, w)
    m = scale_matrix(s, (0.0, 0.0))
    m[:2, 2] = [(tile - w * s) / 2 + 0.5 * s - 0.5, (tile - h * s) / 2 + 0.5 * s - 0.5]
    return warp(sample, m, (tile, tile))


def dataset_grid(
    dataset: LandmarkDataset,
    n: int = 16,
    augment: str = "none",
    seed: int = 0,
    tile: int = 256,
    numbers: bool = False,
) -> np.ndarray:
    """A grid of ``n`` samples spread over the dataset, optionally augmented, with keypoints drawn,
    so a user can see that labels (and augmentation) keep points on the faces."""
    if len(dataset) == 0:
        raise ValueError(f"{dataset.name}: empty dataset")
    picks = np.linspace(0, len(dataset) - 1, min(n, len(dataset))).round().astype(int)
    pipeline = augmentation(augment)
    tiles = []
    for i in picks:
        sample = pipeline(fit_to_tile(dataset[int(i)], tile), sample_rng(seed, 0, int(i)))
        img = draw_keypoints(sample.image, sample.keypoints, sample.layout, sample.mask, numbers=numbers)
        label = (sample.identity or (sample.path or "").rsplit("/", 1)[-1])[:28]
        cv2.putText(img, label, (4, tile - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(img)
    return make_grid(tiles)
