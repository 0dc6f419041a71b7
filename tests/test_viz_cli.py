"""Drawing and the ``facepoints data`` commands."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import write_udacity

from facepoints.cli.main import main
from facepoints.datasets import make_synthetic_sample, open_dataset
from facepoints.imageio import load_image
from facepoints.viz import GROUP_COLOURS, dataset_grid, draw_keypoints, make_grid


def test_draw_keypoints_colours_points_by_group_and_skips_masked():
    s = make_synthetic_sample(0, 200)
    canvas = np.zeros_like(s.image)
    mask = np.ones(68, bool)
    mask[30] = False
    out = draw_keypoints(canvas, s.keypoints, "ibug68", mask, contours=False, radius=3)
    assert out is not canvas and not canvas.any()
    x, y = np.round(s.keypoints[8]).astype(int)
    assert tuple(out[y, x]) == GROUP_COLOURS["jaw"]
    x, y = np.round(s.keypoints[48]).astype(int)
    assert tuple(out[y, x]) == GROUP_COLOURS["mouth"]
    x, y = np.round(s.keypoints[30]).astype(int)
    assert tuple(out[y, x]) != GROUP_COLOURS["nose"]  # masked: not drawn
    with pytest.raises(ValueError, match="15 points given for layout ibug68"):
        draw_keypoints(canvas, s.keypoints[:15], "ibug68")


def test_draw_contours_and_numbers_add_ink():
    s = make_synthetic_sample(1, 200)
    canvas = np.zeros_like(s.image)
    plain = draw_keypoints(canvas, s.keypoints, "ibug68", contours=False)
    full = draw_keypoints(canvas, s.keypoints, "ibug68", numbers=True, box=(10, 10, 190, 190))
    assert (full > 0).sum() > (plain > 0).sum()


def test_grid_layout():
    tiles = [np.full((10, 12, 3), k, np.uint8) for k in range(5)]
    grid = make_grid(tiles, cols=3, pad=2)
    assert grid.shape == (2 * 12 + 2, 3 * 14 + 2, 3)
    assert (grid[2:12, 2:14] == 0).all() and (grid[14:24, 16:28] == 4).all()


def test_dataset_grid_with_augmentation_is_deterministic():
    ds = open_dataset("synthetic:6")
    a = dataset_grid(ds, n=4, augment="strong", tile=64)
    b = dataset_grid(ds, n=4, augment="strong", tile=64)
    assert a.shape == (2 * 68 + 4, 2 * 68 + 4, 3) and np.array_equal(a, b)


def test_cli_data_show_default_synthetic_sample(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["data", "show", "--out", str(out), "--n", "4"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert load_image(out).shape[2] == 3


def test_cli_data_show_and_info_on_a_written_dataset(tmp_path, capsys):
    samples = [make_synthetic_sample(k, 120) for k in range(3)]
    write_udacity(tmp_path, samples)
    assert main(["data", "show", str(tmp_path / "training"), "--augment", "light", "--out", str(tmp_path / "g.png")]) == 0
    assert main(["data", "info", str(tmp_path / "training")]) == 0
    text = capsys.readouterr().out
    assert "samples     3" in text and "identities  3" in text and "ibug68" in text


def test_cli_bad_input_exits_non_zero_with_a_message(tmp_path, capsys):
    assert main(["data", "show", str(tmp_path / "missing"), "--out", str(tmp_path / "g.png")]) == 1
    assert "facepoints: error:" in capsys.readouterr().err
    assert not (tmp_path / "g.png").exists()


def test_console_script_entry_point(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "facepoints", "data", "show", "--n", "2", "--out", str(tmp_path / "g.png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.png").is_file()
