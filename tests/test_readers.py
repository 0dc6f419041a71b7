"""Every dataset reader, on small files the tests write, including malformed ones."""

import math

import numpy as np
import pytest
from conftest import kaggle_columns, write_asf, write_pts_folder, write_udacity
from PIL import Image

from facepoints.datasets import DatasetError, open_dataset, read_kaggle_lookup
from facepoints.datasets.base import ConcatDataset, identity_from_filename
from facepoints.layouts import get_layout

# ------------------------------------------------------------------ udacity


def test_udacity_roundtrip_with_identities(tmp_path, face_samples):
    write_udacity(tmp_path, face_samples)
    for spec in (tmp_path / "training", tmp_path / "training_frames_keypoints.csv", f"udacity:{tmp_path / 'training'}"):
        ds = open_dataset(spec)
        assert len(ds) == 4 and ds.layout == "ibug68"
        s = ds[1]
        assert s.image.shape == (160, 160, 3) and s.image.dtype == np.uint8
        assert np.allclose(s.keypoints, face_samples[1].keypoints, atol=1e-3)
        assert s.mask.all() and s.identity == "Person_B"
    assert ds.identities == ["Person_A", "Person_B", "Person_C", "Person_A"]
    assert identity_from_filename("Luis_Fonsi_21.webp") == "Luis_Fonsi"


def _rewrite_row(csv, row_no, fn):
    lines = csv.read_text().splitlines()
    lines[row_no - 1] = fn(lines[row_no - 1])
    csv.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda line: line.rsplit(",", 1)[0], r"training_frames_keypoints.csv:3: 136 columns"),
        (lambda line: line.replace(",", ",abc,", 1).rsplit(",", 1)[0], r"csv:3 \(Person_B_01.png\): non-numeric coordinate 'abc'"),
        (lambda line: "nobody.png" + line[line.index(",") :], r"csv:3: image .*nobody.png not found"),
    ],
)
def test_udacity_errors_name_file_and_row(tmp_path, face_samples, edit, message):
    csv = write_udacity(tmp_path, face_samples)
    _rewrite_row(csv, 3, edit)
    with pytest.raises(DatasetError, match=message):
        open_dataset(tmp_path / "training")


def test_udacity_unreadable_image_names_row(tmp_path, face_samples):
    write_udacity(tmp_path, face_samples)
    (tmp_path / "training" / "Person_C_02.png").write_bytes(b"broken")
    ds = open_dataset(tmp_path / "training")
    with pytest.raises(DatasetError, match=r"csv:4 \(Person_C_02.png\).*not a readable image"):
        ds[2]


# ------------------------------------------------------------------ 300-W .pts


@pytest.mark.parametrize("header", [True, False])
def test_pts_with_and_without_header(tmp_path, face_samples, header):
    write_pts_folder(tmp_path / "set", face_samples, header=header)
    ds = open_dataset(tmp_path / "set")
    assert len(ds) == 4 and ds.layout == "ibug68"
    assert np.allclose(ds[3].keypoints, face_samples[3].keypoints, atol=1e-3)
    assert ds.identities == [None] * 4


def test_pts_errors(tmp_path, face_samples):
    folder = write_pts_folder(tmp_path / "set", face_samples)
    pts = folder / "img_2.pts"
    good = pts.read_text()
    pts.write_text(good.replace("n_points:  68", "n_points:  67"))
    with pytest.raises(DatasetError, match="img_2.pts: header says n_points 67 but 68"):
        open_dataset(folder)
    lines = good.splitlines()
    pts.write_text("\n".join(lines[:3] + ["1.0 x2"] + lines[4:]))
    with pytest.raises(DatasetError, match=r"img_2.pts:4: non-numeric coordinate 'x2'"):
        open_dataset(folder)
    pts.write_text("\n".join(lines[:3] + lines[4:]).replace("n_points:  68", "n_points:  67"))
    with pytest.raises(DatasetError, match="img_2.pts: 67 points, while .*img_0.pts has 68"):
        open_dataset(folder)
    pts.write_text(good)
    (folder / "img_1.jpg").unlink()
    with pytest.raises(DatasetError, match="img_1.pts: no image beside it"):
        open_dataset(folder)


# ------------------------------------------------------------------ IMM .asf


def test_imm_73_point_files(tmp_path):
    rng = np.random.default_rng(0)
    rel = rng.uniform(0.2, 0.8, (73, 2))
    paths = [0] * 8 + [1] * 8 + [2] * 8 + [3] * 8 + [4, 5] + [6] * 11 + [7] + [8] * 10 + [9] * 3 + [10] * 3 + [11] * 11
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(tmp_path / "01_01.jpg")
    write_asf(tmp_path / "01_01.asf", rel, paths, "01_01.jpg")
    ds = open_dataset(tmp_path)
    assert ds.layout == "imm73" and ds.identities == ["01"]
    assert np.allclose(ds[0].keypoints, rel * [80, 60] - 0.5, atol=1e-4)  # edges -> pixel centres


def test_imm_58_point_markup_is_read_as_is(tmp_path):
    rel = np.random.default_rng(1).uniform(0.2, 0.8, (58, 2))
    paths = [0] * 13 + [1] * 8 + [2] * 8 + [3] * 8 + [4] * 8 + [5] * 8 + [6] * 5
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(tmp_path / "a.jpg")
    write_asf(tmp_path / "02_03.asf", rel, paths, "a.jpg")
    ds = open_dataset(f"imm:{tmp_path}")
    layout = get_layout(ds.layout)
    assert layout.name == "imm58" and layout.num_points == 58 and len(layout.groups) == 7
    assert ds[0].keypoints.shape == (58, 2)
    with pytest.raises(ValueError, match="no horizontal-flip permutation"):
        layout.require_flip()


def test_imm_errors(tmp_path):
    rel = np.full((73, 2), 0.5)
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "x.jpg")
    write_asf(tmp_path / "01_01.asf", rel, [0] * 73, "missing.jpg")
    with pytest.raises(DatasetError, match="01_01.asf: host image .*missing.jpg not found"):
        open_dataset(tmp_path)
    text = (tmp_path / "01_01.asf").read_text().replace("missing.jpg", "x.jpg")
    (tmp_path / "01_01.asf").write_text(text.replace("\n73\n", "\n74\n"))
    with pytest.raises(DatasetError, match="declares 74 points"):
        open_dataset(tmp_path)
    (tmp_path / "01_01.asf").write_text(text.replace("0.50000000", "half", 1))
    with pytest.raises(DatasetError, match=r"01_01.asf:\d+: non-numeric x 'half'"):
        open_dataset(tmp_path)


# ------------------------------------------------------------------ Kaggle


def _pixels(rng):
    return " ".join(str(v) for v in rng.integers(0, 256, 96 * 96))


def _write_kaggle_training(path, rows):
    cols = kaggle_columns()
    lines = [",".join(cols + ["Image"])]
    lines += [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def test_kaggle_training_keeps_rows_with_missing_points(tmp_path):
    rng = np.random.default_rng(0)
    full = [f"{v:.2f}" for v in rng.uniform(10, 80, 30)]
    partial = list(full)
    for i in range(4, 30):  # only both eye centres labelled
        partial[i] = ""
    _write_kaggle_training(tmp_path / "training.csv", [full + [_pixels(rng)], partial + [_pixels(rng)]])
    ds = open_dataset(tmp_path / "training.csv")
    assert len(ds) == 2 and ds.layout == "kaggle15"
    s = ds[1]
    assert s.image.shape == (96, 96, 3) and (s.image[..., 0] == s.image[..., 2]).all()
    assert s.mask.tolist() == [True, True] + [False] * 13
    assert np.allclose(ds[0].keypoints.reshape(-1), [float(v) for v in full])


def test_kaggle_test_file_and_lookup(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "test.csv").write_text("ImageId,Image\n1," + _pixels(rng) + "\n2," + _pixels(rng) + "\n")
    ds = open_dataset(tmp_path / "test.csv")
    assert len(ds) == 2 and not ds.masks.any() and ds.paths[1].endswith("ImageId=2")
    (tmp_path / "IdLookupTable.csv").write_text(
        "RowId,ImageId,FeatureName,Location\n1,1,left_eye_center_x,\n2,1,nose_tip_y,\n"
    )
    rows = read_kaggle_lookup(tmp_path / "IdLookupTable.csv")
    assert [(r.row_id, r.image_id, r.feature) for r in rows] == [(1, 1, "left_eye_center_x"), (2, 1, "nose_tip_y")]
    (tmp_path / "IdLookupTable.csv").write_text("RowId,ImageId,FeatureName,Location\n1,1,ear_x,\n")
    with pytest.raises(DatasetError, match="IdLookupTable.csv:2: unknown FeatureName 'ear_x'"):
        read_kaggle_lookup(tmp_path / "IdLookupTable.csv")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r[:-2] + [r[-1]], r"training.csv:2: 30 columns, expected 31"),
        (lambda r: ["x"] + r[1:], r"training.csv:2: non-numeric coordinate 'x'"),
        (lambda r: r[:-1] + [r[-1] + " 7"], r"training.csv:2: Image has 9217 values"),
        (lambda r: r[:-1] + ["a " + r[-1].split(" ", 1)[1]], r"training.csv:2: non-numeric pixel value 'a'"),
    ],
)
def test_kaggle_malformed_rows(tmp_path, mutate, message):
    rng = np.random.default_rng(0)
    row = [f"{v:.1f}" for v in rng.uniform(10, 80, 30)] + [_pixels(rng)]
    _write_kaggle_training(tmp_path / "training.csv", [mutate(row)])
    with pytest.raises(DatasetError, match=message):
        open_dataset(f"kaggle:{tmp_path / 'training.csv'}")


def test_kaggle_wrong_header(tmp_path):
    (tmp_path / "training.csv").write_text("a,b,Image\n1,2,3\n")
    with pytest.raises(DatasetError, match="unexpected columns"):
        open_dataset(f"kaggle:{tmp_path / 'training.csv'}")


# ------------------------------------------------------------------ specs


def test_spec_errors_and_concatenation(tmp_path, face_samples):
    write_udacity(tmp_path, face_samples[:2])
    write_pts_folder(tmp_path / "p", face_samples[2:])
    both = open_dataset(f"{tmp_path / 'training'}+{tmp_path / 'p'}")
    assert isinstance(both, ConcatDataset) and len(both) == 4
    assert np.allclose(both[3].keypoints, face_samples[3].keypoints, atol=1e-3)
    assert len(both.subset([0, 3])) == 2
    with pytest.raises(DatasetError, match="no such file"):
        open_dataset(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="cannot tell the dataset format"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="different layouts"):
        ConcatDataset([open_dataset("synthetic:2"), _kaggle_like(tmp_path)])


def _kaggle_like(tmp_path):
    rng = np.random.default_rng(0)
    _write_kaggle_training(tmp_path / "k.csv", [[str(math.nan)] * 30 + [_pixels(rng)]])
    return open_dataset(f"kaggle:{tmp_path / 'k.csv'}")


def test_synthetic_spec_is_deterministic():
    a, b = open_dataset("synthetic:3@5"), open_dataset("synthetic:3@5")
    assert np.array_equal(a[2].image, b[2].image) and np.array_equal(a.keypoints, b.keypoints)
    with pytest.raises(DatasetError, match="synthetic:COUNT"):
        open_dataset("synthetic:many")
