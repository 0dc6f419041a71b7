"""Folder runs and several inputs: one record per image whatever the images are, no hang, no
shared output names, resume keyed on resolved paths, torn results.jsonl repaired, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT, assert_valid_output, face, save
from PIL import Image

import facepoints
from facepoints.cli.main import main
from facepoints.detection import Detections, FaceDetector, register_detector
from facepoints.detection import base as detection_base
from facepoints.files import detect_files, list_images
from facepoints.imageio import ImageReadError
from facepoints.landmarker import FaceLandmarker

HANG = 120  # seconds: far above the few seconds these runs take, so only a hang trips it
POISON = (1, 2, 3)  # top-left pixel of the image whose landmark step fails


class ThinFailingDetector(FaceDetector):
    """One face in the middle of any image, found after the downscale that once crashed a
    folder run: ``cv2.resize`` to a zero size raises on a 1xN or Nx1 image, inside detection."""

    @classmethod
    def available(cls) -> bool:
        return True

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        cv2.resize(image, (w // 8, h // 8))
        return Detections(np.array([[w / 4, h / 4, 3 * w / 4, 3 * h / 4]], np.float32), np.array([0.9], np.float32))


class ExitingDetector(FaceDetector):
    """Calls ``sys.exit`` (a BaseException, which no per-image handler takes) on every image."""

    @classmethod
    def available(cls) -> bool:
        return True

    def detect(self, image: np.ndarray) -> Detections:
        sys.exit("detector gave up")


@pytest.fixture(scope="module", autouse=True)
def test_detectors():
    """The two test detectors, registered by name for this module only (the registry is restored after)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(detection_base, "_DETECTORS", dict(detection_base._DETECTORS))
        register_detector("test_folders")(ThinFailingDetector)
        register_detector("test_exits")(ExitingDetector)
        yield


def within(seconds: float, fn, *args):
    """``fn(*args)`` run in a thread; fails the test instead of hanging when it does not end."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"no result after {seconds} s: the run hangs")
    if "error" in box:
        raise box["error"]
    return box["value"]


def make_mixed(folder: Path) -> dict[str, str]:
    """A folder of everything a real one may hold; returns each image's expected outcome by its
    path inside the folder: "faces", "error", or "skip" (seen through a link, recorded once)."""
    poisoned = face(5)
    poisoned[0, 0] = POISON
    save(folder / "good.png", face(0))
    save(folder / "x.jpg", face(1))
    save(folder / "x.png", face(2))  # same stem as x.jpg
    save(folder / "x.jpg.png", face(3))  # stem equal to x.jpg's name
    save(folder / "poison.png", poisoned)
    save(folder / "wide.png", np.full((1, 300, 3), 128, np.uint8))
    save(folder / "tall.png", np.full((300, 1, 3), 128, np.uint8))
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    whole = (folder / "good.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (folder / "notes.txt").write_text("not an image")
    save(folder / "a" / "x.jpg", face(4))  # same name as ./x.jpg, one folder down
    save(folder / "a" / "b" / "deep.png", face(6))
    os.symlink("..", folder / "a" / "b" / "loop")  # a link back up: a loop
    os.symlink("good.png", folder / "link.png")  # a second name for good.png
    os.mkfifo(folder / "pipe.png")  # reading it would wait for ever
    expected = {"good.png": "faces", "x.jpg": "faces", "x.png": "faces", "x.jpg.png": "faces", "a/x.jpg": "faces"}
    expected |= {"a/b/deep.png": "faces", "poison.png": "error", "wide.png": "error", "tall.png": "error"}
    expected |= {"zero.jpg": "error", "corrupt.jpg": "error", "truncated.png": "error", "pipe.png": "error"}
    return expected | {"link.png": "skip"}


def records(jsonl: Path) -> list[dict]:
    """Every line of ``jsonl`` as a record, each checked against the output schema."""
    text = jsonl.read_text()
    assert text.endswith("\n")
    out = [json.loads(line) for line in text.splitlines()]
    for record in out:
        assert_valid_output(record)
    return out


def by_image(recs: list[dict], folder: Path) -> dict[str, dict]:
    """Records keyed by the image's path inside ``folder``; fails on any image recorded twice."""
    keys = [os.path.relpath(os.path.realpath(r["image"]), os.path.realpath(folder)) for r in recs]
    assert len(keys) == len(set(keys)), f"images recorded more than once: {sorted(keys)}"
    return dict(zip(keys, recs))


@pytest.fixture(scope="module")
def landmarker() -> FaceLandmarker:
    return FaceLandmarker("test_folders", "fast")


@pytest.fixture
def poisoned_batches(landmarker, monkeypatch):
    """The landmark step raises for any batch holding the poisoned image."""
    real = landmarker.predictor.predict_batch

    def predict_batch(images, boxes, *args, **kwargs):
        if any(tuple(im[0, 0]) == POISON for im in images):
            raise RuntimeError("poisoned batch")
        return real(images, boxes, *args, **kwargs)

    monkeypatch.setattr(landmarker.predictor, "predict_batch", predict_batch)
    return landmarker


def run_folder(inputs, landmarker, out, **kwargs) -> list:
    return within(HANG, lambda: list(detect_files(inputs, landmarker, out, progress=False, **kwargs)))


def test_mixed_folder_gives_one_record_per_image_and_separate_outputs(tmp_path, poisoned_batches):
    folder = tmp_path / "photos"
    expected = make_mixed(folder)
    out = tmp_path / "res"
    results = run_folder([folder], poisoned_batches, out, batch=4)
    recorded = by_image(records(out / "results.jsonl"), folder)
    want = {k: v for k, v in expected.items() if v != "skip"}
    assert set(recorded) == set(want) and len(results) == len(want)
    for name, outcome in want.items():
        assert ("error" in recorded[name]) == (outcome == "error"), (name, recorded[name])
        if outcome == "faces":
            assert len(recorded[name]["faces"]) == 1
    assert "landmarks failed (RuntimeError: poisoned batch)" in recorded["poison.png"]["error"]
    assert "face detection failed (error:" in recorded["wide.png"]["error"]  # cv2.error, caught
    assert "not a regular file" in recorded["pipe.png"]["error"]
    assert all(recorded[name]["error"].startswith(f"{folder / name}: ") for name in want if want[name] == "error")
    pngs = sorted(str(p.relative_to(out)) for p in out.rglob("*.landmarks.png"))
    names = ["good", "x.jpg", "x.png", "x.jpg.png", "a/x", "a/b/deep"]
    assert pngs == sorted(f"{name}.landmarks.png" for name in names)
    images = {(out / p).read_bytes() for p in pngs}
    assert len(images) == len(pngs)  # six different pictures, none written over another


def test_rerun_skips_by_resolved_path_and_resumes_an_interrupted_run(tmp_path, poisoned_batches, monkeypatch):
    landmarker = poisoned_batches
    folder = tmp_path / "photos"
    expected = make_mixed(folder)
    want = {k for k, v in expected.items() if v != "skip"}
    out = tmp_path / "res"
    jsonl = out / "results.jsonl"
    monkeypatch.chdir(tmp_path)

    def interrupted() -> None:  # a run stopped after five images (the generator closed mid-way)
        run = detect_files(["photos"], landmarker, "res", progress=False, batch=2)
        for _ in zip(range(5), run):
            pass
        run.close()

    within(HANG, interrupted)
    lines = jsonl.read_text().splitlines(keepends=True)
    assert 5 <= len(lines) < len(want)  # the five results, and any others saved before it stopped
    jsonl.write_text("".join(lines[:-1]) + lines[-1][:40])  # the last record torn by a kill
    again = run_folder([folder.resolve()], landmarker, out)  # typed differently: an absolute path
    assert sum(r.skipped for r in again) == len(lines) - 1 and len(again) == len(want)
    recorded = by_image(records(jsonl), folder)
    assert set(recorded) == want
    before = jsonl.read_bytes()
    third = run_folder([folder / ".." / "photos"], landmarker, out)
    assert all(r.skipped for r in third) and len(third) == len(want)
    assert sum(r.error is not None for r in third) == sum(v == "error" for v in expected.values())
    assert jsonl.read_bytes() == before


def test_a_last_record_missing_only_its_newline_is_kept(tmp_path, landmarker):
    folder = tmp_path / "in"
    for k in range(3):
        save(folder / f"f{k}.png", face(k))
    out = tmp_path / "out"
    run_folder([folder], landmarker, out)
    jsonl = out / "results.jsonl"
    jsonl.write_text(jsonl.read_text().rstrip("\n"))
    again = run_folder([folder], landmarker, out)
    assert [r.skipped for r in again] == [True, True, True]
    assert len(records(jsonl)) == 3


def test_output_folder_inside_the_input_is_never_read_back(tmp_path, landmarker):
    folder = tmp_path / "photos"
    save(folder / "f0.png", face(0))
    save(folder / "sub" / "f1.png", face(1))
    for out in (folder / "res", folder):  # inside the input folder, and the input folder itself
        for _ in range(2):
            run_folder([folder], landmarker, out)
        recorded = by_image(records(out / "results.jsonl"), folder)
        assert set(recorded) == {"f0.png", "sub/f1.png"}
    assert list_images(folder) == [folder / "f0.png", folder / "sub" / "f1.png"]  # the outputs are no inputs
    assert (folder / "sub" / "f1.landmarks.png").is_file() and (folder / "res" / "sub" / "f1.landmarks.png").is_file()


def test_a_folder_that_cannot_be_listed_is_an_error_record(tmp_path, landmarker, monkeypatch):
    folder = tmp_path / "photos"
    save(folder / "f0.png", face(0))
    save(folder / "locked" / "f1.png", face(1))
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)  # as root, chmod cannot lock a folder
    run_folder([folder], landmarker, tmp_path / "res")
    recorded = by_image(records(tmp_path / "res" / "results.jsonl"), folder)
    assert set(recorded) == {"f0.png", "locked"} and "faces" in recorded["f0.png"]
    assert recorded["locked"]["error"] == f"{folder / 'locked'}: cannot list this folder (Permission denied)"


def test_two_folders_with_the_same_names_into_one_output(tmp_path, landmarker):
    for k, name in enumerate(("p1", "p2")):
        save(tmp_path / name / "a.jpg", face(k))
    out = tmp_path / "res"
    run_folder([tmp_path / "p1", tmp_path / "p2"], landmarker, out)
    assert set(by_image(records(out / "results.jsonl"), tmp_path)) == {"p1/a.jpg", "p2/a.jpg"}
    assert (out / "p1" / "a.landmarks.png").read_bytes() != (out / "p2" / "a.landmarks.png").read_bytes()


def test_cli_several_files_a_bad_one_is_recorded_and_the_others_done(tmp_path, capsys):
    good = save(tmp_path / "in" / "good.jpg", face(0))
    bad = tmp_path / "in" / "bad.jpg"
    bad.write_bytes(b"garbage")
    grey = tmp_path / "in" / "grey.png"
    Image.fromarray(face(1)[:, :, 0]).save(grey)
    same = save(tmp_path / "other" / "good.jpg", face(2))  # same name, another folder
    out = tmp_path / "out"
    opts = ["--out", str(out), "--detector", "test_folders", "--model", "fast"]
    assert within(HANG, main, ["detect", str(good), str(bad), str(grey), str(same), *opts]) == 3
    captured = capsys.readouterr()
    assert f"error: {bad}: not a readable image" in captured.err and "1 image(s) failed" in captured.err
    assert "Traceback" not in captured.err
    docs = {p.relative_to(out).as_posix(): json.loads(p.read_text()) for p in out.rglob("*.landmarks.json")}
    assert set(docs) == {"in/good.landmarks.json", "in/bad.landmarks.json", "in/grey.landmarks.json",
                         "other/good.landmarks.json"}  # fmt: skip
    for doc in docs.values():
        assert_valid_output(doc)
    assert "error" in docs["in/bad.landmarks.json"]
    assert [len(docs[k]["faces"]) for k in ("in/good.landmarks.json", "in/grey.landmarks.json")] == [1, 1]
    assert within(HANG, main, ["detect", str(good), *opts]) == 0


def test_cli_usage_errors_are_one_line_without_traceback(tmp_path, capsys):
    save(tmp_path / "f.png", face(0))
    (tmp_path / "taken").write_text("a file")
    opts = ["--detector", "test_folders", "--model", "fast"]
    assert main(["detect", str(tmp_path / "f.png"), "--out", str(tmp_path / "taken"), *opts]) == 1
    assert main(["detect", str(tmp_path / "missing.png"), "--out", str(tmp_path / "o"), *opts]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("facepoints:")] == [
        f"facepoints: error: {tmp_path / 'taken'}: the output folder is an existing file",
        f"facepoints: error: {tmp_path / 'missing.png'}: no such file or folder",
    ]
    assert not (tmp_path / "o").exists()  # nothing made before the arguments are checked


def test_a_detector_that_exits_stops_the_run_instead_of_hanging(tmp_path):
    save(tmp_path / "in" / "f.png", face(0))
    landmarker = FaceLandmarker("test_exits", "fast")
    with pytest.raises(SystemExit, match="detector gave up"):
        run_folder([tmp_path / "in"], landmarker, tmp_path / "out")


def test_the_python_api_raises_facepoints_errors_or_finds_nothing(tmp_path):
    lm = FaceLandmarker(model="fast")
    for image in (np.zeros((1, 3000, 3), np.uint8), np.zeros((3000, 1, 3), np.uint8), np.zeros((0, 5, 3), np.uint8)):
        assert lm.detect(image) == []
    (tmp_path / "bad.jpg").write_bytes(b"garbage")
    for bad in (tmp_path / "bad.jpg", tmp_path / "missing.jpg", np.zeros((4, 4, 2), np.uint8)):
        with pytest.raises(ImageReadError):
            facepoints.detect(bad)


def test_cli_folder_run_in_a_subprocess_with_the_default_detector(tmp_path):
    """The reported hang, end to end: the real CLI and detector on the mixed folder, under a timeout."""
    folder = tmp_path / "photos"
    expected = make_mixed(folder)
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "facepoints", "detect", str(folder), "--out", str(out), "--no-progress"]
    cmd += ["--model", "fast"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG, cwd=ROOT, env=env)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and "image(s) failed" in proc.stderr
    recorded = by_image(records(out / "results.jsonl"), folder)
    assert set(recorded) == {k for k, v in expected.items() if v != "skip"}
    assert {"zero.jpg", "corrupt.jpg", "truncated.png", "pipe.png"} <= {k for k, r in recorded.items() if "error" in r}
    assert all("faces" in recorded[k] for k in ("wide.png", "tall.png", "good.png"))  # 1xN: no face, no error
