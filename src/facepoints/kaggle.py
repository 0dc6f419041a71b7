"""The Kaggle "Facial Keypoints Detection" task on real faces: conversion, submission, scoring.

:func:`to_kaggle` turns any 68-point dataset into the competition's format: 96x96 grey
face crops, the 15 keypoints through the 68 -> 15 mapping, optionally with Kaggle-like
missingness (most competition rows keep only the eye centres, the nose tip and the
bottom-lip centre). A ``test`` split is written as ``test.csv`` + ``IdLookupTable.csv``
with the answers in ``solution.csv``, so a submission can be scored on held-out faces.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from facepoints.datasets.base import DatasetError, LandmarkDataset
from facepoints.datasets.kaggle import KEYPOINT_COLUMNS, SIZE, read_kaggle, read_kaggle_lookup
from facepoints.imageio import atomic_write_bytes
from facepoints.layouts import KAGGLE4, convert_points, get_layout
from facepoints.predict import Predictor
from facepoints.transforms import crop_face, keypoint_box

__all__ = ["KAGGLE_COMMON_POINTS", "ConversionResult", "merge_predictions", "score_submission", "to_kaggle", "write_submission"]

#: The four points present in almost every row of the competition's training.csv.
KAGGLE_COMMON_POINTS = KAGGLE4.subset_of[1]
#: Fraction of competition training rows that have only the common points (7049 rows, 2140 complete).
KAGGLE_PARTIAL_FRACTION = 1 - 2140 / 7049
#: Crop margin that gives Kaggle-like framing (outer eye corners about 0.53 of the width apart).
KAGGLE_MARGIN = 0.05


@dataclass
class ConversionResult:
    files: list[Path]
    rows: int
    partial_rows: int


def _fmt(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4f}"


def to_kaggle(
    dataset: LandmarkDataset,
    out_dir: str | Path,
    split: str = "train",
    missingness: bool = False,
    seed: int = 0,
    margin: float = KAGGLE_MARGIN,
    progress: bool = True,
) -> ConversionResult:
    """Write ``dataset`` (68 points) as Kaggle CSVs in ``out_dir``; ``split`` is train or test."""
    if dataset.layout != "ibug68":
        raise DatasetError(f"{dataset.name}: to-kaggle needs 68-point (ibug68) data, got {dataset.layout}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be train or test, got {split!r}")
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    rows, partial = [], 0
    for i in tqdm(range(len(dataset)), desc=f"to-kaggle {dataset.name}", disable=not progress):
        sample = dataset[i]
        crop = crop_face(sample, keypoint_box(sample), SIZE, margin)
        grey = cv2.cvtColor(crop.image, cv2.COLOR_RGB2GRAY)
        points, mask = convert_points(crop.keypoints, "ibug68", "kaggle15", crop.mask)
        values = np.where(mask[:, None], points, np.nan).reshape(-1)
        if split == "train" and missingness and rng.random() < KAGGLE_PARTIAL_FRACTION:
            keep = np.zeros(15, bool)
            keep[list(KAGGLE_COMMON_POINTS)] = True
            values = np.where(np.repeat(keep, 2), values, np.nan)
            partial += 1
        rows.append((values, " ".join(str(int(v)) for v in grey.reshape(-1))))
    if split == "train":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(KEYPOINT_COLUMNS + ["Image"])
        for values, pixels in rows:
            w.writerow([_fmt(v) for v in values] + [pixels])
        files = [atomic_write_bytes(out / "training.csv", buf.getvalue().encode())]
    else:
        test, lookup, solution = io.StringIO(), io.StringIO(), io.StringIO()
        tw, lw, sw = (csv.writer(b, lineterminator="\n") for b in (test, lookup, solution))
        tw.writerow(["ImageId", "Image"])
        lw.writerow(["RowId", "ImageId", "FeatureName", "Location"])
        sw.writerow(["RowId", "Location"])
        row_id = 1
        for image_id, (values, pixels) in enumerate(rows, start=1):
            tw.writerow([image_id, pixels])
            for name, value in zip(KEYPOINT_COLUMNS, values):
                if not math.isnan(value):
                    lw.writerow([row_id, image_id, name, ""])
                    sw.writerow([row_id, f"{value:.4f}"])
                    row_id += 1
        files = [
            atomic_write_bytes(out / "test.csv", test.getvalue().encode()),
            atomic_write_bytes(out / "IdLookupTable.csv", lookup.getvalue().encode()),
            atomic_write_bytes(out / "solution.csv", solution.getvalue().encode()),
        ]
    return ConversionResult(files, len(rows), partial)


def _kaggle15_indices(layout_name: str) -> tuple[int, ...]:
    layout = get_layout(layout_name)
    if layout.name == "kaggle15":
        return tuple(range(15))
    if layout.subset_of and layout.subset_of[0] == "kaggle15":
        return layout.subset_of[1]
    raise ValueError(f"a Kaggle submission needs kaggle15 (or a subset) models, got {layout.name}")


def merge_predictions(predictors: list[Predictor], image: np.ndarray) -> np.ndarray:
    """15 Kaggle points from one or more models: later models override the points they predict
    (the two-model recipe: a 15-point model, then a 4-point model trained on every row)."""
    merged = np.full((15, 2), np.nan, np.float32)
    for predictor in predictors:
        merged[list(_kaggle15_indices(predictor.layout.name))] = predictor.predict(image)[0].points
    if np.isnan(merged).any():
        raise ValueError("the models given do not cover all 15 Kaggle points")
    return merged


def write_submission(
    predictors: Predictor | list[Predictor],
    test_csv: str | Path,
    lookup_csv: str | Path,
    out: str | Path,
    progress: bool = True,
) -> Path:
    """Predict every test image and write ``RowId,Location`` for the rows the lookup asks for,
    with locations clipped to [0, 96]. Several predictors are merged (see :func:`merge_predictions`)."""
    predictors = predictors if isinstance(predictors, list) else [predictors]
    for p in predictors:
        _kaggle15_indices(p.layout.name)
    test = read_kaggle(Path(test_csv))
    lookup = read_kaggle_lookup(Path(lookup_csv))
    image_index = {int(p.rsplit("=", 1)[1]): i for i, p in enumerate(test.paths)}
    needed = sorted({r.image_id for r in lookup})
    missing = [i for i in needed if i not in image_index]
    if missing:
        raise DatasetError(f"{lookup_csv}: ImageId {missing[0]} is not in {test_csv}")
    predictions: dict[int, np.ndarray] = {}
    for image_id in tqdm(needed, desc="predicting", disable=not progress):
        predictions[image_id] = merge_predictions(predictors, test[image_index[image_id]].image).reshape(-1)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["RowId", "Location"])
    column = {name: k for k, name in enumerate(KEYPOINT_COLUMNS)}
    for r in lookup:
        w.writerow([r.row_id, f"{float(np.clip(predictions[r.image_id][column[r.feature]], 0, SIZE)):.4f}"])
    return atomic_write_bytes(out, buf.getvalue().encode())


def score_submission(submission: str | Path, solution: str | Path) -> float:
    """Kaggle's RMSE (pixels of the 96x96 crops) of a submission against a solution file."""

    def read(path) -> dict[int, float]:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header != ["RowId", "Location"]:
                raise DatasetError(f"{path}:1: expected columns RowId,Location, got {header}")
            return {int(r[0]): float(r[1]) for r in reader if r}

    sub, sol = read(submission), read(solution)
    if set(sub) != set(sol):
        raise DatasetError(f"{submission}: RowIds differ from {solution} ({len(set(sub) ^ set(sol))} mismatched)")
    diff = np.array([sub[k] - sol[k] for k in sol])
    return float(np.sqrt((diff**2).mean()))
