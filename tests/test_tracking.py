"""Video tracking: One-Euro smoothing, stable ids, lost faces, video files in and out, the CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import ASSETS, needs_shared

import facepoints
from facepoints.cli.main import main
from facepoints.landmarker import FaceLandmarker, sample_image_path
from facepoints.tracking import OneEuroFilter, Tracker, box_iou
from facepoints.tracking.clips import ClipPath, make_clip, write_clip
from facepoints.tracking.smoothing import LandmarkSmoother
from facepoints.video import process_video


@pytest.fixture(scope="module")
def landmarker():
    return FaceLandmarker()


@pytest.fixture(scope="module")
def astronaut(landmarker):
    image = facepoints.load_image(sample_image_path())
    (face,) = landmarker.detect(image)
    return image, face.points


def jitter(seq: np.ndarray, truth: np.ndarray) -> float:
    err = seq - truth
    return float(np.linalg.norm(np.diff(err, axis=0), axis=-1).mean())


# ----------------------------------------------------------------------------- smoothing


def test_one_euro_smooths_noise_at_rest_and_follows_motion():
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30
    still = 5 + rng.normal(0, 1, (300, 3))
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    out = np.array([f(x, ti) for x, ti in zip(still, t)])
    assert out[30:].std() < still.std() / 3
    ramp = 100 * t[:, None] + np.zeros((300, 3))  # 100 units per second
    slow, fast = OneEuroFilter(1.0, 0.0), OneEuroFilter(1.0, 1.0)
    lag_slow = np.abs(np.array([slow(x, ti) for x, ti in zip(ramp, t)]) - ramp)[60:].mean()
    lag_fast = np.abs(np.array([fast(x, ti) for x, ti in zip(ramp, t)]) - ramp)[60:].mean()
    assert lag_fast < lag_slow / 5  # beta raises the cutoff with speed: less lag in motion
    f.reset()
    assert np.allclose(f(np.array([9.0, 9, 9]), 0.0), 9)  # a reset filter starts from the new value
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0)


def test_landmark_smoother_follows_rigid_motion_and_calms_point_noise(astronaut):
    _, points = astronaut
    rng = np.random.default_rng(1)
    truth, noisy = [], []
    for k in range(120):
        m = cv2.getRotationMatrix2D((256, 256), 5 * np.sin(k / 20), 1 + 0.1 * np.sin(k / 30))
        m[:, 2] += (40 * np.sin(k / 25), 20 * np.sin(k / 15))
        p = cv2.transform(points.reshape(-1, 1, 2).astype(np.float64), m).reshape(-1, 2)
        truth.append(p)
        noisy.append(p + rng.normal(0, 1.0, p.shape))
    truth, noisy = np.array(truth), np.array(noisy)
    smoother = LandmarkSmoother()
    out = np.array([smoother(p, k / 30) for k, p in enumerate(noisy)])
    assert jitter(out, truth) < jitter(noisy, truth) / 3
    assert np.linalg.norm(out - truth, axis=-1).mean() < np.linalg.norm(noisy - truth, axis=-1).mean()


def test_box_iou():
    iou = box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    assert iou[0] == pytest.approx([1.0, 1 / 3, 0.0])


# ----------------------------------------------------------------------------- tracker


@pytest.mark.slow
def test_tracker_keeps_one_id_and_shakes_less_than_per_frame_detection(landmarker, astronaut):
    image, points = astronaut
    clip = list(make_clip(image, points, 40, size=(480, 360), face_width=150, path=ClipPath(shift=(30, 15))))
    truth = np.array([g for _, g in clip])
    tracker = Tracker(landmarker, detect_every=10)
    tracked, raw = [], []
    for k, (frame, _) in enumerate(clip):
        faces = tracker.update(frame, k / 30)
        assert [f.track_id for f in faces] == [0]
        tracked.append(faces[0].points)
        (face,) = landmarker.detect(frame)
        raw.append(face.points)
    tracked, raw = np.array(tracked), np.array(raw)
    assert jitter(tracked[5:], truth[5:]) < jitter(raw[5:], truth[5:]) / 2
    iod = np.linalg.norm(truth[:, 45] - truth[:, 36], axis=1)
    assert (np.linalg.norm(tracked - truth, axis=-1).mean(axis=1) / iod).mean() < 0.08


def test_two_faces_keep_their_own_ids_and_a_vanished_face_is_dropped(landmarker, astronaut):
    image, _ = astronaut
    pair = np.hstack([image, image[:, ::-1]])  # two faces side by side
    tracker = Tracker(landmarker, detect_every=5)
    first = None
    for k in range(12):
        shift = np.float32([[1, 0, 2 * k], [0, 1, k]])
        frame = cv2.warpAffine(pair, shift, (pair.shape[1], pair.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        faces = sorted(tracker.update(frame, k / 30), key=lambda f: f.box[0])
        ids = [f.track_id for f in faces]
        assert len(ids) == 2 and len(set(ids)) == 2
        first = first or ids
        assert ids == first  # left stays left, right stays right
    blank = np.full_like(pair, 128)
    for k in range(12, 15):
        assert tracker.update(blank, k / 30) == []  # the confidence check ends the tracks at once
    faces = tracker.update(pair, 15 / 30)
    assert len(faces) == 2 and min(f.track_id for f in faces) >= 2  # new faces, new ids


# ----------------------------------------------------------------------------- files and CLI


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory, astronaut):
    image, points = astronaut
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    truth = write_clip(path, make_clip(image, points, 24, size=(320, 240), face_width=110, path=ClipPath(shift=(20, 10))), fps=24)
    return path, truth


def test_process_video_keeps_rate_size_and_frame_count(landmarker, clip_file, tmp_path):
    src, truth = clip_file
    out, lines = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    summary = process_video(src, Tracker(landmarker), out, lines, overlay="sunglasses", progress=False)
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(truth) == summary.frames
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(24)
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (320, 240)
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(len(truth)))
    assert records[3]["time"] == pytest.approx(3 / 24, abs=1e-3)
    assert {f["track_id"] for r in records for f in r["faces"]} == {0}
    assert all(len(r["faces"]) == 1 and "pose" in r["faces"][0] for r in records)
    assert not list(tmp_path.glob(".*part*"))


def test_interrupted_video_leaves_finished_outputs(landmarker, clip_file, tmp_path, monkeypatch):
    src, _ = clip_file
    tracker = Tracker(landmarker)
    original = Tracker.update
    calls = {"n": 0}

    def stop_after_five(self, image, timestamp):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return original(self, image, timestamp)

    monkeypatch.setattr(Tracker, "update", stop_after_five)
    summary = process_video(src, tracker, tmp_path / "o.mp4", tmp_path / "o.jsonl", progress=False)
    assert summary.interrupted and summary.frames == 5
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 5
    assert int(cv2.VideoCapture(str(tmp_path / "o.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 5


@pytest.mark.slow
def test_cli_video_and_its_errors(clip_file, tmp_path, capsys):
    src, truth = clip_file
    args = ["video", str(src), "--out", str(tmp_path / "v.mp4"), "--json", str(tmp_path / "v.jsonl"), "--no-progress"]
    assert main(args + ["--smooth", "none", "--detect-every", "3"]) == 0
    assert len((tmp_path / "v.jsonl").read_text().splitlines()) == len(truth)
    assert main(["video", str(tmp_path / "missing.mp4")]) == 1
    assert main(["video", str(src), "--camera", "0"]) == 1
    assert main(["video", "--camera", "97", "--no-progress"]) == 1  # no such camera: a clear error
    assert main(["video", str(src), "--out", str(src)]) == 1  # never overwrite the input
    err = capsys.readouterr().err
    assert "cannot open" in err and "overwrite" in err


@pytest.mark.slow
@needs_shared
def test_shared_photo_clip_comes_out_with_stable_ids(landmarker, tmp_path):
    image = facepoints.load_image(ASSETS / "obamas.jpg")
    faces = landmarker.detect(image)
    points = np.concatenate([f.points for f in faces])
    lo, hi = points.min(axis=0), points.max(axis=0)
    src = tmp_path / "obamas.mp4"
    write_clip(src, make_clip(image, faces[0].points, 30, size=(640, 480), face_width=float(hi[0] - lo[0]) * 0.55, path=ClipPath(shift=(15, 8))))
    summary = process_video(src, Tracker(landmarker), tmp_path / "o.mp4", tmp_path / "o.jsonl", progress=False)
    records = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert summary.frames == 30 and len(records) == 30
    ids = [sorted(f["track_id"] for f in r["faces"]) for r in records]
    assert all(i == ids[0] for i in ids) and len(ids[0]) == 2
