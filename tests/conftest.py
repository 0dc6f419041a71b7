"""Shared fixtures: where ../shared lives, and small datasets written by the tests themselves."""

from __future__ import annotations

import os
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from PIL import Image

from facepoints.datasets import make_synthetic_sample
from facepoints.schema import output_schema

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEPOINTS_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
ASSETS = SHARED / "assets"

needs_shared = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not present")


@pytest.fixture(scope="module")
def one_torch_thread():
    """PyTorch on one thread for a test module (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``).
    The tests' tiny models gain little from a second thread and lose much when the cores are shared: a
    one-epoch test run took 3 s on one thread and 16 s on two beside a training run on 2 cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def face_samples():
    """Four synthetic faces with exact labels."""
    return [make_synthetic_sample(seed, size=160) for seed in range(4)]


def write_udacity(folder: Path, samples, name: str = "training") -> Path:
    """Write samples as a Udacity split: folder/name/*.png + folder/name_frames_keypoints.csv."""
    images = folder / name
    images.mkdir(parents=True)
    lines = ["," + ",".join(str(i) for i in range(136))]
    for k, s in enumerate(samples):
        fname = f"Person_{chr(65 + k % 3)}_{k:02d}.png"
        Image.fromarray(s.image).save(images / fname)
        lines.append(fname + "," + ",".join(f"{v + 1:.3f}" for v in s.keypoints.reshape(-1)))  # files are 1-based
    csv = folder / f"{name}_frames_keypoints.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def write_pts_folder(folder: Path, samples, header: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, s in enumerate(samples):
        Image.fromarray(s.image).save(folder / f"img_{k}.jpg", quality=95)
        body = "\n".join(f"{x + 1:.3f} {y + 1:.3f}" for x, y in s.keypoints)  # 300-W files are 1-based
        text = f"version: 1\nn_points:  {len(s.keypoints)}\n{{\n{body}\n}}\n" if header else body + "\n"
        (folder / f"img_{k}.pts").write_text(text)
    return folder


def write_asf(path: Path, points_rel: np.ndarray, paths: list[int], image_name: str) -> None:
    lines = ["######", "# test shape", "", str(len(points_rel)), ""]
    for i, ((x, y), p) in enumerate(zip(points_rel, paths)):
        lines.append(f"{p} \t0 \t{x:.8f} \t{y:.8f} \t{i} \t{max(i - 1, 0)} \t{min(i + 1, len(points_rel) - 1)}\t0.0\t0.0\t0.0")
    lines += ["", "# host image", image_name, ""]
    path.write_text("\n".join(lines))


def kaggle_columns() -> list[str]:
    from facepoints.datasets.kaggle import KEYPOINT_COLUMNS

    return KEYPOINT_COLUMNS


def set_eyelids(keypoints: np.ndarray, closed: set[int], opening: float) -> None:
    """Move the eyelid points of 68-point faces (in place): shut on the corner line for the faces
    in ``closed``, open by ``opening`` x the eye width on each side for the others."""
    for i in range(len(keypoints)):
        for eye in (range(36, 42), range(42, 48)):
            p = list(eye)
            mid = (keypoints[i, p[0], 1] + keypoints[i, p[3], 1]) / 2
            half = 0 if i in closed else opening * abs(keypoints[i, p[3], 0] - keypoints[i, p[0], 0])
            keypoints[i, p[1:3], 1], keypoints[i, p[4:6], 1] = mid - half, mid + half


def assert_valid_output(record: dict) -> None:
    """Fail unless ``record`` is valid under the shipped output schema (resources/output.schema.json)."""
    jsonschema.validate(record, output_schema())


def face(seed: int, size: int = 96) -> np.ndarray:
    """A synthetic face image (see facepoints.datasets.make_synthetic_sample)."""
    return make_synthetic_sample(seed, size).image


def save(path: Path, image: np.ndarray) -> Path:
    """Write ``image`` to ``path`` (folders made as needed); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path
