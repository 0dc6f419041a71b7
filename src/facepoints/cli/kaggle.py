"""``facepoints kaggle submit|score``: the Kaggle competition's submission file and metric."""

from __future__ import annotations

import argparse

from facepoints.kaggle import score_submission, write_submission
from facepoints.predict import Predictor


def register(sub: argparse._SubParsersAction) -> None:
    k = sub.add_parser("kaggle", help="Kaggle Facial Keypoints submission tools").add_subparsers(
        dest="kaggle_command", required=True
    )
    submit = k.add_parser("submit", help="write RowId,Location for test.csv + IdLookupTable.csv")
    submit.add_argument("--model", required=True, nargs="+",
                        help="checkpoint of a kaggle15 model; with two (15- then 4-point), the two-model merge")  # fmt: skip
    submit.add_argument("--test", required=True, help="test.csv (ImageId,Image)")
    submit.add_argument("--lookup", required=True, help="IdLookupTable.csv")
    submit.add_argument("--out", default="submission.csv")
    submit.set_defaults(func=run_submit)
    score = k.add_parser("score", help="RMSE of a submission against a solution file")
    score.add_argument("--submission", required=True)
    score.add_argument("--solution", required=True, help="RowId,Location answers (written by data to-kaggle --split test)")
    score.set_defaults(func=run_score)


def run_submit(args: argparse.Namespace) -> int:
    path = write_submission([Predictor(m) for m in args.model], args.test, args.lookup, args.out)
    print(f"wrote {path}")
    return 0


def run_score(args: argparse.Namespace) -> int:
    print(f"RMSE {score_submission(args.submission, args.solution):.4f} px")
    return 0
