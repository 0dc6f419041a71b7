"""Print the docs/models.md table from the runs of ``benchmarks/train_zoo.sh``.

    python benchmarks/zoo_table.py [RUNS_DIR]      (default: runs/zoo)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def main() -> None:
    runs = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/zoo")
    print("| run | model | layout | epochs | params | train time | test NME % | FR@0.10 % | RMSE px | Kaggle RMSE (96 px) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in sorted(p for p in runs.iterdir() if (p / "summary.json").is_file()):
        summary = json.loads((run / "summary.json").read_text())
        report_path = run / "eval" / "report.json"
        if not report_path.is_file():
            continue
        report = json.loads(report_path.read_text())
        score = re.search(r"RMSE ([0-9.]+) px", (run / "eval.txt").read_text())
        nme = report["nme"]
        defined = nme == nme  # NaN for layouts without a normalizing pair (nosetip)
        nme_cell = f"{100 * nme:.2f}" if defined else "-"
        fr_cell = f"{100 * report['failure_rate_10']:.2f}" if defined else "-"
        print(
            f"| {run.name} | {summary['model']} | {report['layout']} | {summary['epochs_run']} | {summary['parameters']:,} "
            f"| {summary.get('seconds', 0) / 60:.1f} min | {nme_cell} | {fr_cell} | {report['rmse_px']:.2f} "
            f"| {score.group(1) if score else '-'} |"
        )
    two = runs / "two_model.txt"
    if two.is_file():
        print(f"\ntwo-model merge (two_model_15 + two_model_4): {two.read_text().strip()}")


if __name__ == "__main__":
    main()
