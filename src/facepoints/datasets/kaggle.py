"""Kaggle "Facial Keypoints Detection" CSVs.

- ``training.csv``: 30 keypoint columns (``left_eye_center_x``, ``left_eye_center_y``, ...
  in the ``kaggle15`` order) and ``Image`` = 9216 space-separated grey values of a
  96x96 face. Empty cells are missing points: they become masked points, never
  dropped rows.
- ``test.csv``: ``ImageId, Image`` (no keypoints: every point masked).
- ``IdLookupTable.csv``: ``RowId, ImageId, FeatureName, Location`` (which values to submit).
"""

from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from facepoints.datasets.base import DatasetError, LandmarkDataset, parse_float, register_format
from facepoints.layouts import KAGGLE15

SIZE = 96
KEYPOINT_COLUMNS = [f"{name}_{axis}" for name in KAGGLE15.names for axis in ("x", "y")]

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # the Image column is ~30 kB per cell


def parse_pixels(text: str, where: str) -> np.ndarray:
    """The ``Image`` cell -> 96x96x3 uint8 RGB (grey repeated)."""
    values = text.split()
    if len(values) != SIZE * SIZE:
        raise DatasetError(f"{where}: Image has {len(values)} values, expected {SIZE * SIZE} (96x96)")
    try:
        grey = np.asarray(values, dtype=np.float32)
    except ValueError:
        bad = next(v for v in values if not _is_number(v))
        raise DatasetError(f"{where}: non-numeric pixel value {bad!r}") from None
    if grey.min() < 0 or grey.max() > 255:
        raise DatasetError(f"{where}: pixel values must lie in 0..255")
    grey = grey.round().astype(np.uint8).reshape(SIZE, SIZE)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _header(path: Path) -> list[str]:
    try:
        with open(path, newline="") as fh:
            return next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError):
        return []


def _looks_like_kaggle(path: Path) -> bool:
    if not (path.is_file() and path.suffix.lower() == ".csv"):
        return False
    header = _header(path)
    return "Image" in header and (header[:1] == ["ImageId"] or header[:2] == KEYPOINT_COLUMNS[:2])


@register_format("kaggle", _looks_like_kaggle)
def read_kaggle(path: Path) -> LandmarkDataset:
    """Read ``training.csv`` (keypoints + images) or ``test.csv`` (images only)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            raise DatasetError(f"{path}: empty file")
        is_test = header == ["ImageId", "Image"]
        if not is_test and header != KEYPOINT_COLUMNS + ["Image"]:
            raise DatasetError(
                f"{path}:1: unexpected columns; a training file needs the 30 Kaggle keypoint columns "
                f"({KEYPOINT_COLUMNS[0]}, ..., {KEYPOINT_COLUMNS[-1]}) then Image, a test file ImageId,Image"
            )
        sources, points, where, paths = [], [], [], []
        for row_no, row in enumerate(reader, start=2):
            if not row:
                continue
            at = f"{path}:{row_no}"
            if len(row) != len(header):
                raise DatasetError(f"{at}: {len(row)} columns, expected {len(header)}")
            sources.append(partial(np.array, parse_pixels(row[-1], at)))
            if is_test:
                points.append([math.nan] * 30)
                paths.append(f"{path}#ImageId={row[0]}")
            else:
                points.append([parse_float(v, at, "coordinate") if v.strip() else math.nan for v in row[:-1]])
                paths.append(f"{path}#row={row_no}")
            where.append(at)
    if not sources:
        raise DatasetError(f"{path}: no rows")
    kp = np.asarray(points, dtype=np.float32).reshape(-1, 15, 2)
    missing = np.isnan(kp)  # empty cells; any other value, infinite too, is checked as a label
    return LandmarkDataset(
        name=f"kaggle:{path}",
        layout="kaggle15",
        sources=sources,
        keypoints=np.where(missing, 0.0, kp),
        masks=~missing.any(-1),
        identities=[None] * len(sources),
        where=where,
        paths=paths,
        sizes=[(SIZE, SIZE)] * len(sources),
    )


@dataclass(frozen=True)
class LookupRow:
    """One row of ``IdLookupTable.csv``: which coordinate of which image to submit."""

    row_id: int
    image_id: int
    feature: str  # e.g. "left_eye_center_x"


def read_kaggle_lookup(path: Path) -> list[LookupRow]:
    """Read ``IdLookupTable.csv``; feature names are checked against the Kaggle columns."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    rows = []
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or header[:3] != ["RowId", "ImageId", "FeatureName"]:
            raise DatasetError(f"{path}:1: expected columns RowId,ImageId,FeatureName[,Location], got {header}")
        for row_no, row in enumerate(reader, start=2):
            if not row:
                continue
            at = f"{path}:{row_no}"
            if len(row) != len(header):
                raise DatasetError(f"{at}: {len(row)} columns, expected {len(header)}")
            if row[2] not in KEYPOINT_COLUMNS:
                raise DatasetError(f"{at}: unknown FeatureName {row[2]!r}")
            rows.append(LookupRow(int(parse_float(row[0], at, "RowId")), int(parse_float(row[1], at, "ImageId")), row[2]))
    return rows
