"""``facepoints evaluate``: run a model over a labelled dataset and report the field's metrics.

Predictions are mapped back to each image's original pixels and compared with the file's
labels there. Boxes come from the ground truth (``gt``: the labelled points' box, the
convention the model was trained with) or from the whole detect pipeline (``detector``: a
landmarker's faces, the one whose points' box overlaps the labelled face best; faces it misses
count in the detection rate and are left out of the landmark metrics, which the report says).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from facepoints.datasets.base import LandmarkDataset
from facepoints.geometry import box_iou, points_box
from facepoints.imageio import atomic_write_bytes
from facepoints.layouts import convert_points
from facepoints.metrics import LandmarkReport, ced_curve, evaluate_points
from facepoints.predict import Predictor

if TYPE_CHECKING:
    from facepoints.landmarker import FaceLandmarker

__all__ = ["EvaluationResult", "evaluate_model", "write_ced_plot", "write_report"]


@dataclass
class EvaluationResult:
    report: LandmarkReport
    detection_rate: float
    predictions: np.ndarray  # (B, N, 2), NaN where the face was not found
    dataset: str
    model: str
    boxes: str
    by_origin: dict[str, LandmarkReport] = field(default_factory=dict)  # per source dataset, when several

    def summary(self) -> dict:
        return {
            "dataset": self.dataset, "model": self.model, "boxes": self.boxes,
            "detection_rate": self.detection_rate, **self.report.summary(),
            "by_origin": {name: r.summary() for name, r in self.by_origin.items()},
        }  # fmt: skip


def _match(found: list[np.ndarray], gt_box: np.ndarray, min_iou: float) -> np.ndarray | None:
    """The points (of ``found``) whose box overlaps ``gt_box`` best, if by ``min_iou`` or more."""
    if not found:
        return None
    ious = box_iou(np.stack([points_box(p) for p in found]), gt_box)
    best = int(ious.argmax())
    return found[best] if ious[best] >= min_iou else None


def evaluate_model(
    predictor: Predictor,
    dataset: LandmarkDataset,
    landmarker: FaceLandmarker | None = None,
    normalization: str = "outer_eyes",
    min_iou: float = 0.2,
    progress: bool = True,
) -> EvaluationResult:
    """Predict every sample of ``dataset`` and score against its labels (in the model's layout),
    from the labelled boxes, or end to end through ``landmarker`` (its detector, crops and
    passes, as ``facepoints detect`` runs them); a dataset read from several sources is also
    scored per source (``by_origin``)."""
    layout = predictor.layout.name
    preds, gts, masks, found = [], [], [], []
    for i in tqdm(range(len(dataset)), desc=f"evaluating {dataset.name}", disable=not progress):
        sample = dataset[i]
        gt, mask = convert_points(sample.keypoints, sample.layout, layout, sample.mask)
        labelled = sample.keypoints[sample.mask]
        gt_box = np.concatenate([labelled.min(0), labelled.max(0)])
        if landmarker is None:
            points = predictor.predict(sample.image, [gt_box])[0].points
        else:
            points = _match([f.points for f in landmarker.detect(sample.image)], gt_box, min_iou)
        found.append(points is not None)
        preds.append(np.full_like(gt, np.nan) if points is None else points)
        gts.append(gt)
        masks.append(mask)
    preds_a, gts_a, masks_a, found_a = np.stack(preds), np.stack(gts), np.stack(masks), np.asarray(found)
    if not found_a.any():
        raise ValueError(f"{dataset.name}: the detector found none of the {len(dataset)} labelled faces")
    report = evaluate_points(preds_a[found_a], gts_a[found_a], layout, masks_a[found_a], normalization)
    by_origin = {}
    names = list(dict.fromkeys(dataset.origins))  # the sources, in order of first appearance
    if len(names) > 1:
        origins = np.asarray(dataset.origins)
        for name in names:
            keep = found_a & (origins == name)
            if keep.any():
                by_origin[name] = evaluate_points(preds_a[keep], gts_a[keep], layout, masks_a[keep], normalization)
    return EvaluationResult(
        report=report,
        detection_rate=float(found_a.mean()),
        predictions=preds_a,
        dataset=dataset.name,
        model=predictor.info.name,
        boxes="gt" if landmarker is None else "detector",
        by_origin=by_origin,
    )


def write_ced_plot(results: dict[str, np.ndarray], path: str | Path, threshold: float = 0.10) -> Path:
    """CED curves (fraction of faces with NME <= x) for one or more methods, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for label, nmes in results.items():
        xs, ys = ced_curve(nmes, threshold)
        ax.plot(100 * xs, ys, label=label)
    ax.set_xlabel("NME (%)"), ax.set_ylabel("fraction of faces"), ax.set_xlim(0, 100 * threshold), ax.set_ylim(0, 1)
    ax.grid(alpha=0.3), ax.legend(loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def write_report(result: EvaluationResult, out_dir: str | Path) -> tuple[Path, Path]:
    """``report.json`` and ``ced.png`` in ``out_dir``."""
    out = Path(out_dir)
    report = atomic_write_bytes(out / "report.json", json.dumps(result.summary(), indent=2).encode())
    ced = write_ced_plot({result.model: result.report.nmes}, out / "ced.png")
    return report, ced
