"""Keypoint layouts: names, groups, flip permutations, anchors, the 68 -> 15 mapping."""

import numpy as np
import pytest
from conftest import DATA, needs_shared

from facepoints.layouts import (
    IBUG68,
    IMM73,
    KAGGLE15,
    Layout,
    convert_points,
    get_layout,
    ibug68_mean_shape,
    list_layouts,
    mirror_anchor_name,
)


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
    assert IBUG68.norm_pair == ("right_eye_outer", "left_eye_outer")
    assert [IBUG68.anchors[a] for a in IBUG68.norm_pair] == [(36,), (45,)]
    assert IBUG68.group_of(30) == "nose" and IBUG68.names[30] == "nose_tip"


def test_ibug68_anchors_are_the_usual_indices():
    a = IBUG68.anchors
    assert a["right_eye"] == tuple(range(36, 42)) and a["left_eye"] == tuple(range(42, 48))
    corners = ("right_eye_outer", "right_eye_inner", "left_eye_inner", "left_eye_outer")
    assert [a[c] for c in corners] == [(36,), (39,), (42,), (45,)]
    assert (a["nose_tip"], a["chin"], a["right_mouth_corner"], a["left_mouth_corner"]) == ((30,), (8,), (48,), (54,))
    assert a["inner_lips"] == tuple(range(60, 68)) and a["jaw"] == tuple(range(17))
    for name, idx in a.items():  # anchors named after points agree with those names
        if name in IBUG68.names:
            assert idx == (IBUG68.index(name),)


@pytest.mark.parametrize("name", ["ibug68", "kaggle15", "kaggle4", "imm73", "nosetip"])
def test_flip_maps_each_right_anchor_onto_its_left_one(name):
    layout = get_layout(name)
    perm = layout.require_flip()
    sided = [a for a in layout.anchors if a.startswith("right_")]
    assert sided or name == "nosetip"
    for anchor, idx in layout.anchors.items():
        assert all(0 <= i < layout.num_points for i in idx)
        mirrored = {int(perm[i]) for i in idx}
        if anchor.startswith(("right_", "left_")):
            other = ("left_" if anchor.startswith("right_") else "right_") + anchor.split("_", 1)[1]
            assert mirrored == set(layout.anchors[other]), anchor
            assert mirrored.isdisjoint(idx), f"{anchor} must lie on one side of the face"
        else:
            assert mirrored == set(idx), f"{anchor} must be its own mirror image"


def test_mirror_anchor_names():
    assert mirror_anchor_name("right_eye_outer") == "left_eye_outer"
    assert mirror_anchor_name("left_mouth_corner") == "right_mouth_corner"
    assert mirror_anchor_name("upper_lip_centre") == "upper_lip_centre"


def test_anchor_point_is_the_mean_of_the_anchor():
    shape = ibug68_mean_shape()
    assert np.allclose(IBUG68.anchor_point(shape, "right_eye_centre"), shape[36:42].mean(0))
    assert np.array_equal(IBUG68.anchor_point(shape, "nose_tip"), shape[30])
    batch = np.stack([shape, shape + 1])
    assert IBUG68.anchor_point(batch, "left_eye_centre").shape == (2, 2)


def test_kaggle_anchors_agree_with_the_68_to_15_mapping():
    shape = ibug68_mean_shape() + np.random.default_rng(1).normal(0, 0.02, (68, 2))
    k15, _ = convert_points(shape, "ibug68", "kaggle15")
    k4, _ = convert_points(k15, "kaggle15", "kaggle4")
    for layout, points in ((KAGGLE15, k15), (get_layout("kaggle4"), k4)):
        for anchor, idx in layout.anchors.items():
            if len(idx) == 1:  # a Kaggle point is the position of the iBUG anchor of the same name
                expected = IBUG68.anchor_point(shape, anchor)
                assert np.allclose(layout.anchor_point(points, anchor), expected, atol=1e-6), anchor


@needs_shared
def test_imm73_anchors_sit_where_their_names_say():
    from facepoints.datasets import open_dataset

    ds = open_dataset(str(DATA / "imm-frontal-73"))
    for points in ds.keypoints[::10]:
        x = {a: IMM73.anchor_point(points, a)[0] for a in IMM73.anchors}
        y = {a: IMM73.anchor_point(points, a)[1] for a in IMM73.anchors}
        assert x["right_eye_outer"] < x["right_pupil"] < x["right_eye_inner"]
        assert x["right_eye_inner"] < x["left_eye_inner"] < x["left_pupil"] < x["left_eye_outer"]
        assert x["right_mouth_corner"] < x["upper_lip_centre"] < x["left_mouth_corner"]
        assert y["right_eye_centre"] < y["nose_tip"] < y["upper_lip_centre"] < y["lower_lip_centre"] < y["chin"]
        assert y["chin"] >= np.sort(points[list(IMM73.anchors["jaw"]), 1])[-3]  # among the lowest jaw points


def test_anchors_are_checked_when_a_layout_is_made():
    def make(anchors, norm_pair=None, flip=(1, 0, 2)):
        names, groups = ("a", "b", "c"), {"all": (0, 1, 2)}
        return Layout("three", names, groups, flip_perm=flip, anchors=anchors, norm_pair=norm_pair)

    make({"right_eye_centre": (0,), "left_eye_centre": (1,), "nose_tip": (2,)}, ("right_eye_centre", "left_eye_centre"))
    with pytest.raises(ValueError, match="anchor nose_tip must be a tuple of indices in 0..2"):
        make({"nose_tip": (3,)})
    with pytest.raises(ValueError, match="no anchor left_eye_outer"):
        make({"right_eye_outer": (0,)}, ("right_eye_outer", "left_eye_outer"), flip=None)
    with pytest.raises(ValueError, match="no mirror anchor left_eye_outer"):
        make({"right_eye_outer": (0,)})
    with pytest.raises(ValueError, match="does not map anchor nose_tip onto nose_tip"):
        make({"nose_tip": (0,)})


def test_missing_anchors_give_a_clear_error():
    with pytest.raises(ValueError, match="layout kaggle15 has no anchor right_eye, inner_lips, which eye state needs"):
        KAGGLE15.require_anchors("right_eye", "nose_tip", "inner_lips", purpose="eye state")
    assert KAGGLE15.require_anchors("nose_tip", "right_eye_centre") == ((10,), (1,))
    with pytest.raises(ValueError, match="nosetip has no anchor chin"):
        get_layout("nosetip").anchor_point(np.zeros((1, 2)), "chin")


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
    assert IMM73.num_points == 73 and [IMM73.anchors[a] for a in IMM73.norm_pair] == [(16,), (24,)]
