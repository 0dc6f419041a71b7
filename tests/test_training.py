"""The trainer on tiny synthetic data: run files, exact resume, masked losses, identity splits, DDP."""

import csv
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import set_eyelids

from facepoints.checkpoint import CheckpointError, load_model, read_checkpoint
from facepoints.cli.main import build_parser, main
from facepoints.cli.train import config_from_args
from facepoints.datasets import open_dataset
from facepoints.inputs import InputSpec
from facepoints.training import (
    LOSSES,
    TrainConfig,
    TrainingSet,
    get_loss,
    resume,
    split_by_identity,
    train,
    trainer,
    validation_split,
)  # fmt: skip
from facepoints.training.data import TrainingSet as _TS
from facepoints.training.optimizers import make_optimizer
from facepoints.training.point_shift import fit_point_shift
from facepoints.training.validation import validate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TORCHRUN = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
needs_torchrun = pytest.mark.skipif(not os.path.exists(TORCHRUN), reason="no torchrun")
# one node: --standalone meets at a c10d store on a port the OS picks (localhost:0), never a fixed one
TORCHRUN_LOCAL = [TORCHRUN, "--standalone", "--nproc-per-node", "2"]


def tiny_config(out, **changes):
    cfg = dict(
        model="fpnet", data=["synthetic:24@1"], val=["synthetic:8@2"], out=str(out), epochs=3, batch_size=8,
        lr=2e-3, loss="l1", augment="light", workers=0, input_size=64, cache_size=80, progress=False, patience=0,
    )  # fmt: skip
    cfg.update(changes)
    return TrainConfig(**cfg)


def interrupt_then_resume(cfg, monkeypatch):
    """Train ``cfg`` until a stop at the start of epoch 2, then ``--resume`` it; returns the summary."""
    original = _TS.__getitem__

    def interrupt(self, index):
        if self.epoch == 2:
            raise KeyboardInterrupt
        return original(self, index)

    monkeypatch.setattr(_TS, "__getitem__", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    assert read_checkpoint(os.path.join(cfg.out, "last.pt"))["train_state"]["epoch"] == 1
    load_model(os.path.join(cfg.out, "best.pt"))  # a usable checkpoint survives the interrupt
    monkeypatch.setattr(_TS, "__getitem__", original)
    return resume(cfg.out, progress=False)


def assert_same_weights(run_a, run_b):
    """The two runs' last.pt hold the same weights (to float rounding)."""
    a = read_checkpoint(run_a / "last.pt")["state_dict"]
    b = read_checkpoint(run_b / "last.pt")["state_dict"]
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, one_torch_thread):
    """The folder of a finished one-epoch tiny run, trained once for the tests that only read a run
    (they write elsewhere, or into a copy)."""
    out = tmp_path_factory.mktemp("finished_run")
    assert train(tiny_config(out, epochs=1))["epochs_run"] == 1
    return out


@pytest.mark.slow
def test_run_files_and_exact_resume(tmp_path, monkeypatch):
    straight = train(tiny_config(tmp_path / "a", epochs=2))
    assert straight["epochs_run"] == 2
    for name in ("last.pt", "best.pt", "model.pt", "metrics.csv", "curves.png", "summary.json"):
        assert (tmp_path / "a" / name).is_file(), name

    # the same run, interrupted at the start of epoch 2, then resumed
    resumed = interrupt_then_resume(tiny_config(tmp_path / "b", epochs=2), monkeypatch)
    assert resumed["epochs_run"] == 2
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    rows_a = list(csv.DictReader(open(tmp_path / "a" / "metrics.csv")))
    rows_b = list(csv.DictReader(open(tmp_path / "b" / "metrics.csv")))
    assert [r["epoch"] for r in rows_b] == ["1", "2"]
    assert [float(r["val_nme"]) for r in rows_a] == pytest.approx([float(r["val_nme"]) for r in rows_b], rel=1e-5)


def test_an_sgd_run_resumes_exactly(tmp_path, monkeypatch):
    # mlp_baseline at 32 px without curves.png: seconds; Nesterov momentum makes the weights depend on the
    # restored momentum buffers
    monkeypatch.setattr(trainer, "write_curves", lambda *args: None)
    cfg = dict(
        model="mlp_baseline", data=["synthetic:12@1"], val=["synthetic:4@2"], batch_size=4, input_size=32,
        cache_size=48, epochs=2, optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.0,
    )  # fmt: skip
    train(tiny_config(tmp_path / "a", **cfg))
    interrupt_then_resume(tiny_config(tmp_path / "b", **cfg), monkeypatch)
    saved = read_checkpoint(tmp_path / "b" / "last.pt")
    assert saved["config"]["optimizer"] == "sgd" and saved["config"]["nesterov"] is True
    states = saved["train_state"]["optimizer"]["state"].values()
    assert states and all("momentum_buffer" in state for state in states)
    assert_same_weights(tmp_path / "a", tmp_path / "b")


def test_the_optimizer_is_the_configured_one():
    params = [torch.nn.Parameter(torch.zeros(3))]
    default = TrainConfig(model="fpnet", data=["x"], out="o")
    built = make_optimizer(params, default)  # today's: AdamW with the config's lr and weight decay
    assert type(built) is torch.optim.AdamW and (default.lr, default.weight_decay) == (1e-3, 1e-4)
    assert built.state_dict() == torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4).state_dict()

    adam = make_optimizer(params, TrainConfig(model="fpnet", data=["x"], out="o", optimizer="adam", lr=0.01))
    assert type(adam) is torch.optim.Adam
    assert (adam.param_groups[0]["lr"], adam.param_groups[0]["weight_decay"]) == (0.01, 1e-4)
    sgd_cfg = TrainConfig(model="fpnet", data=["x"], out="o", optimizer="sgd", momentum=0.8, nesterov=True)
    sgd = make_optimizer(params, sgd_cfg).param_groups[0]
    assert (sgd["momentum"], sgd["nesterov"], sgd["weight_decay"]) == (0.8, True, 1e-4)

    args = ["--model", "fpnet", "--data", "x", "--out", "o"]
    cli = config_from_args(build_parser().parse_args(["train", *args, "--optimizer", "sgd", "--momentum", "0.5"]))
    assert (cli.optimizer, cli.momentum, cli.nesterov) == ("sgd", 0.5, False)
    assert TrainConfig.from_dict({"model": "fpnet", "data": ["x"], "out": "o"}).optimizer == "adamw"  # older runs


def test_unknown_or_inconsistent_optimizer_settings_are_rejected(capsys):
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; choose from adamw, adam, sgd"):
        TrainConfig(model="fpnet", data=["x"], out="o", optimizer="rmsprop")
    for bad in ({"optimizer": "adam", "nesterov": True}, {"optimizer": "sgd", "momentum": 0.0, "nesterov": True}):
        with pytest.raises(ValueError, match="nesterov needs optimizer sgd"):
            TrainConfig(model="fpnet", data=["x"], out="o", **bad)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--optimizer", "rmsprop"])
    assert "invalid choice: 'rmsprop'" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_extends_a_finished_run(tmp_path, finished_run):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    summary = resume(run, epochs=2, progress=False)
    assert summary["epochs_run"] == 2
    assert len(list(csv.DictReader(open(run / "metrics.csv")))) == 2


def test_checkpoint_is_self_describing(finished_run):
    loaded = load_model(finished_run / "model.pt")
    assert loaded.layout == "ibug68" and loaded.input.size == (64, 64) and loaded.input.crop == "face"
    assert loaded.meta["data"]["train"] == ["synthetic:24@1"]
    out = loaded.model(torch.rand(1, 1, 64, 64))
    assert out.shape == (1, 68, 2)


def test_model_file_carries_the_point_shift_fitted_on_training_faces(tmp_path, finished_run):
    data = read_checkpoint(finished_run / "model.pt")
    shift = np.asarray(data["point_shift"])
    assert shift.shape == (68, 2) and np.isfinite(shift).all() and np.abs(shift).max() > 0
    data["point_shift"] = shift[:10].tolist()  # a shift that does not fit the model is refused
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="point_shift"):
        load_model(tmp_path / "bad.pt")


def test_point_shift_is_the_mean_residual_of_labelled_points():
    spec = InputSpec(size=(64, 64))
    faces = open_dataset("synthetic:12@3")
    faces.masks[:4, :5] = False  # points 0-4 unlabelled on a third of the faces (coordinates unknown)
    faces.keypoints[:4, :5] = np.nan
    faces.masks[:, 67] = False  # point 67 never labelled: no residual, shift 0
    samples = TrainingSet(faces, spec, False, "none", cache_size=80, progress=False)
    targets = torch.stack([samples[i]["keypoints"] for i in range(len(samples))])
    masks = torch.stack([samples[i]["mask"] for i in range(len(samples))])

    class Constant(torch.nn.Module):
        def forward(self, x):  # the same points for every face
            return torch.full((len(x), 68, 2), 0.1)

    shift = fit_point_shift(Constant(), samples, batch_size=5)
    m = masks.unsqueeze(-1).float()
    expected = torch.where(m > 0, targets - 0.1, 0.0).sum(0) / m.sum(0).clamp(min=1)
    assert np.allclose(shift, expected.numpy(), atol=1e-6) and (shift[67] == 0).all()


def test_validation_scores_predictions_with_the_point_shift():
    """Model selection sees the model as it ships: predictions plus the point shift."""
    spec = InputSpec(size=(64, 64))
    faces = TrainingSet(open_dataset("synthetic:6@4"), spec, False, "none", cache_size=80, progress=False)
    loader = torch.utils.data.DataLoader(faces, batch_size=4)

    class Offset(torch.nn.Module):  # every point 0.05 (normalized) left of its label
        def compute_loss(self, images, targets, mask, loss_fn):
            return torch.tensor(0.0), targets - torch.tensor([0.05, 0.0])

    _, raw_nme, raw_rmse = validate(Offset(), loader, get_loss("l1"), "ibug68", spec, "cpu")
    shift = torch.tensor([0.05, 0.0]).expand(68, 2)
    _, nme, rmse = validate(Offset(), loader, get_loss("l1"), "ibug68", spec, "cpu", shift)
    assert raw_nme > 0.01 and raw_rmse > 0.5 and nme < 1e-6 and rmse < 1e-4


def test_corrupt_and_foreign_checkpoints(tmp_path, finished_run):
    data = (finished_run / "model.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt: truncated or damaged checkpoint"):
        load_model(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a facepoints checkpoint"):
        load_model(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "missing.pt")


@pytest.mark.slow
def test_training_lowers_validation_error_below_the_mean_shape(tmp_path):
    mean = train(tiny_config(tmp_path / "mean", model="mean_shape", epochs=1))
    model = train(tiny_config(tmp_path / "net", data=["synthetic:96@1"], epochs=6, augment="none"))
    assert model["best_val_nme"] < mean["best_val_nme"]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_ignore_masked_points(name):
    pred = torch.zeros(2, 4, 2, requires_grad=True)
    target = torch.ones(2, 4, 2)
    target[:, 3] = 100.0  # a wild value at a masked point
    mask = torch.tensor([[True, True, True, False]] * 2)
    loss = get_loss(name)(pred, target, mask)
    loss.backward()
    assert float(loss.detach()) > 0 and pred.grad[:, 3].abs().sum() == 0 and pred.grad[:, 0].abs().sum() > 0
    reference = get_loss(name)(pred[:, :3], target[:, :3], mask[:, :3])
    assert float(loss.detach()) == pytest.approx(float(reference.detach()))


def test_split_by_identity_keeps_people_apart():
    ds = open_dataset("synthetic:40")
    train_idx, val_idx = split_by_identity(ds, 0.25, seed=3)
    assert sorted(train_idx + val_idx) == list(range(40))
    assert not {ds.identities[i] for i in train_idx} & {ds.identities[i] for i in val_idx}
    with pytest.raises(ValueError):
        split_by_identity(ds, 1.5)


def test_kaggle_rows_with_missing_points_train(tmp_path):
    from facepoints.datasets.kaggle import KEYPOINT_COLUMNS

    rng = np.random.default_rng(0)
    rows = [",".join(KEYPOINT_COLUMNS + ["Image"])]
    for k in range(12):
        vals = [f"{v:.1f}" for v in rng.uniform(20, 76, 30)]
        if k % 2:
            vals = vals[:4] + [""] * 24 + vals[28:]  # only eye centres and bottom lip
        rows.append(",".join(vals + [" ".join(str(v) for v in rng.integers(0, 256, 9216))]))
    (tmp_path / "training.csv").write_text("\n".join(rows) + "\n")
    ds = TrainingSet(open_dataset(tmp_path / "training.csv"), _spec96(), True, "none", progress=False)
    assert ds[1]["mask"].sum() == 3 and len(ds) == 12  # no row dropped
    summary = train(
        tiny_config(tmp_path / "run", model="kaggle_cnn", data=[str(tmp_path / "training.csv")], val=None,
                    val_split=0.25, input_size=None, epochs=1, loss="mse")
    )  # fmt: skip
    assert summary["train_samples"] == 9 and np.isfinite(summary["best_val_nme"])


def _spec96():
    from facepoints.training import InputSpec

    return InputSpec(size=(96, 96), crop="full", output_range="unit")


@pytest.mark.slow
def test_cli_train_and_models_list(tmp_path, capsys):
    assert main(["models", "list"]) == 0
    assert "fpnet" in capsys.readouterr().out
    args = ["train", "--model", "face_cnn", "--data", "synthetic:12", "--epochs", "1", "--batch-size", "6",
            "--workers", "0", "--out", str(tmp_path), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    assert '"epochs_run": 1' in capsys.readouterr().out
    assert main(["train", "--model", "fpnet"]) == 1  # missing --data / --out: clear error


@pytest.mark.slow
@needs_torchrun
def test_torchrun_two_cpu_processes(tmp_path):
    cmd = [*TORCHRUN_LOCAL, "-m", "facepoints", "train", "--model", "fpnet",
           "--data", "synthetic:16", "--val", "synthetic:4@9", "--epochs", "2", "--batch-size", "4", "--workers", "0",
           "--input-size", "48", "--cache-size", "64", "--out", str(tmp_path), "--no-progress"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert len(rows) == 2
    assert load_model(tmp_path / "model.pt").layout == "ibug68"


@pytest.mark.slow
@needs_torchrun
def test_torchrun_validation_scores_as_one_process_does(tmp_path):
    # lr 0 and a network without batch norm: both runs keep the same initial weights, so the
    # validation split, sharded over two ranks or not, must score the same
    common = ["--model", "mlp_baseline", "--data", "synthetic:8", "--val", "synthetic:6@9", "--epochs", "1",
              "--batch-size", "4", "--lr", "0", "--workers", "0", "--input-size", "32", "--cache-size", "48",
              "--no-progress"]  # fmt: skip
    cmd = [*TORCHRUN_LOCAL, "-m", "facepoints", "train", *common, "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert main(["train", *common, "--out", str(tmp_path / "one")]) == 0
    ddp, one = (next(csv.DictReader(open(tmp_path / run / "metrics.csv"))) for run in ("ddp", "one"))
    assert float(one["val_nme"]) > 0.01
    assert float(ddp["val_nme"]) == pytest.approx(float(one["val_nme"]), rel=1e-4)
    assert float(ddp["val_rmse"]) == pytest.approx(float(one["val_rmse"]), rel=1e-4)


def test_fine_tuning_starts_from_the_given_weights(tmp_path, finished_run):
    base_file = str(finished_run / "model.pt")
    base = read_checkpoint(base_file)["state_dict"]
    tuned = train(tiny_config(tmp_path / "tuned", epochs=1, lr=0.0, init=base_file))
    assert tuned["epochs_run"] == 1
    after = read_checkpoint(tmp_path / "tuned" / "model.pt")["state_dict"]
    weights = [k for k in base if base[k].dtype.is_floating_point and "running" not in k]
    assert all(torch.equal(base[k], after[k]) for k in weights)  # lr 0: the weights stay the loaded ones
    with pytest.raises(ValueError, match="made for model"):
        train(tiny_config(tmp_path / "other", model="mlp_baseline", init=base_file))
    with pytest.raises(ValueError, match="input"):
        train(tiny_config(tmp_path / "other", grey=False, init=base_file))  # colour weights for a grey model
    # a fully convolutional network fine-tunes at a new resolution: same weights, a larger input
    larger = train(tiny_config(tmp_path / "larger", epochs=1, lr=0.0, input_size=80, init=base_file))
    saved = read_checkpoint(tmp_path / "larger" / "model.pt")
    assert larger["epochs_run"] == 1 and saved["input"]["size"] == [80, 80]
    assert all(torch.equal(base[k], saved["state_dict"][k]) for k in weights)


def test_turned_faces_are_repeated_by_the_yaw_of_their_labels():
    import cv2

    from facepoints.face3d import face3d_reference
    from facepoints.headpose import camera_matrix, project, rotation_matrix
    from facepoints.training.data import turned_face_repeats

    ds = open_dataset("synthetic:7@3")
    camera = camera_matrix(640, 480)
    yaws = [0.0, 8.0, -12.0, 22.0, -30.0, 45.0, 35.0]
    for i, yaw in enumerate(yaws):  # the 3D reference seen at this yaw (and a little pitch) 600 mm away
        rvec = cv2.Rodrigues(rotation_matrix(yaw, 5.0, 0.0))[0]
        ds.keypoints[i] = project(face3d_reference(), rvec, np.array([30.0, -20.0, 600.0]), camera)
    ds.masks[6, 3] = False  # a turned face with an unknown point is left alone
    assert turned_face_repeats(ds, 3).tolist() == [1, 1, 1, 3, 3, 3, 1]
    assert turned_face_repeats(ds, 1).max() == 1


def test_closed_eye_faces_are_repeated_with_their_own_augmentation():
    from facepoints.apps.eyes import eye_aspect_ratio
    from facepoints.training.data import closed_eye_repeats

    ds = open_dataset("synthetic:12@3")
    set_eyelids(ds.keypoints, closed={2, 7}, opening=0.3)  # eyes of faces 2 and 7 closed, others wide open
    kp = ds.keypoints
    assert eye_aspect_ratio(kp[2]) < 0.15 < eye_aspect_ratio(kp[0])
    repeats = closed_eye_repeats(ds, 3)
    assert repeats.tolist() == [1, 1, 3, 1, 1, 1, 1, 3, 1, 1, 1, 1]
    assert closed_eye_repeats(ds, 1).max() == 1
    from facepoints.inputs import InputSpec

    ts = TrainingSet(ds, InputSpec(size=(64, 64)), True, "strong", cache_size=80, progress=False, repeats=repeats)
    assert len(ts) == 16
    copies = [i for i, j in enumerate(ts.order) if j == 2]
    a, b = ts[copies[0]], ts[copies[1]]
    assert not torch.equal(a["image"], b["image"])  # each copy is augmented differently


def test_oversampling_by_source():
    from facepoints.cli.train import _parse_oversample
    from facepoints.training.data import source_repeats

    ds = open_dataset(["synthetic:3@1", "synthetic:2@5"])  # paths synthetic#10000k and synthetic#50001k
    assert source_repeats(ds, {"#5000": 3}).tolist() == [1, 1, 1, 3, 3]
    assert source_repeats(ds, {"#5000": 3, "#500016": 2}).tolist() == [1, 1, 1, 3, 6]
    assert source_repeats(ds, {}).tolist() == [1] * 5
    with pytest.raises(ValueError, match="matches none"):
        source_repeats(ds, {"300w/": 2})
    with pytest.raises(ValueError, match=">= 1"):
        source_repeats(ds, {"#5000": 0})
    assert _parse_oversample(["300w/=2", "a=b=3"]) == {"300w/": 2, "a=b": 3}
    for bad in (["300w/"], ["=2"], ["300w/=x"]):
        with pytest.raises(ValueError, match="PATTERN=K"):
            _parse_oversample(bad)


@pytest.mark.slow
def test_validation_split_reopens_the_faces_a_run_held_out(tmp_path, capsys):
    sources = ["synthetic:16@1", "synthetic:16@3"]
    summary = train(tiny_config(tmp_path, data=sources, val=None, val_split=0.25, epochs=1))
    held_out = validation_split(tmp_path)
    assert len(held_out) == summary["val_samples"] > 0
    assert held_out.paths == validation_split(tmp_path).paths  # drawn again from the run's seed
    trained = set(open_dataset(sources).paths) - set(held_out.paths)
    assert len(trained) == summary["train_samples"]
    assert set(held_out.origins) == set(sources)

    assert main(["evaluate", "--model", str(tmp_path / "model.pt"), "--val-of", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"| all {len(held_out)} |" in out and "of synthetic:16@1 |" in out and "of synthetic:16@3 |" in out
    with pytest.raises(ValueError, match="no last.pt or model.pt"):
        validation_split(tmp_path / "nothing")


def test_bn_recalibration_gathers_dropout_free_statistics():
    from facepoints.training.bn_recalibration import recalibrate_batch_norm, recalibration_loader

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(6))
    batches = [torch.randn(16, 4) * 3 + 1 for _ in range(3)]
    model.train()
    for x in batches:  # running statistics gathered the usual way, with dropout on
        model(x)
    with torch.no_grad():
        clean = [model[0](x) for x in batches]  # the activations batch norm sees with dropout off
    bn = model[2]
    expected_mean = torch.stack([a.mean(0) for a in clean]).mean(0)
    expected_var = torch.stack([a.var(0, unbiased=True) for a in clean]).mean(0)
    assert not torch.allclose(bn.running_var, expected_var, rtol=0.05)  # dropout inflated them

    assert recalibrate_batch_norm(model, [{"image": x} for x in batches]) == 3
    assert torch.allclose(bn.running_mean, expected_mean, atol=1e-5)
    assert torch.allclose(bn.running_var, expected_var, rtol=1e-5, atol=1e-6)
    assert model.training and model[1].training and bn.training and bn.momentum == 0.1  # modes restored
    model.eval()
    recalibrate_batch_norm(model, batches)
    assert not any(m.training for m in model.modules())
    assert recalibrate_batch_norm(model, []) == 0 and torch.allclose(bn.running_var, expected_var, rtol=1e-5)

    # the batches: the same full ones on every call, whatever the global random state
    first = [b.tolist() for b in recalibration_loader(list(range(50)), 3, 8, seed=4)]
    torch.manual_seed(123)
    assert [b.tolist() for b in recalibration_loader(list(range(50)), 3, 8, seed=4)] == first
    assert [len(b) for b in first] == [8, 8, 8] and len({i for b in first for i in b}) == 24
    assert [len(b) for b in recalibration_loader(list(range(5)), 3, 8, seed=4)] == [5]


def test_bn_recalibration_off_is_todays_run_and_on_changes_only_the_statistics(tmp_path, finished_run, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("recalibrated with --bn-recalibrate 0")

    with monkeypatch.context() as patch:
        patch.setattr(trainer, "recalibrate_batch_norm", refuse)
        train(tiny_config(tmp_path / "off", epochs=1, bn_recalibrate=0))
    today = read_checkpoint(finished_run / "last.pt")
    off = read_checkpoint(tmp_path / "off" / "last.pt")
    assert all(torch.equal(today["state_dict"][k], off["state_dict"][k]) for k in today["state_dict"])
    scores = [
        [{k: v for k, v in h.items() if k != "seconds"} for h in run["train_state"]["history"]] for run in (today, off)
    ]
    assert scores[0] == scores[1]

    train(tiny_config(tmp_path / "on", epochs=1, bn_recalibrate=2))
    on = read_checkpoint(tmp_path / "on" / "last.pt")
    assert on["config"]["bn_recalibrate"] == 2
    stats = [k for k in today["state_dict"] if "running_" in k]
    assert stats and any(not torch.equal(today["state_dict"][k], on["state_dict"][k]) for k in stats)
    weights = [k for k in today["state_dict"] if "running_" not in k and "num_batches" not in k]
    assert all(torch.equal(today["state_dict"][k], on["state_dict"][k]) for k in weights)  # training untouched
    shipped = read_checkpoint(tmp_path / "on" / "model.pt")["state_dict"]
    assert all(torch.equal(shipped[k], on["state_dict"][k]) for k in stats)  # model.pt: recalibrated statistics


def test_bn_recalibrate_flag_round_trips_through_cli_and_config():
    args = ["train", "--model", "alexnet_fkp", "--data", "x", "--out", "o"]
    assert config_from_args(build_parser().parse_args(args)).bn_recalibrate == 0
    cfg = config_from_args(build_parser().parse_args([*args, "--bn-recalibrate", "50"]))
    assert cfg.bn_recalibrate == 50
    from dataclasses import asdict

    assert TrainConfig.from_dict(asdict(cfg)).bn_recalibrate == 50
    assert TrainConfig.from_dict({"model": "fpnet", "data": ["x"], "out": "o"}).bn_recalibrate == 0  # older runs
    with pytest.raises(ValueError, match="bn_recalibrate must be >= 0"):
        TrainConfig(model="fpnet", data=["x"], out="o", bn_recalibrate=-1)


def test_a_run_with_bn_recalibration_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "write_curves", lambda *args: None)
    cfg = {
        "data": ["synthetic:12@1"], "val": ["synthetic:4@2"], "batch_size": 4, "input_size": 32, "cache_size": 48,
        "epochs": 2, "bn_recalibrate": 2,
    }  # fmt: skip
    train(tiny_config(tmp_path / "a", **cfg))
    interrupt_then_resume(tiny_config(tmp_path / "b", **cfg), monkeypatch)
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    scores = [(tmp_path / run / "metrics.csv").read_text().splitlines() for run in ("a", "b")]
    assert [row.split(",")[:-1] for row in scores[0]] == [row.split(",")[:-1] for row in scores[1]]
