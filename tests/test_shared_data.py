"""The real shared datasets load in full with the expected counts (skipped when ../shared is absent)."""

import numpy as np
import pytest
from conftest import DATA, needs_shared

from facepoints.datasets import open_dataset
from facepoints.layouts import IMM73, convert_points
from facepoints.transforms import RandomHorizontalFlip

pytestmark = [needs_shared, pytest.mark.shared]

COUNTS = {
    "udacity-68/training": 3462,
    "udacity-68/test": 770,
    "300w/lfpw_train": 805,
    "300w/helen_train": 870,
    "300w/afw": 337,
    "imm-frontal-73": 120,
}


@pytest.mark.parametrize("rel, count", COUNTS.items())
def test_shared_dataset_loads_in_full(rel, count):
    ds = open_dataset(DATA / rel)
    assert len(ds) == count
    assert ds.layout == ("imm73" if "imm" in rel else "ibug68")
    assert ds.masks.all() and np.isfinite(ds.keypoints).all()
    for i in (0, len(ds) // 2, len(ds) - 1):  # images decode and points lie on them
        s = ds[i]
        h, w = s.image.shape[:2]
        assert s.image.dtype == np.uint8 and s.image.shape[2] == 3
        inside = (s.keypoints >= -0.05 * w).all(1) & (s.keypoints[:, 0] < 1.05 * w) & (s.keypoints[:, 1] < 1.05 * h)
        assert inside.mean() > 0.9


@pytest.mark.slow
def test_every_shared_image_decodes_and_holds_its_points():
    """Every file decodes (a broken one raises) and holds at least 85 % of its points (the worst real
    face: 90 %), so a file read at another size or orientation than it was labelled at fails."""
    for rel in COUNTS:
        for s in open_dataset(DATA / rel):
            h, w = s.image.shape[:2]
            x, y = s.keypoints.T
            assert ((x >= -0.5) & (x < w - 0.5) & (y >= -0.5) & (y < h - 0.5)).mean() >= 0.85, s.path


def test_udacity_identities_allow_person_splits():
    ds = open_dataset(DATA / "udacity-68/training")
    people = set(ds.identities)
    assert 100 < len(people) < len(ds)
    assert ds[0].identity and not ds[0].identity[-1].isdigit()


def test_kaggle_left_is_on_the_image_right_for_real_faces():
    """On real frontal faces, Kaggle's left eye/mouth corner (subject's left) has the larger x."""
    ds = open_dataset(DATA / "udacity-68/test")
    k15, _ = convert_points(ds.keypoints, "ibug68", "kaggle15")
    assert (k15[:, 0, 0] > k15[:, 1, 0]).mean() > 0.99  # left_eye_center vs right_eye_center
    assert (k15[:, 11, 0] > k15[:, 12, 0]).mean() > 0.99  # mouth_left_corner vs mouth_right_corner
    # a mirrored photo (with the layout permutation) still has Kaggle's left eye on the image's right
    flipped = RandomHorizontalFlip(1.0)(ds[0], np.random.default_rng(0))
    f15, _ = convert_points(flipped.keypoints, "ibug68", "kaggle15")
    assert f15[0, 0] > f15[1, 0] and f15[11, 0] > f15[12, 0]


def test_imm73_flip_permutation_matches_real_shapes():
    ds = open_dataset(DATA / "imm-frontal-73")
    perm = IMM73.require_flip()
    errors = []
    for pts in ds.keypoints:
        cx = (pts[32, 0] + pts[33, 0]) / 2  # between the pupils
        mirrored = pts.copy()
        mirrored[:, 0] = 2 * cx - mirrored[:, 0]
        iod = np.linalg.norm(pts[16] - pts[24])
        errors.append(np.linalg.norm(mirrored[perm] - pts, axis=1).mean() / iod)
    assert np.mean(errors) < 0.05
