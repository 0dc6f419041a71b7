"""Landmark metrics, defined once here and used by training, evaluation and benchmarks.

- NME: per sample, the mean over labelled points of the point-to-point error divided by
  a normalizing distance of the ground truth: ``outer_eyes`` (the distance of the two
  anchors the layout's ``norm_pair`` names: the outer eye corners for iBUG 68 and IMM,
  the eye centres for Kaggle), ``inter_pupil`` (distance of the ``right_eye_centre`` and
  ``left_eye_centre`` anchors: the pupils where a layout marks them, else the mean of each
  eye's outline) or ``box`` (sqrt of the GT box area). Every layout that declares these
  anchors gets NME without a change here.
- RMSE: sqrt of the mean squared coordinate error over labelled x and y values, in
  pixels of the frame given (the Kaggle metric when that frame is the 96x96 crop).
- Failure rate at t: the fraction of samples whose NME exceeds t.
- AUC at t: the area under the cumulative error distribution (fraction of samples with
  NME <= e) for e from 0 to t, divided by t, so a perfect method scores 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facepoints.layouts import Layout, get_layout

__all__ = [
    "normalizing_distance",
    "point_errors",
    "nme",
    "rmse",
    "failure_rate",
    "auc",
    "ced_curve",
    "LandmarkReport",
    "evaluate_points",
]

NORMALIZATIONS = ("outer_eyes", "inter_pupil", "box")


def _anchor_distance(gt: np.ndarray, layout: Layout, a: str, b: str) -> np.ndarray:
    return np.linalg.norm(layout.anchor_point(gt, a) - layout.anchor_point(gt, b), axis=-1)


def normalizing_distance(gt: np.ndarray, layout: str | Layout, kind: str = "outer_eyes", mask=None) -> np.ndarray:
    """Per-sample normalizing distance (``gt`` is ``(B, N, 2)``)."""
    lay = get_layout(layout)
    gt = np.asarray(gt, np.float64)
    if kind == "outer_eyes":
        if lay.norm_pair is None:  # e.g. a single point: NME is undefined, RMSE still applies
            return np.full(len(gt), np.nan)
        return _anchor_distance(gt, lay, *lay.norm_pair)
    if kind == "inter_pupil":
        lay.require_anchors("right_eye_centre", "left_eye_centre", purpose="inter-pupil normalization")
        return _anchor_distance(gt, lay, "right_eye_centre", "left_eye_centre")
    if kind == "box":
        m = np.ones(gt.shape[:2], bool) if mask is None else np.asarray(mask, bool)
        out = []
        for g, mm in zip(gt, m):
            p = g[mm]
            w, h = p.max(0) - p.min(0)
            out.append(np.sqrt(w * h))
        return np.asarray(out)
    raise ValueError(f"unknown normalization {kind!r}; choose from {', '.join(NORMALIZATIONS)}")


def point_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean error per point, ``(B, N)``."""
    return np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1)


def nme(pred, gt, layout, mask=None, kind: str = "outer_eyes") -> np.ndarray:
    """Per-sample NME (a fraction: 0.04 means 4 %)."""
    err = point_errors(pred, gt)
    m = np.ones(err.shape, bool) if mask is None else np.asarray(mask, bool)
    d = normalizing_distance(gt, layout, kind, m)
    if (d <= 0).any():
        raise ValueError("a ground-truth shape has a zero normalizing distance")
    return (err * m).sum(1) / np.maximum(m.sum(1), 1) / d


def rmse(pred, gt, mask=None) -> float:
    """Root mean squared coordinate error over labelled values, in pixels."""
    diff = np.asarray(pred, np.float64) - np.asarray(gt, np.float64)
    m = np.ones(diff.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    sq = (diff**2)[m]
    return float(np.sqrt(sq.mean())) if sq.size else float("nan")


def failure_rate(nmes: np.ndarray, threshold: float = 0.10) -> float:
    """Fraction of samples with NME above ``threshold``."""
    return float((np.asarray(nmes) > threshold).mean())


def ced_curve(nmes: np.ndarray, threshold: float, steps: int = 1001) -> tuple[np.ndarray, np.ndarray]:
    """(error values, fraction of samples with NME <= value) on [0, threshold]."""
    xs = np.linspace(0.0, threshold, steps)
    sorted_nme = np.sort(np.asarray(nmes, np.float64))
    return xs, np.searchsorted(sorted_nme, xs, side="right") / max(len(sorted_nme), 1)


def auc(nmes: np.ndarray, threshold: float = 0.08) -> float:
    """Normalized area under the CED curve up to ``threshold`` (1 = perfect)."""
    xs, ys = ced_curve(nmes, threshold)
    return float(np.trapezoid(ys, xs) / threshold)


@dataclass
class LandmarkReport:
    """Everything ``facepoints evaluate`` reports for one dataset."""

    layout: str
    count: int
    nme: float
    median_nme: float
    failure_rate_08: float
    failure_rate_10: float
    auc_08: float
    auc_10: float
    rmse_px: float
    normalization: str
    per_point: list[float] = field(default_factory=list)
    per_group: dict[str, float] = field(default_factory=dict)
    nmes: np.ndarray | None = field(default=None, repr=False)

    def summary(self) -> dict:
        """JSON-ready dict (per-sample NMEs left out)."""
        out = {k: v for k, v in self.__dict__.items() if k != "nmes"}
        return out


def evaluate_points(pred, gt, layout, mask=None, kind: str = "outer_eyes") -> LandmarkReport:
    """All metrics for predictions against ground truth in one frame (``(B, N, 2)`` each)."""
    lay = get_layout(layout)
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    m = np.ones(gt.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    per_sample = nme(pred, gt, lay, m, kind)
    d = normalizing_distance(gt, lay, kind, m)[:, None]
    norm_err = point_errors(pred, gt) / d
    counts = np.maximum(m.sum(0), 1)
    per_point = ((norm_err * m).sum(0) / counts).tolist()
    per_group = {
        g: float((norm_err[:, list(idx)] * m[:, list(idx)]).sum() / max(m[:, list(idx)].sum(), 1))
        for g, idx in lay.groups.items()
    }
    return LandmarkReport(
        layout=lay.name,
        count=len(gt),
        nme=float(per_sample.mean()),
        median_nme=float(np.median(per_sample)),
        failure_rate_08=failure_rate(per_sample, 0.08),
        failure_rate_10=failure_rate(per_sample, 0.10),
        auc_08=auc(per_sample, 0.08),
        auc_10=auc(per_sample, 0.10),
        rmse_px=rmse(pred, gt, m),
        normalization=kind,
        per_point=per_point,
        per_group=per_group,
        nmes=per_sample,
    )
