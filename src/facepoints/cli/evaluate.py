"""``facepoints evaluate``: NME, failure rate, AUC and a CED plot of a model on a labelled dataset."""

from __future__ import annotations

import argparse

from facepoints.datasets import open_dataset
from facepoints.evaluation import evaluate_model, write_report
from facepoints.landmarker import FaceLandmarker
from facepoints.metrics import NORMALIZATIONS, LandmarkReport
from facepoints.predict import BACKENDS
from facepoints.training import validation_split


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a model on a labelled dataset")
    p.add_argument("--model", required=True, help="checkpoint path (model.pt of a run) or bundled name (default, fast)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--data", nargs="+", help="dataset SPEC(s); several are also scored one by one")
    where.add_argument("--val-of", metavar="RUN_DIR", help="the faces a training run held out for model selection")
    p.add_argument("--boxes", choices=["gt", "detector"], default="gt", help="face boxes: from the labels or a detector")
    p.add_argument("--detector", help="detector name (default: the default one); it also sets --refine's default")
    p.add_argument("--refine", type=int, help="extra passes for every face (default: the detector's, as in detect)")
    p.add_argument("--backend", default="auto", choices=BACKENDS, help="landmark inference (default auto, as detect)")
    p.add_argument("--norm", choices=NORMALIZATIONS, default="outer_eyes", help="NME normalization")
    p.add_argument("--flip", action="store_true", help="average with a mirrored pass")
    p.add_argument("--out", default=None, help="folder for report.json and ced.png")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _row(r: LandmarkReport, detected: str) -> str:
    return (
        f"| {100 * r.nme:.2f} | {100 * r.median_nme:.2f} | {100 * r.failure_rate_08:.2f} "
        f"| {100 * r.failure_rate_10:.2f} | {r.auc_08:.4f} | {r.auc_10:.4f} | {r.rmse_px:.2f} | {detected} |"
    )


def run(args: argparse.Namespace) -> int:
    landmarker = FaceLandmarker(args.detector, args.model, args.refine, args.flip, args.backend)
    end_to_end = landmarker if args.boxes == "detector" else None
    dataset = validation_split(args.val_of) if args.val_of else open_dataset(args.data)
    result = evaluate_model(landmarker.predictor, dataset, end_to_end, args.norm, progress=not args.no_progress)
    r = result.report
    print(f"model {result.model} on {result.dataset} ({r.count} faces, boxes: {result.boxes}, NME by {r.normalization})")
    print("| faces | NME % | median NME % | FR@0.08 % | FR@0.10 % | AUC@0.08 | AUC@0.10 | RMSE px | detected % |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| all {r.count} " + _row(r, f"{100 * result.detection_rate:.1f}"))
    for origin, o in result.by_origin.items():
        print(f"| {o.count} of {origin} " + _row(o, "-"))
    print("per group NME %: " + ", ".join(f"{g} {100 * v:.2f}" for g, v in r.per_group.items()))
    if args.out:
        report, ced = write_report(result, args.out)
        print(f"wrote {report} and {ced}")
    return 0
