"""Every verb's JSON validates against the shipped output schema, and the schema can fail."""

from __future__ import annotations

import json

import cv2
import jsonschema
import numpy as np
import pytest

import facepoints
from facepoints.cli.main import main
from facepoints.imageio import load_image
from facepoints.landmarker import sample_image_path
from facepoints.schema import SCHEMA_VERSION, output_schema
from conftest import assert_valid_output


@pytest.fixture(scope="module")
def astronaut_record(tmp_path_factory):
    out = tmp_path_factory.mktemp("detect")
    assert main(["detect", str(sample_image_path()), "--out", str(out), "--no-progress", "--pose", "--eyes", "--expression"]) == 0
    return json.loads((out / "astronaut.landmarks.json").read_text())


def test_detect_file_output_is_valid_and_complete(astronaut_record):
    assert_valid_output(astronaut_record)
    assert astronaut_record["schema"] == SCHEMA_VERSION
    (face,) = astronaut_record["faces"]
    assert len(face["points"]) == len(face["point_confidence"]) == 68
    assert face["keypoints5"] is not None and {"pose", "eyes", "expression"} <= set(face)
    assert abs(np.mean(face["point_confidence"]) - face["landmark_score"]) < 1e-3


def test_detect_json_on_stdout_is_valid(tmp_path, capsys):
    assert main(["detect", str(sample_image_path()), "--out", str(tmp_path), "--json", "--no-draw", "--no-progress"]) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    assert_valid_output(json.loads(line))


@pytest.mark.parametrize("damage", ["no point confidence", "four keypoints", "no schema", "confidence above 1"])
def test_the_schema_rejects_damaged_records(astronaut_record, damage):
    record = json.loads(json.dumps(astronaut_record))
    face = record["faces"][0]
    if damage == "no point confidence":
        del face["point_confidence"]
    elif damage == "four keypoints":
        face["keypoints5"] = face["keypoints5"][:4]
    elif damage == "no schema":
        del record["schema"]
    else:
        face["point_confidence"][0] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, output_schema())


@pytest.mark.slow
def test_box_has_one_meaning_in_detect_and_video(tmp_path):
    """The box in video frames is the detector's box in detect's convention, also between detections."""
    image = load_image(sample_image_path())
    h, w = image.shape[:2]
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    for _ in range(6):
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()
    out_json = tmp_path / "clip.jsonl"
    code = main(["video", str(clip), "--out", str(tmp_path / "o.mp4"), "--json", str(out_json), "--detect-every", "3", "--no-progress"])
    assert code == 0
    frames = [json.loads(line) for line in out_json.read_text().splitlines()]
    assert len(frames) == 6
    for record in frames:
        assert_valid_output(record)
    (still,) = facepoints.detect(image)
    for record in frames:
        (face,) = record["faces"]
        # a still clip: every frame's box is within a few pixels of detect's (mp4 compression moves the points a little)
        assert np.abs(np.array(face["box"]) - still.box).max() < 0.05 * (still.box[2] - still.box[0])
    assert frames[0]["faces"][0]["keypoints5"] is not None and frames[1]["faces"][0]["keypoints5"] is None
