"""Keypoint layouts: names, groups, flip permutations, the 68 -> 15 mapping."""

import numpy as np
import pytest

from facepoints.layouts import IBUG68, IMM73, KAGGLE15, convert_points, get_layout, ibug68_mean_shape, list_layouts


@pytest.mark.parametrize("name", ["ibug68", "kaggle15", "imm73"])
def test_flip_permutation_is_an_involution(name):
    layout = get_layout(name)
    perm = layout.require_flip()
    assert sorted(perm) == list(range(layout.num_points))
    assert np.array_equal(perm[perm], np.arange(layout.num_points))
    assert len(set(layout.names)) == layout.num_points


def test_ibug68_flip_maps_eyes_brows_and_mouth_corners_across():
    perm = IBUG68.require_flip()
    assert [int(perm[i]) for i in (36, 39, 17, 21, 48, 0, 31)] == [45, 42, 26, 22, 54, 16, 35]
    right_eye, left_eye = set(range(36, 42)), set(range(42, 48))
    assert {int(perm[i]) for i in right_eye} == left_eye
    for i in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66):
        assert perm[i] == i, f"midline point {i} must map to itself"
    for i, name in enumerate(IBUG68.names):
        other = IBUG68.names[perm[i]]
        if name.startswith("left_"):
            assert other == "right_" + name[5:]


def test_ibug68_groups_and_norm_pair():
    assert set(IBUG68.groups) == {"jaw", "brows", "nose", "eyes", "mouth"}
    assert sum(len(v) for v in IBUG68.groups.values()) == 68
    assert IBUG68.norm_pair == (36, 45)
    assert IBUG68.group_of(30) == "nose" and IBUG68.names[30] == "nose_tip"


def test_mirrored_mean_shape_matches_itself_through_the_permutation():
    shape = ibug68_mean_shape()
    mirrored = shape * [-1, 1]
    err = np.linalg.norm(mirrored[IBUG68.require_flip()] - shape, axis=1)
    assert err.mean() < 0.05  # a face is roughly symmetric; a wrong pair would be off by ~1 eye distance


def test_kaggle15_column_order_and_flip():
    assert KAGGLE15.names[0] == "left_eye_center" and KAGGLE15.names[-1] == "mouth_center_bottom_lip"
    perm = KAGGLE15.require_flip()
    for i, name in enumerate(KAGGLE15.names):
        if "left" in name:
            assert KAGGLE15.names[perm[i]] == name.replace("left", "right")


def test_ibug68_to_kaggle15_uses_the_subjects_left():
    shape = ibug68_mean_shape()  # image coordinates: subject's left eye has larger x
    k15, mask = convert_points(shape, "ibug68", "kaggle15")
    assert mask.all() and k15.shape == (15, 2)
    idx = KAGGLE15.index
    assert np.allclose(k15[idx("left_eye_center")], shape[42:48].mean(0))
    assert np.allclose(k15[idx("right_eye_center")], shape[36:42].mean(0))
    assert k15[idx("left_eye_center"), 0] > k15[idx("right_eye_center"), 0]
    assert k15[idx("mouth_left_corner"), 0] > k15[idx("mouth_right_corner"), 0]
    assert k15[idx("left_eye_outer_corner"), 0] > k15[idx("left_eye_inner_corner"), 0]
    assert k15[idx("right_eye_outer_corner"), 0] < k15[idx("right_eye_inner_corner"), 0]
    assert np.allclose(k15[idx("nose_tip")], shape[30]) and np.allclose(k15[idx("mouth_center_bottom_lip")], shape[57])


def test_conversion_propagates_missing_points():
    shape = ibug68_mean_shape()
    mask = np.ones(68, bool)
    mask[44] = False
    _, out = convert_points(shape, "ibug68", "kaggle15", mask)
    assert not out[KAGGLE15.index("left_eye_center")]
    assert out[KAGGLE15.index("right_eye_center")]


def test_flip_commutes_with_the_68_to_15_mapping():
    shape = ibug68_mean_shape() + np.random.default_rng(0).normal(0, 0.02, (68, 2))
    mirrored = (shape * [-1, 1])[IBUG68.require_flip()]
    a, _ = convert_points(mirrored, "ibug68", "kaggle15")
    b, _ = convert_points(shape, "ibug68", "kaggle15")
    assert np.allclose(a, (b * [-1, 1])[KAGGLE15.require_flip()], atol=1e-5)


def test_registry_errors_are_clear():
    assert {"ibug68", "kaggle15", "imm73"} <= set(list_layouts())
    with pytest.raises(KeyError, match="unknown keypoint layout"):
        get_layout("nope")
    with pytest.raises(ValueError, match="no conversion"):
        convert_points(np.zeros((15, 2)), "kaggle15", "ibug68")
    assert IMM73.num_points == 73 and IMM73.norm_pair == (16, 24)
