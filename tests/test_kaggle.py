"""The Kaggle task on real-format files: conversion, two-model merge, submission and scoring."""

import csv

import numpy as np
import pytest
import torch
from conftest import write_udacity

from facepoints.checkpoint import LoadedModel
from facepoints.cli.main import main
from facepoints.datasets import DatasetError, make_synthetic_sample, open_dataset
from facepoints.inputs import InputSpec
from facepoints.kaggle import KAGGLE_COMMON_POINTS, merge_predictions, score_submission, to_kaggle, write_submission
from facepoints.layouts import convert_points
from facepoints.models import create_model
from facepoints.predict import Predictor


@pytest.fixture
def kaggle_dir(tmp_path):
    samples = [make_synthetic_sample(k, 150) for k in range(8)]
    write_udacity(tmp_path / "src", samples)
    src = open_dataset(tmp_path / "src" / "training")
    to_kaggle(src, tmp_path / "k", "train", missingness=True, seed=1, progress=False)
    to_kaggle(src, tmp_path / "k", "test", progress=False)
    return tmp_path / "k", src


def test_to_kaggle_writes_competition_files(kaggle_dir):
    folder, src = kaggle_dir
    train = open_dataset(folder / "training.csv")
    assert len(train) == 8 and train.layout == "kaggle15"
    partial = ~train.masks.all(1)
    assert partial.any()  # Kaggle-like missingness
    assert train.masks[partial][:, list(KAGGLE_COMMON_POINTS)].all()
    assert train[0].image.shape == (96, 96, 3)
    # eye centres are the mapped 68-point eye means, inside the 96 crop, subject's left on the right
    pts = train.keypoints[0]
    assert (pts[train.masks[0]] > 0).all() and (pts[train.masks[0]] < 96).all()
    assert pts[0, 0] > pts[1, 0]
    test = open_dataset(folder / "test.csv")
    assert len(test) == 8 and not test.masks.any()
    with open(folder / "IdLookupTable.csv") as fh:
        assert sum(1 for _ in fh) - 1 == 8 * 30


def constant_kaggle_model(points: np.ndarray, layout: str) -> Predictor:
    """A model that always answers ``points`` (96x96 frame)."""
    model = create_model("mean_shape", num_points=len(points), input_size=(96, 96))
    spec = InputSpec(size=(96, 96), crop="full")
    model.mean.copy_(torch.from_numpy(spec.normalization.forward(points)))
    return Predictor(LoadedModel(model.eval(), layout, spec, {"model": {"name": "const"}}))


def test_submission_scoring_and_two_model_merge(kaggle_dir, tmp_path):
    folder, src = kaggle_dir
    truth = np.array([[float(r["Location"])] for r in csv.DictReader(open(folder / "solution.csv"))])
    guess = np.full((15, 2), 48.0, np.float32)
    one = constant_kaggle_model(guess, "kaggle15")
    sub = write_submission(one, folder / "test.csv", folder / "IdLookupTable.csv", tmp_path / "s.csv", progress=False)
    rmse = score_submission(sub, folder / "solution.csv")
    assert rmse == pytest.approx(float(np.sqrt(((truth - 48.0) ** 2).mean())), rel=1e-3)
    four = constant_kaggle_model(np.full((4, 2), 10.0, np.float32), "kaggle4")
    merged = merge_predictions([one, four], np.zeros((96, 96, 3), np.uint8))
    assert np.allclose(merged[list(KAGGLE_COMMON_POINTS)], 10.0, atol=1e-3)
    assert np.allclose(np.delete(merged, list(KAGGLE_COMMON_POINTS), axis=0), 48.0, atol=1e-3)
    with pytest.raises(ValueError, match="do not cover all 15"):
        merge_predictions([four], np.zeros((96, 96, 3), np.uint8))


def test_clipping_and_bad_files(kaggle_dir, tmp_path):
    folder, _ = kaggle_dir
    wild = constant_kaggle_model(np.full((15, 2), 130.0, np.float32), "kaggle15")
    sub = write_submission(wild, folder / "test.csv", folder / "IdLookupTable.csv", tmp_path / "s.csv", progress=False)
    values = [float(r["Location"]) for r in csv.DictReader(open(sub))]
    assert max(values) == 96.0
    (tmp_path / "bad.csv").write_text("Id,Value\n1,2\n")
    with pytest.raises(DatasetError, match="expected columns RowId,Location"):
        score_submission(tmp_path / "bad.csv", folder / "solution.csv")


def test_cli_to_kaggle_and_layout_subset(tmp_path, capsys):
    samples = [make_synthetic_sample(k, 120) for k in range(3)]
    write_udacity(tmp_path, samples)
    assert main(["data", "to-kaggle", str(tmp_path / "training"), "--out", str(tmp_path / "k")]) == 0
    assert "3 faces" in capsys.readouterr().out
    ds = open_dataset(tmp_path / "k" / "training.csv").to_layout("kaggle4")
    k15, _ = convert_points(ds.keypoints, "kaggle4", "kaggle4")
    assert ds.layout == "kaggle4" and k15.shape == (3, 4, 2)
    assert main(["data", "to-kaggle", str(tmp_path / "k" / "training.csv"), "--out", str(tmp_path / "x")]) == 1
