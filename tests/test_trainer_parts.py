"""The trainer's parts on tiny synthetic data: one summary schema, the --resume --epochs rule, early stopping
across resumes, CLI defaults from TrainConfig, and configs and checkpoints of older versions."""

import csv
import json
import warnings
from typing import get_args

import pytest
import torch

from facepoints.checkpoint import read_checkpoint
from facepoints.cli.main import build_parser, main
from facepoints.cli.train import config_from_args
from facepoints.codec import CROP_MODES
from facepoints.models import create_model
from facepoints.training import LOSSES, TrainConfig, resume, train
from facepoints.training.checkpointing import RunFiles, restore_progress
from facepoints.training.config import Augment, CropMode
from facepoints.training.loop import Progress
from facepoints.training.losses import LossName
from facepoints.training.reports import Summary
from facepoints.training.schedule import COSINE_FLOOR, cosine_lr, make_scheduler, restore_schedule
from facepoints.transforms import AUGMENT_PRESETS


def tiny(out, **changes) -> TrainConfig:
    """A run of seconds: 12 small faces, 2 epochs."""
    settings = {
        "model": "fpnet", "data": ["synthetic:12@1"], "val": ["synthetic:6@2"], "out": str(out), "epochs": 2,
        "batch_size": 6, "lr": 2e-3, "loss": "l1", "augment": "none", "workers": 0, "input_size": 48,
        "cache_size": 64, "progress": False, "patience": 0,
    }  # fmt: skip
    return TrainConfig(**{**settings, **changes})


def rows(run) -> list[dict]:
    return list(csv.DictReader(open(run / "metrics.csv")))


@pytest.mark.slow
def test_every_model_reports_the_same_summary_keys(tmp_path):
    runs = {
        "mean": tiny(tmp_path / "mean", model="mean_shape"),
        "net": tiny(tmp_path / "net", data=["synthetic:8@1"], model_kwargs={"width": 0.5}),
        "nose": tiny(tmp_path / "nose", model="mean_shape", layout="nosetip"),  # one point: no NME
    }
    summaries = {name: train(cfg) for name, cfg in runs.items()}
    for name, summary in summaries.items():
        assert set(summary) == set(Summary.__annotations__), name
        assert json.loads((tmp_path / name / "summary.json").read_text()) == summary, name
        assert read_checkpoint(tmp_path / name / "model.pt")["metrics"] == summary, name

    mean, net, nose = summaries["mean"], summaries["net"], summaries["nose"]
    assert (mean["epochs_run"], mean["best_epoch"], mean["parameters"], mean["stopped_early"]) == (1, 1, 0, False)
    assert mean["score_name"] == "nme" and mean["best_score"] == mean["best_val_nme"] > 0.01
    assert mean["layout"] == "ibug68" and mean["best_val_rmse_px"] > 0 and mean["seconds"] > 0

    assert net["epochs_run"] == 2 and net["parameters"] > 1000 and net["score_name"] == "nme"
    best_row = rows(tmp_path / "net")[net["best_epoch"] - 1]
    assert net["best_score"] == net["best_val_nme"] == pytest.approx(float(best_row["val_nme"]), rel=1e-12)
    assert net["best_val_nme"] == min(float(r["val_nme"]) for r in rows(tmp_path / "net"))
    assert net["best_val_loss"] == pytest.approx(float(best_row["val_loss"]), rel=1e-12)

    assert nose["layout"] == "nosetip" and nose["score_name"] == "loss" and nose["best_val_nme"] is None
    assert nose["best_score"] == nose["best_val_loss"] > 0


def test_cosine_schedule_resumes_exactly_or_re_stretched():
    cfg = TrainConfig(model="fpnet", data=["synthetic:4"], out="unused", epochs=5, lr=1e-3)
    floor = cfg.lr * COSINE_FLOOR

    def schedule():
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(3))], lr=cfg.lr)
        return optimizer, make_scheduler(optimizer, cfg)

    def lrs(optimizer, scheduler, steps):
        out = []
        for _ in range(steps):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return out

    optimizer, scheduler = schedule()
    assert lrs(optimizer, scheduler, 2) == [cosine_lr(cfg.lr, floor, e, 5) for e in (1, 2)]
    saved = optimizer.state_dict(), scheduler.state_dict()
    rest = lrs(optimizer, scheduler, 3)  # epochs 3 to 5, uninterrupted

    optimizer, scheduler = schedule()  # the same epoch count: bit-identical
    optimizer.load_state_dict(saved[0])
    restore_schedule(scheduler, saved[1], 5)
    assert lrs(optimizer, scheduler, 3) == rest
    assert optimizer.param_groups[0]["lr"] == pytest.approx(floor)  # a finished run ends at the floor

    finished = optimizer.state_dict(), scheduler.state_dict()
    optimizer, scheduler = schedule()  # the finished 5-epoch run extended to 10: epochs 6-10 of a 10-epoch cosine
    optimizer.load_state_dict(finished[0])
    restore_schedule(scheduler, finished[1], 10)
    extended = lrs(optimizer, scheduler, 5)
    assert extended == pytest.approx([cosine_lr(cfg.lr, floor, e, 10) for e in range(6, 11)], rel=1e-9)
    assert extended[0] == pytest.approx(floor + (cfg.lr - floor) / 2) and extended[0] > 40 * floor
    assert extended == sorted(extended, reverse=True) and optimizer.param_groups[0]["lr"] == pytest.approx(floor)


@pytest.mark.slow
def test_resume_of_a_finished_run_with_more_epochs_trains_above_the_floor(tmp_path):
    train(tiny(tmp_path, model="mlp_baseline", input_size=32, cache_size=48))
    summary = resume(tmp_path, epochs=4, progress=False)
    lr = [float(r["lr"]) for r in rows(tmp_path)]
    floor = 2e-3 * COSINE_FLOOR
    assert summary["epochs_run"] == 4 and len(lr) == 4
    assert lr[:2] == pytest.approx([cosine_lr(2e-3, floor, e, 2) for e in (1, 2)], rel=1e-9)
    assert lr[2:] == pytest.approx([cosine_lr(2e-3, floor, e, 4) for e in (3, 4)], rel=1e-9)
    assert lr[2] > 40 * floor  # half way down a 4-epoch cosine, not at the floor the 2-epoch run ended on
    assert read_checkpoint(tmp_path / "last.pt")["config"]["epochs"] == 4


@pytest.mark.slow
def test_early_stopping_holds_across_resume_and_restarts_when_extended(tmp_path):
    # lr 0 and no batch norm: every epoch scores the same, so none after the first improves
    cfg = tiny(tmp_path, model="mlp_baseline", lr=0.0, epochs=5, patience=1, input_size=32, cache_size=48)
    first = train(cfg)
    assert (first["epochs_run"], first["stopped_early"], first["best_epoch"]) == (2, True, 1)
    again = resume(tmp_path, progress=False)  # a run that stopped early is finished: nothing more to train
    assert (again["epochs_run"], again["stopped_early"]) == (2, True) and len(rows(tmp_path)) == 2
    longer = resume(tmp_path, epochs=6, progress=False)  # extended: patience counts from 0 again
    assert (longer["epochs_run"], longer["stopped_early"], longer["best_epoch"]) == (3, True, 1)


def test_cli_defaults_are_the_train_config_defaults(capsys):
    args = build_parser().parse_args(["train", "--model", "fpnet", "--data", "synthetic:4", "--out", "run"])
    assert config_from_args(args) == TrainConfig(model="fpnet", data=["synthetic:4"], out="run")

    args = build_parser().parse_args(["train", "--model", "fpnet", "--data", "x", "--out", "o", "--crop", "seed"])
    assert config_from_args(args).crop == "rescale-crop"
    assert "--crop seed is now --crop rescale-crop" in capsys.readouterr().err

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "re-stretched" in text and "default 30" in text and "(default 0.001)" in text

    assert get_args(CropMode) == CROP_MODES and get_args(LossName) == tuple(LOSSES)
    assert get_args(Augment) == tuple(AUGMENT_PRESETS)


def test_old_configs_and_checkpoints_still_load(tmp_path):
    old = {"model": "fpnet", "data": ["synthetic:4"], "out": "o", "crop": "seed", "schedule": "cosine", "dropped": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reading an old config is no reason to warn
        cfg = TrainConfig.from_dict(old)
    assert cfg.crop == "rescale-crop" and cfg.turned == 1 and cfg.oversample == {}
    with pytest.warns(DeprecationWarning, match="rescale-crop"):
        assert TrainConfig(model="fpnet", data=["x"], out="o", crop="seed").crop == "rescale-crop"
    for bad in ({"schedule": "linear"}, {"crop": "square"}, {"loss": "huber"}):
        with pytest.raises(ValueError, match="choose from"):
            TrainConfig(model="fpnet", data=["x"], out="o", **bad)

    # a last.pt of before the rename, whose model-selection score was called best_nme
    train(tiny(tmp_path, model="mlp_baseline", epochs=1, input_size=32, cache_size=48))
    state = read_checkpoint(tmp_path / "last.pt")
    saved = state["train_state"]
    old_state = {**state, "train_state": {k: v for k, v in saved.items() if k not in ("best_score", "score_name")}}
    old_state["train_state"]["best_nme"] = saved["best_score"]

    def restored(checkpoint: dict) -> Progress:
        cfg = TrainConfig.from_dict(checkpoint["config"])
        model = create_model("mlp_baseline", num_points=68, in_channels=1, input_size=(32, 32))
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        progress, scheduler = Progress("nme"), make_scheduler(optimizer, cfg)
        restore_progress(checkpoint, cfg, model, optimizer, scheduler, progress, RunFiles(tmp_path, writes=False))
        return progress

    new, old = restored(state), restored(old_state)
    assert old.best_score == new.best_score == saved["best_score"] < 1 and old.history == new.history
    assert old.bad_epochs == new.bad_epochs == 0 and old.best_state.keys() == new.best_state.keys()
