"""``facepoints evaluate``: NME, failure rate, AUC and a CED plot of a model on a labelled dataset."""

from __future__ import annotations

import argparse

from facepoints.datasets import open_dataset
from facepoints.evaluation import evaluate_model, write_report
from facepoints.landmarker import resolve_model_path
from facepoints.metrics import NORMALIZATIONS
from facepoints.predict import Predictor


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a model on a labelled dataset")
    p.add_argument("--model", required=True, help="checkpoint path (model.pt of a run) or bundled name (default, fast)")
    p.add_argument("--data", nargs="+", required=True, help="dataset SPEC(s)")
    p.add_argument("--boxes", choices=["gt", "detector"], default="gt", help="face boxes: from the labels or a detector")
    p.add_argument("--detector", default=None, help="detector name for --boxes detector (default: the default detector)")
    p.add_argument("--norm", choices=NORMALIZATIONS, default="outer_eyes", help="NME normalization")
    p.add_argument("--flip", action="store_true", help="average with a mirrored pass")
    p.add_argument("--out", default=None, help="folder for report.json and ced.png")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    predictor = Predictor(resolve_model_path(args.model), flip=args.flip)
    detector = None
    if args.boxes == "detector":
        from facepoints.detection import get_detector

        detector = get_detector(args.detector).boxes
    result = evaluate_model(predictor, open_dataset(args.data), detector, args.norm, progress=not args.no_progress)
    r = result.report
    print(f"model {result.model} on {result.dataset} ({r.count} faces, boxes: {result.boxes}, NME by {r.normalization})")
    print("| NME % | median NME % | FR@0.08 % | FR@0.10 % | AUC@0.08 | AUC@0.10 | RMSE px | detected % |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {100 * r.nme:.2f} | {100 * r.median_nme:.2f} | {100 * r.failure_rate_08:.2f} | {100 * r.failure_rate_10:.2f} "
        f"| {r.auc_08:.4f} | {r.auc_10:.4f} | {r.rmse_px:.2f} | {100 * result.detection_rate:.1f} |"
    )
    print("per group NME %: " + ", ".join(f"{g} {100 * v:.2f}" for g, v in r.per_group.items()))
    if args.out:
        report, ced = write_report(result, args.out)
        print(f"wrote {report} and {ced}")
    return 0
