"""Udacity "P1 Facial Keypoints" (YouTube Faces) format: a CSV of 68 points + an image folder.

The CSV has a header row, then ``file name, x0, y0, ..., x67, y67`` in pixels. The
folder ``training/`` goes with ``training_frames_keypoints.csv`` beside it. The person's
identity comes from the file name (``Person_Name_NN``) so splits can be made by person.

The labels sit about one pixel right of and below where 0-based tools (dlib, MediaPipe,
and a mirror-flip-symmetric model trained here) put the same points: they follow the
1-based convention of 300-W. The reader subtracts 1 (``CSV_OFFSET``) so that every
dataset shares facepoints' 0-based pixel-centre convention.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from facepoints.datasets.base import (
    DatasetError,
    LandmarkDataset,
    identity_from_filename,
    image_size,
    parse_float,
    register_format,
)

NUM_POINTS = 68
#: Added to every coordinate read (1-based labels -> 0-based pixel centres).
CSV_OFFSET = -1.0


def _find_csv(path: Path) -> tuple[Path, Path]:
    """(csv file, image folder) for a folder or a CSV path."""
    if path.is_file():
        stem = path.name.removesuffix(".csv").removesuffix("_frames_keypoints")
        folder = path.parent / stem
        return path, folder if folder.is_dir() else path.parent
    beside = path.parent / f"{path.name}_frames_keypoints.csv"
    if beside.is_file():
        return beside, path
    inside = sorted(path.glob("*keypoints*.csv"))
    if len(inside) == 1:
        return inside[0], path
    raise DatasetError(f"{path}: no {path.name}_frames_keypoints.csv beside it and no single *keypoints*.csv inside")


def _looks_like_udacity(path: Path) -> bool:
    try:
        csv_path, _ = _find_csv(path)
        with open(csv_path, newline="") as fh:
            header = next(csv.reader(fh), [])
    except (DatasetError, OSError, UnicodeDecodeError):
        return False
    return len(header) == 1 + 2 * NUM_POINTS and header[1:3] == ["0", "1"]


@register_format("udacity", _looks_like_udacity)
def read_udacity(path: Path) -> LandmarkDataset:
    """Read a Udacity-style split (folder or CSV path)."""
    csv_path, folder = _find_csv(Path(path))
    sources, points, identities, where, sizes = [], [], [], [], []
    with open(csv_path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise DatasetError(f"{csv_path}: empty file")
        if len(header) != 1 + 2 * NUM_POINTS:
            raise DatasetError(f"{csv_path}:1: header has {len(header)} columns, expected {1 + 2 * NUM_POINTS}")
        for row_no, row in enumerate(reader, start=2):
            if not row:
                continue
            at = f"{csv_path}:{row_no}"
            if len(row) != 1 + 2 * NUM_POINTS:
                raise DatasetError(f"{at}: {len(row)} columns, expected 1 file name + {2 * NUM_POINTS} coordinates")
            image = folder / row[0]
            if not image.is_file():
                raise DatasetError(f"{at}: image {image} not found")
            at = f"{at} ({row[0]})"
            points.append([parse_float(v, at, "coordinate") for v in row[1:]])
            sources.append(str(image))
            sizes.append(image_size(image))
            identities.append(identity_from_filename(row[0]))
            where.append(at)
    if not sources:
        raise DatasetError(f"{csv_path}: no samples")
    kp = np.asarray(points, dtype=np.float32).reshape(-1, NUM_POINTS, 2) + CSV_OFFSET
    return LandmarkDataset(
        name=f"udacity:{folder}",
        layout="ibug68",
        sources=sources,
        keypoints=kp,
        masks=~np.isnan(kp).any(-1),
        identities=identities,
        where=where,
        sizes=sizes,
    )
