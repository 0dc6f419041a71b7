"""The Ray engine: what it reads, the local engine's records (same images, same errors, same results.jsonl),
Parquet shards, resume, actors that die without losing an image, and the one-line error without the extra."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ASSETS, face, save

from facepoints.cli.main import main
from facepoints.detection import Detections, FaceDetector
from facepoints.engines import ray_engine
from facepoints.files import detect_files
from facepoints.imageio import ImageReadError
from facepoints.landmarker import FaceLandmarker

needs_ray = pytest.mark.skipif(find_spec("ray") is None, reason="Ray is not installed (pip install 'facepoints[ray]')")
POISON_WIDTH = 77  # the image that kills the actor which reads it


class CentreDetector(FaceDetector):
    """One face in the middle of any image, after the downscale that fails on a 1xN image (so detection
    errors happen too); plain attributes only, so Ray can ship it to its actors."""

    name = "test_centre"

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        cv2.resize(image, (w // 8, h // 8))
        return Detections(np.array([[w / 4, h / 4, 3 * w / 4, 3 * h / 4]], np.float32), np.array([0.9], np.float32))


class KillingDetector(CentreDetector):
    """Kills its process on the poison image: every time, or only until ``flag`` exists (a crash once)."""

    def __init__(self, flag: str | None) -> None:
        super().__init__()
        self.flag = flag

    def detect(self, image: np.ndarray) -> Detections:
        if image.shape[1] == POISON_WIDTH and (self.flag is None or not os.path.exists(self.flag)):
            if self.flag is not None:
                Path(self.flag).touch()
            os._exit(1)  # as abrupt as a kill -9: no exception reaches Ray
        return super().detect(image)


def make_folder(folder: Path, faces: int = 3) -> Path:
    """Faces, a corrupt file, a 1xN image (detection fails), a sub-folder, a broken link and a non-image."""
    for k in range(faces):
        save(folder / f"face{k}.png", face(k))
    save(folder / "sub" / "deep.png", face(9, 120))
    save(folder / "wide.png", np.full((1, 300, 3), 128, np.uint8))
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("not an image")
    os.symlink("gone.png", folder / "broken.png")
    return folder


def local_records(inputs: list, out: Path, landmarker: FaceLandmarker) -> list[dict]:
    """The local engine's records of a folder run (its results.jsonl)."""
    results = list(detect_files(inputs, landmarker, out, draw=False, progress=False))
    assert results
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def assert_same_records(ours: list[dict], theirs: list[dict]) -> None:
    """The same images in the same order with the same fields; points and boxes within 0.001 px."""
    assert [r["image"] for r in ours] == [r["image"] for r in theirs]
    for a, b in zip(ours, theirs):
        assert a.keys() == b.keys() and a.get("error") == b.get("error"), (a, b)
        for fa, fb in zip(a.get("faces", []), b.get("faces", []), strict=True):
            for name in ("points", "box"):
                np.testing.assert_allclose(fa[name], fb[name], rtol=0, atol=1e-3)
            assert {k: v for k, v in fa.items() if k not in ("points", "box")} == {
                k: v for k, v in fb.items() if k not in ("points", "box")
            }


def test_plan_reads_folders_globs_lists_parquet_and_uris(tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pytest.importorskip("fsspec")

    folder = make_folder(tmp_path / "photos", faces=2)
    (tmp_path / "list.txt").write_text(f"# a comment\n{folder / 'face0.png'}\n\n{tmp_path / 'missing.jpg'}\n")
    pq.write_table(pa.table({"path": [str(folder / "face1.png"), "s3://bucket/x.jpg"]}), tmp_path / "paths.parquet")
    monkeypatch.chdir(tmp_path)
    plan = ray_engine.plan_inputs(["photos", "list.txt", "paths.parquet", "photos/*.png", folder.as_uri() + "/sub"])
    images = [p.image for p in plan]
    # the folder as the local engine lists it; the list's and the Parquet file's new entries; the glob and
    # the URI add nothing new but the URI's image under its own name (URIs are compared as written)
    assert images == [
        "photos/broken.png", "photos/corrupt.jpg", "photos/face0.png", "photos/face1.png", "photos/wide.png",
        "photos/sub/deep.png", str(tmp_path / "missing.jpg"), "s3://bucket/x.jpg", f"{folder.as_uri()}/sub/deep.png",
    ]  # fmt: skip
    errors = {p.image: p.error for p in plan}
    assert "not a regular file" in errors["photos/broken.png"] and errors["photos/face0.png"] is None
    assert all(os.path.isabs(p.source) or "://" in p.source for p in plan)
    with pytest.raises(ImageReadError, match="no such file"):
        ray_engine.plan_inputs(["nothing-here"])
    with pytest.raises(ImageReadError, match="no image file matches"):
        ray_engine.plan_inputs(["photos/*.gif"])
    pq.write_table(pa.table({"a": ["x"], "b": ["y"]}), tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="no column named path"):
        ray_engine.plan_inputs(["other.parquet"])


def test_batches_give_the_local_engines_records(tmp_path):
    pytest.importorskip("fsspec")
    folder = make_folder(tmp_path / "photos")
    landmarker = FaceLandmarker(CentreDetector(), "fast")
    expected = local_records([folder], tmp_path / "local", landmarker)
    plan = ray_engine.plan_inputs([folder])
    got = ray_engine.detect_planned(plan, landmarker, {"pose": False, "eyes": False, "expression": False})
    assert got == expected  # the same code builds them: equal, not merely close
    assert sum("faces" in r for r in got) == 4 and sum("error" in r for r in got) == 3
    assert [ray_engine._record(ray_engine._row(r)) for r in got] == got  # a Parquet row holds the whole record
    # an image read through fsspec (a URI) has the faces of the same file read from disk
    uri = ray_engine.Planned((folder / "face0.png").as_uri(), (folder / "face0.png").as_uri(), "k")
    by_uri = ray_engine.detect_planned([uri], landmarker, {})[0]
    assert by_uri["faces"] == next(r for r in expected if r["image"].endswith("face0.png"))["faces"]


def test_engine_ray_without_the_extra_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ray_engine, "find_spec", lambda name: None)
    image = save(tmp_path / "a.png", face(0))
    assert main(["detect", str(image), "--engine", "ray", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["facepoints: error: --engine ray needs Ray and pyarrow: pip install 'facepoints[ray]'"]
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def ray_cluster():
    """Ray on this machine for the module's tests, stopped after them; this module's detectors go to
    the actors by value (the actors cannot import a test module)."""
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield ray
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.mark.slow
@needs_ray
def test_ray_run_gives_the_local_records_in_parquet_and_resumes(tmp_path, ray_cluster, capsys):
    import pyarrow.parquet as pq

    folder = make_folder(tmp_path / "photos", faces=5)
    for photo in sorted(ASSETS.glob("*.jpg"))[:3]:  # and real photos, when ../shared is there
        (folder / "real").mkdir(exist_ok=True)
        shutil.copy(photo, folder / "real" / photo.name)
    inputs = [str(folder)]
    expected = local_records(inputs, tmp_path / "local", FaceLandmarker(CentreDetector(), "fast"))
    out = tmp_path / "ray"
    settings = {"detector": CentreDetector(), "model": "fast"}
    run = ray_engine.detect_ray(inputs, out, settings, actors=2, batch=2, shard_size=3, progress=False)
    assert (run.planned, run.processed, run.skipped, run.failed) == (len(expected), len(expected), 0, 3)
    assert_same_records(run.records, expected)
    assert (out / "results.jsonl").read_bytes() == (tmp_path / "local" / "results.jsonl").read_bytes()

    shards = sorted((out / "parquet").glob("*.parquet"))
    assert len(shards) >= 2 and [str(s) for s in shards] == run.shards
    table = pq.read_table(out / "parquet")
    assert table.column_names == ["schema", "image", "width", "height", "num_faces", "faces", "error"]
    assert table.num_rows == len(expected) and max(pq.read_metadata(s).num_rows for s in shards) <= 3
    assert sorted(map(json.dumps, ray_engine.read_records(out))) == sorted(map(json.dumps, expected))

    again = ray_engine.detect_ray(inputs, out, settings, progress=False)  # everything recorded: nothing to do
    assert (again.processed, again.skipped, again.failed_before) == (0, len(expected), 3)
    gone, cut = shards[0], shards[1]
    redo = pq.read_table(gone)["image"].to_pylist() + pq.read_table(cut)["image"].to_pylist()
    gone.unlink()  # a shard never written, and one cut short by a kill: their images are done again
    cut.write_bytes(cut.read_bytes()[:100])
    resumed = ray_engine.detect_ray(inputs, out, settings, progress=False)
    assert (resumed.processed, resumed.skipped) == (len(redo), len(expected) - len(redo)) and not cut.exists()
    assert (out / "results.jsonl").read_bytes() == (tmp_path / "local" / "results.jsonl").read_bytes()

    # the command line with the default detector, one thread per actor: the records of the local engine
    # (all cores), byte for byte, and the exit status of a run with failed images
    local_records(inputs, tmp_path / "local-yunet", FaceLandmarker(None, "fast"))
    code = main(["detect", *inputs, "--engine", "ray", "--model", "fast", "--out", str(tmp_path / "cli"),
                 "--no-progress", "--actors", "1"])  # fmt: skip
    assert code == 3
    assert "records in" in capsys.readouterr().out
    assert (tmp_path / "cli" / "results.jsonl").read_text() == (tmp_path / "local-yunet" / "results.jsonl").read_text()


@pytest.mark.slow
@needs_ray
def test_an_actor_that_dies_loses_no_image(tmp_path, ray_cluster):
    folder = tmp_path / "photos"
    for k in range(6):
        save(folder / f"face{k}.png", face(k))
    save(folder / "poison.png", face(7, POISON_WIDTH))
    flag = tmp_path / "died"
    settings = {"detector": KillingDetector(str(flag)), "model": "fast"}
    run = ray_engine.detect_ray([folder], tmp_path / "out", settings, actors=2, batch=2, progress=False)
    assert flag.exists()  # an actor did die mid-run ...
    assert run.failed == 0 and len(run.records) == 7  # ... and its batch was redone on a restarted actor
    assert all(len(r["faces"]) == 1 for r in run.records)


@pytest.mark.slow
@needs_ray
def test_a_batch_that_always_kills_its_actor_gets_error_records(tmp_path, ray_cluster):
    folder = tmp_path / "photos"
    save(folder / "a.png", face(0))
    save(folder / "poison.png", face(7, POISON_WIDTH))
    settings = {"detector": KillingDetector(None), "model": "fast"}
    run = ray_engine.detect_ray([folder], tmp_path / "out", settings, actors=1, batch=1, progress=False)
    assert run.failed == 1 and len(run.records) == 2
    by_name = {Path(r["image"]).name: r for r in run.records}
    assert len(by_name["a.png"]["faces"]) == 1
    assert "not processed" in by_name["poison.png"]["error"] and by_name["poison.png"]["error"].startswith(str(folder))
