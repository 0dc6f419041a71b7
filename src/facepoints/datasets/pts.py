"""300-W style folders: ``IMAGE.jpg`` (or png/webp/...) with ``IMAGE.pts`` beside it.

A ``.pts`` file is either the iBUG form (``version: 1`` / ``n_points: 68`` / ``{`` ...
``}``) or just the coordinate lines. The layout follows the point count (68 -> ibug68).
300-W coordinates are 1-based (MATLAB pixels: the first pixel's centre is 1); the reader
subtracts 1 so that points follow facepoints' 0-based pixel-centre convention. Without
this, a mirror flip (x -> width - 1 - x) would move every label by 2 px and teach a
flip-augmented model a 1 px bias.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facepoints.datasets.base import DatasetError, LandmarkDataset, image_size, parse_float, register_format
from facepoints.imageio import IMAGE_SUFFIXES

LAYOUT_BY_COUNT = {68: "ibug68"}


#: Added to every coordinate read (1-based files -> 0-based pixel centres).
PTS_OFFSET = -1.0


def read_pts(path: Path) -> np.ndarray:
    """Parse one ``.pts`` file into an Nx2 float array, as written (see ``PTS_OFFSET``)."""
    try:
        lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    declared = None
    body: list[tuple[int, str]] = []
    for no, line in enumerate(lines, start=1):
        if not line or line.startswith("#"):
            continue
        key = line.split(":", 1)[0].strip().lower()
        if ":" in line and key in ("version", "n_points"):
            if key == "n_points":
                declared = int(parse_float(line.split(":", 1)[1].strip(), f"{path}:{no}", "n_points"))
            continue
        if line in ("{", "}"):
            continue
        body.append((no, line))
    points = []
    for no, line in body:
        parts = line.split()
        if len(parts) != 2:
            raise DatasetError(f"{path}:{no}: expected 'x y', got {line!r}")
        points.append([parse_float(p, f"{path}:{no}", "coordinate") for p in parts])
    if declared is not None and declared != len(points):
        raise DatasetError(f"{path}: header says n_points {declared} but {len(points)} points follow")
    if not points:
        raise DatasetError(f"{path}: no points")
    return np.asarray(points, dtype=np.float32)


def _image_for(pts: Path) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (pts.with_suffix(suffix), pts.with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate
    return None


def _looks_like_pts(path: Path) -> bool:
    return path.is_dir() and next(path.glob("*.pts"), None) is not None


@register_format("300w", _looks_like_pts)
def read_pts_folder(path: Path) -> LandmarkDataset:
    """Read every ``*.pts`` in a folder (not recursive) with its image."""
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder of IMAGE + IMAGE.pts files")
    files = sorted(folder.glob("*.pts"))
    if not files:
        raise DatasetError(f"{folder}: no .pts files")
    sources, points, where, sizes = [], [], [], []
    for pts in files:
        image = _image_for(pts)
        if image is None:
            raise DatasetError(f"{pts}: no image beside it (looked for {', '.join(IMAGE_SUFFIXES)})")
        sources.append(str(image))
        sizes.append(image_size(image))
        points.append(read_pts(pts) + PTS_OFFSET)
        where.append(str(pts))
    count = len(points[0])
    for w, p in zip(where, points):
        if len(p) != count:
            raise DatasetError(f"{w}: {len(p)} points, while {where[0]} has {count}")
    if count not in LAYOUT_BY_COUNT:
        raise DatasetError(f"{where[0]}: {count} points; supported counts: {sorted(LAYOUT_BY_COUNT)}")
    kp = np.stack(points)
    return LandmarkDataset(
        name=f"300w:{folder}",
        layout=LAYOUT_BY_COUNT[count],
        sources=sources,
        keypoints=kp,
        masks=~np.isnan(kp).any(-1),
        identities=[None] * len(sources),
        where=where,
        sizes=sizes,
    )
