"""Metrics against values computed by hand."""

import numpy as np
import pytest

from facepoints.layouts import Layout
from facepoints.metrics import auc, ced_curve, evaluate_points, failure_rate, nme, normalizing_distance, rmse


def square_face():
    """A 68-point shape whose outer eye corners (36, 45) are 100 px apart."""
    gt = np.zeros((1, 68, 2))
    gt[0, :, 0] = np.linspace(0, 100, 68)
    gt[0, :, 1] = 50
    gt[0, 36] = [0, 0]
    gt[0, 45] = [100, 0]
    return gt


def test_nme_outer_eye_corners():
    gt = square_face()
    pred = gt.copy()
    pred[0, 10, 0] += 68.0  # one point 68 px off -> mean error 1 px -> NME 1 / 100
    assert nme(pred, gt, "ibug68")[0] == pytest.approx(0.01)
    mask = np.ones((1, 68), bool)
    mask[0, 10] = False  # masking the bad point removes the error
    assert nme(pred, gt, "ibug68", mask)[0] == pytest.approx(0.0)


def test_other_normalizations():
    gt = square_face()
    gt[0, 36:42] = [10, 0]
    gt[0, 42:48] = [70, 0]
    assert normalizing_distance(gt, "ibug68", "inter_pupil")[0] == pytest.approx(60)
    box = np.array([[[0, 0], [40, 0], [40, 10], [0, 10]]], float)  # 40 x 10 box -> sqrt(400) = 20
    assert normalizing_distance(box, "ibug68", "box")[0] == pytest.approx(20)
    k15 = np.zeros((1, 15, 2))
    k15[0, 0] = [66, 38]
    k15[0, 1] = [30, 38]
    assert normalizing_distance(k15, "kaggle15")[0] == pytest.approx(36)
    with pytest.raises(ValueError, match="unknown normalization"):
        normalizing_distance(gt, "ibug68", "chin")


def test_rmse_in_pixels_over_labelled_values():
    gt = np.zeros((2, 15, 2))
    pred = gt.copy()
    pred[0, 0] = [3, 4]  # squared errors 9 and 16 among 60 values -> sqrt(25 / 60)
    assert rmse(pred, gt) == pytest.approx(np.sqrt(25 / 60))
    mask = np.zeros((2, 15), bool)
    mask[0, 0] = True  # only that point labelled -> sqrt((9 + 16) / 2)
    assert rmse(pred, gt, mask) == pytest.approx(np.sqrt(12.5))


def test_failure_rate_and_auc():
    errors = np.array([0.02, 0.04, 0.06, 0.12])
    assert failure_rate(errors, 0.10) == 0.25
    assert failure_rate(errors, 0.05) == 0.5
    # CED on [0, 0.08]: 0 until 0.02, 1/4 until 0.04, 1/2 until 0.06, 3/4 until 0.08
    # area = 0.02 * (0 + 0.25 + 0.5 + 0.75) = 0.03 -> AUC = 0.03 / 0.08 = 0.375
    assert auc(errors, 0.08) == pytest.approx(0.375, abs=2e-3)
    assert auc(np.zeros(5), 0.1) == pytest.approx(1.0, abs=2e-3)
    xs, ys = ced_curve(errors, 0.1)
    assert ys[0] == 0 and ys[-1] == 0.75 and np.all(np.diff(ys) >= 0)


def test_report_groups_and_points():
    gt = square_face()
    pred = gt.copy()
    pred[0, 48:68, 1] += 5.0  # the mouth off by 5 px -> mouth group NME 0.05, others 0
    report = evaluate_points(pred, gt, "ibug68")
    assert report.per_group["mouth"] == pytest.approx(0.05) and report.per_group["eyes"] == 0
    assert report.nme == pytest.approx(20 * 5 / 68 / 100)
    assert report.per_point[50] == pytest.approx(0.05) and report.per_point[0] == 0
    assert report.count == 1 and "nmes" not in report.summary()


def test_a_new_layout_gets_nme_from_its_anchors_alone():
    """A layout no metric knows by name: its anchors say which points normalize."""
    five = Layout(
        "test_five",
        ("right_outer", "right_inner", "left_inner", "left_outer", "nose"),
        {"eyes": (0, 1, 2, 3), "nose": (4,)},
        flip_perm=(3, 2, 1, 0, 4),
        anchors={
            "right_eye_outer": (0,),
            "left_eye_outer": (3,),
            "right_eye_centre": (0, 1),
            "left_eye_centre": (2, 3),
            "nose_tip": (4,),
        },
        norm_pair=("right_eye_outer", "left_eye_outer"),
    )
    gt = np.array([[[0, 0], [20, 0], [60, 0], [80, 0], [40, 30]]], float)
    pred = gt.copy()
    pred[0, 4, 1] += 8.0  # one of 5 points 8 px off -> mean error 1.6 px
    assert nme(pred, gt, five)[0] == pytest.approx(1.6 / 80)
    assert normalizing_distance(gt, five, "inter_pupil")[0] == pytest.approx(60)  # eye centres at x = 10 and 70
    assert evaluate_points(pred, gt, five).per_group == pytest.approx({"eyes": 0.0, "nose": 0.1})
    no_eyes = Layout("test_nose", ("nose",), {"nose": (0,)}, anchors={"nose_tip": (0,)})
    assert np.isnan(normalizing_distance(gt[:, 4:], no_eyes)[0])  # no norm pair: NME undefined, as for nosetip
    with pytest.raises(ValueError, match="test_nose has no anchor right_eye_centre, left_eye_centre"):
        normalizing_distance(gt[:, 4:], no_eyes, "inter_pupil")
