"""The smaller defects of issue 22: clear errors for non-checkpoints, damaged videos and absurd
labels; no stale temporary files; browser-playable (H.264) video output."""

from __future__ import annotations

import json
import math
import os
import shutil

import av
import cv2
import numpy as np
import onnx as onnx_lib
import pytest
import torch
from conftest import kaggle_columns, write_asf, write_pts_folder, write_udacity
from PIL import Image

from facepoints import video as video_module
from facepoints.checkpoint import FORMAT, CheckpointError, load_model, read_checkpoint
from facepoints.cli.main import main
from facepoints.datasets import DatasetError, open_dataset
from facepoints.imageio import atomic_write_bytes, remove_stale_temp_files
from facepoints.landmarker import sample_image_path
from facepoints.training import TrainConfig, train
from facepoints.video import process_video

BUNDLED = sample_image_path().parent  # resources/: fpnet68.pt with its .onnx and .int8.onnx exports


class NoFaces:
    """A tracker stand-in that finds nothing: the video tests are about files, not faces."""

    def reset(self) -> None:
        pass

    def update(self, image: np.ndarray, timestamp: float) -> list:
        return []


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("facepoints: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# ----------------------------------------------------------------------------- 1. non-checkpoints


def test_an_onnx_export_as_the_model_names_the_checkpoint_to_pass(tmp_path, capsys):
    onnx = BUNDLED / "fpnet68.onnx"
    with pytest.raises(CheckpointError, match=r"fpnet68.onnx: is an ONNX export.*pass .*fpnet68\.pt"):
        load_model(onnx)
    with pytest.raises(CheckpointError, match=r"fpnet68.int8.onnx: is an ONNX export.*pass .*fpnet68\.pt"):
        load_model(BUNDLED / "fpnet68.int8.onnx")
    alone = tmp_path / "mine.onnx"
    shutil.copy(onnx, alone)
    with pytest.raises(CheckpointError, match="pass the .pt checkpoint it came from"):
        load_model(alone)
    # the reported case, detect with --model NAME.onnx: exports describe themselves, so they run as models
    assert main(["detect", str(sample_image_path()), "--model", str(onnx), "--json", "--no-draw", "--out", str(tmp_path)]) == 0
    assert len(json.loads(capsys.readouterr().out.splitlines()[0])["faces"]) == 1
    # ... but an ONNX file that is no facepoints export is refused in one line
    bare = onnx_lib.load(str(onnx))
    del bare.metadata_props[:]
    onnx_lib.save(bare, str(alone))
    assert main(["detect", str(sample_image_path()), "--model", str(alone), "--no-draw", "--out", str(tmp_path)]) == 1
    assert "carries no facepoints description" in one_line_error(capsys)


def _payload() -> dict:
    model = {"name": "fpnet", "kwargs": {"num_points": 68, "in_channels": 3, "input_size": [64, 64]}}
    return {"format": FORMAT, "version": 1, "model": model, "layout": "ibug68", "input": {}, "state_dict": {}}


def _write_garbage(path):
    path.write_bytes(b"this is no checkpoint at all\n")


def _write_truncated(path):
    torch.save({**_payload(), "state_dict": {"w": torch.zeros(4096)}}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _write_whole_model(path):
    torch.save(torch.nn.Linear(2, 2), path)  # a pickled module: never unpickled (no code runs on load)


def _write_incomplete(path):
    payload = _payload()
    del payload["input"], payload["state_dict"]
    torch.save(payload, path)


def _write_no_model_name(path):
    torch.save({**_payload(), "model": {"kwargs": {}}}, path)


@pytest.mark.parametrize(
    "write, message",
    [
        (_write_garbage, r"not a PyTorch checkpoint \(neither a zip archive nor a pickle\)"),
        (lambda path: path.write_bytes(b""), "empty file, not a checkpoint"),
        (_write_truncated, r"truncated or damaged checkpoint"),
        (_write_whole_model, r"pickles Python objects such as a whole model"),
        (_write_incomplete, r"incomplete facepoints checkpoint \(lacks input, state_dict\)"),
        (_write_no_model_name, r"incomplete facepoints checkpoint \(lacks the model's name and kwargs\)"),
    ],
)
def test_damaged_and_foreign_checkpoints_get_one_clear_line(tmp_path, capsys, write, message):
    path = tmp_path / "model.pt"
    write(path)
    with pytest.raises(CheckpointError, match=message) as caught:
        read_checkpoint(path)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(str(path))
    assert main(["export", "--model", str(path)]) == 1
    assert message.split("\\")[0].split("(")[0].strip() in one_line_error(capsys)


# ----------------------------------------------------------------------------- 2. damaged videos


def write_avi(path, frames: int = 40, size: tuple[int, int] = (64, 48)) -> None:
    """Motion-JPEG AVI: its header declares the frame count, and a cut copy still decodes up to the cut."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, size)
    for i in range(frames):
        frame = np.full((size[1], size[0], 3), (i * 6) % 256, np.uint8)
        frame[:, i % size[0]] = 255
        writer.write(frame)
    writer.release()


def test_a_cut_video_is_reported_and_exits_3(tmp_path, capsys):
    whole, cut = tmp_path / "whole.avi", tmp_path / "cut.avi"
    write_avi(whole)
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])

    intact = process_video(whole, NoFaces(), tmp_path / "w.mp4", tmp_path / "w.jsonl", progress=False)
    assert intact.complete and intact.frames == intact.expected_frames == 40 and intact.warning is None
    assert "warning" not in capsys.readouterr().err

    summary = process_video(cut, NoFaces(), tmp_path / "c.mp4", tmp_path / "c.jsonl", progress=False)
    assert not summary.complete and summary.expected_frames == 40 and 0 < summary.frames < 38
    assert f"after {summary.frames} of the 40 frames" in summary.warning
    assert summary.warning in capsys.readouterr().err
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == summary.frames  # the frames read are kept

    args = ["video", str(cut), "--out", str(tmp_path / "v.mp4"), "--json", str(tmp_path / "v.jsonl"), "--no-progress"]
    assert main(args + ["--detector", "haar"]) == 3
    assert "decoding stopped after" in capsys.readouterr().err
    # stopping early on purpose is no damage
    assert not process_video(cut, NoFaces(), None, tmp_path / "m.jsonl", progress=False, max_frames=5).warning


# ----------------------------------------------------------------------------- 3. absurd labels


def _edit_csv_value(csv, row_no: int, column: int, value: str) -> None:
    lines = csv.read_text().splitlines()
    cells = lines[row_no - 1].split(",")
    cells[column] = value
    lines[row_no - 1] = ",".join(cells)
    csv.write_text("\n".join(lines) + "\n")


FAR = "more than 1 image side"


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # 1e39 is inf in float32
@pytest.mark.parametrize(
    "value, problem", [("1e30", FAR), ("-400", FAR), ("inf", "not finite"), ("1e39", "not finite")]
)
def test_udacity_coordinates_far_outside_the_image_name_the_row(tmp_path, face_samples, value, problem):
    csv = write_udacity(tmp_path, face_samples)  # 160x160 images
    _edit_csv_value(csv, 3, 5, value)  # row 3, x of point 3
    where = r"training_frames_keypoints.csv:3 \(Person_B_01.png\): point 3 of 68"
    with pytest.raises(DatasetError, match=rf"{where} .*{problem}"):
        open_dataset(tmp_path / "training")


def write_kaggle(path, rows: list[list[str]]) -> None:
    """A Kaggle training.csv of 96x96 grey faces with these keypoint cells."""
    pixels = " ".join(["128"] * 96 * 96)
    path.write_text(
        "\n".join([",".join(kaggle_columns() + ["Image"])] + [",".join(row + [pixels]) for row in rows]) + "\n"
    )


def test_points_a_little_outside_and_missing_points_are_kept(tmp_path, face_samples):
    csv = write_udacity(tmp_path, face_samples)
    _edit_csv_value(csv, 2, 1, "-100")  # 101 px left of a 160 px image: a face cut by the edge
    _edit_csv_value(csv, 3, 1, "nan")  # a missing point
    ds = open_dataset(tmp_path / "training")
    assert ds.keypoints[0, 0, 0] == pytest.approx(-101) and ds.masks[0, 0]
    assert not ds.masks[1, 0] and ds.masks[1, 1:].all()


def test_pts_kaggle_and_imm_readers_refuse_far_points(tmp_path, face_samples):
    folder = write_pts_folder(tmp_path / "300w", face_samples)
    text = (folder / "img_2.pts").read_text().splitlines()
    text[3 + 9] = "5000 80"  # point 10 (after version, n_points and "{")
    (folder / "img_2.pts").write_text("\n".join(text) + "\n")
    with pytest.raises(DatasetError, match=rf"img_2.pts: point 10 of 68 at \(4999, 79\) is {FAR} \(160 px\)"):
        open_dataset(folder)

    kaggle = tmp_path / "training.csv"
    row = ["30"] * 30
    row[7] = "inf"
    write_kaggle(kaggle, [["30"] * 30, row])
    with pytest.raises(DatasetError, match=r"training.csv:3: point 4 of 15 at \(30, inf\) is not finite"):
        open_dataset(kaggle)
    row[7] = ""  # an empty cell stays a missing point
    write_kaggle(kaggle, [["30"] * 30, row])
    assert not open_dataset(kaggle).masks[1, 3]

    imm = tmp_path / "imm"
    imm.mkdir()
    Image.new("RGB", (80, 60)).save(imm / "01-1m.jpg")
    rel = np.array([[0.2, 0.3], [0.5, 0.5], [-3.5, 0.6]])  # the third point 3.5 widths left of the image
    write_asf(imm / "01-1m.asf", rel, [0, 0, 0], "01-1m.jpg")
    with pytest.raises(DatasetError, match=r"01-1m.asf: point 3 of 3 .* more than 1 image side \(80 px\)"):
        open_dataset(imm)


def test_training_on_an_absurd_label_fails_with_one_line(tmp_path, face_samples, capsys):
    csv = write_udacity(tmp_path, face_samples)
    _edit_csv_value(csv, 4, 2, "1e30")
    args = ["train", "--model", "fpnet", "--data", str(tmp_path / "training"), "--out", str(tmp_path / "run")]
    assert main(args + ["--epochs", "1", "--no-progress"]) == 1
    assert "training_frames_keypoints.csv:4 (Person_C_02.png): point 1 of 68" in one_line_error(capsys)


# ----------------------------------------------------------------------------- 4. temporary files


def test_a_run_removes_stale_temporary_files_of_its_folder_only(tmp_path):
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    stale = [run / ".last.pt.k3j_9x0a.tmp", run / ".summary.json.abcdefgh.tmp"]
    kept = [run / "notes.tmp", run / ".last.pt.tmp", run / "last.pt.k3j_9x0a.tmp"]
    kept.append(run / "eval" / ".report.json.abcdefgh.tmp")  # another folder: not this run's to clean
    for path in stale + kept:
        path.write_bytes(b"half")
    cfg = TrainConfig(
        model="mean_shape", data=["synthetic:16@1"], val=["synthetic:4@2"], out=str(run), epochs=1, batch_size=8,
        workers=0, input_size=64, cache_size=80, progress=False,
    )  # fmt: skip
    train(cfg)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    assert (run / "model.pt").is_file() and list(run.glob(".*.tmp")) == [run / ".last.pt.tmp"]
    assert remove_stale_temp_files(run) == []


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    (tmp_path / "old.txt").write_bytes(b"old")

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(tmp_path / "old.txt", b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"] and (tmp_path / "old.txt").read_bytes() == b"old"


# ----------------------------------------------------------------------------- 5. H.264 output


def _stream_of(path) -> tuple[str, int, int, int, str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        ctx = stream.codec_context
        return ctx.name, frames, ctx.width, ctx.height, ctx.pix_fmt


def test_video_output_is_h264_that_browsers_play(tmp_path):
    src = tmp_path / "src.avi"
    write_avi(src, frames=30, size=(96, 64))
    summary = process_video(src, NoFaces(), tmp_path / "out.mp4", tmp_path / "out.jsonl", progress=False)
    assert summary.codec == "h264" and summary.frames == 30
    assert _stream_of(tmp_path / "out.mp4") == ("h264", 30, 96, 64, "yuv420p")
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert float(container.streams.video[0].average_rate) == pytest.approx(25)
    assert not list(tmp_path.glob(".*part*"))


def test_video_falls_back_to_mp4v_without_an_h264_encoder(tmp_path, monkeypatch):
    monkeypatch.setattr(video_module, "h264_available", lambda: False)
    src = tmp_path / "src.avi"
    write_avi(src, frames=12, size=(96, 64))
    summary = process_video(src, NoFaces(), tmp_path / "out.mp4", None, progress=False)
    assert summary.codec == "mp4v"
    assert _stream_of(tmp_path / "out.mp4")[:4] == ("mpeg4", 12, 96, 64)


def test_an_odd_sized_video_comes_out_h264_one_pixel_smaller(tmp_path):
    src = tmp_path / "odd.mkv"  # OpenCV's writers round odd sizes down: write the source with PyAV
    with av.open(str(src), "w") as container:
        stream = container.add_stream("ffv1", 25)
        stream.width, stream.height, stream.pix_fmt = 95, 63, "yuv444p"
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(np.full((63, 95, 3), i * 10, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    summary = process_video(src, NoFaces(), tmp_path / "out.mp4", None, progress=False)
    assert (summary.codec, summary.width, summary.height, summary.frames) == ("h264", 95, 63, 12)
    assert _stream_of(tmp_path / "out.mp4") == ("h264", 12, 94, 62, "yuv420p")


def test_an_interrupted_h264_video_is_still_playable(tmp_path, monkeypatch):
    src = tmp_path / "src.avi"
    write_avi(src, frames=20)
    calls = {"n": 0}

    class StopsAfterFive(NoFaces):
        def update(self, image, timestamp):
            calls["n"] += 1
            if calls["n"] > 5:
                raise KeyboardInterrupt
            return []

    summary = process_video(src, StopsAfterFive(), tmp_path / "o.mp4", None, progress=False)
    assert summary.interrupted and summary.frames == 5 and summary.complete
    assert _stream_of(tmp_path / "o.mp4")[:2] == ("h264", 5)


def test_nan_in_a_kaggle_cell_is_not_a_coordinate_error(tmp_path):
    """NaN stays the missing-point marker in every reader (``nan`` typed into a CSV cell)."""
    kaggle = tmp_path / "training.csv"
    write_kaggle(kaggle, [["nan"] + ["30"] * 29])
    ds = open_dataset(kaggle)
    assert not ds.masks[0, 0] and ds.masks[0, 1:].all() and not math.isnan(float(ds.keypoints[0, 0, 0]))
