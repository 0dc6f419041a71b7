"""Print the docs/models.md table from the run folders of ``recipes/seeds.sh``.

    python benchmarks/zoo_table.py [RUNS_DIR[=MACHINE] ...]      (default: runs/seeds)

Each RUNS_DIR may carry the name of the machine its runs trained on (``runs/seeds-gpu=H200``), shown
in the table beside the training time; a run name found in several folders is shown from the first.
Rows: every evaluated run (``eval/report.json`` and ``eval.txt``), with the figure its write-up
reports where one was found (``WRITE_UPS``, from recipes/README.md), and the two-model merge.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

#: run name -> the figure its write-up reports (metric, data), as recipes/README.md cites it
WRITE_UPS = {
    "mean_shape15": "RMSE about 4.0 px (Kaggle's own test crops)",
    "mean_shape68": "- (our baseline)",
    "fpnet15": "- (ours)",
}


def runs_of(specs: list[str]) -> list[tuple[Path, str]]:
    """(run folder, machine) of every evaluated run in the RUNS_DIR[=MACHINE] ``specs``, first folder first."""
    seen, out = set(), []
    for spec in specs:
        folder, _, machine = spec.partition("=")
        for run in sorted(p for p in Path(folder).iterdir() if (p / "summary.json").is_file()):
            evaluated = (run / "eval" / "report.json").is_file() and (run / "eval.txt").is_file()
            if evaluated and run.name not in seen:
                seen.add(run.name)
                out.append((run, machine or "-"))
    return out


def main() -> None:
    specs = sys.argv[1:] or ["runs/seeds"]
    print(
        "| run | model | layout | epochs (best) | params | train time | machine | test NME % | FR@0.10 % | RMSE px "
        "| Kaggle RMSE (96 px) | write-up's figure |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run, machine in runs_of(specs):
        summary = json.loads((run / "summary.json").read_text())
        report = json.loads((run / "eval" / "report.json").read_text())
        score = re.search(r"RMSE ([0-9.]+) px", (run / "eval.txt").read_text())
        nme = report["nme"]
        defined = nme == nme  # NaN for layouts without a normalizing pair (nosetip)
        nme_cell = f"{100 * nme:.2f}" if defined else "-"
        fr_cell = f"{100 * report['failure_rate_10']:.2f}" if defined else "-"
        print(
            f"| {run.name} | {summary['model']} | {report['layout']} | {summary['epochs_run']} ({summary.get('best_epoch', '-')}) "
            f"| {summary['parameters']:,} | {summary.get('seconds', 0) / 60:.1f} min | {machine} | {nme_cell} | {fr_cell} "
            f"| {report['rmse_px']:.2f} | {score.group(1) if score else '-'} | {WRITE_UPS.get(run.name, 'not found')} |"
        )
    for spec in specs:
        two = Path(spec.partition("=")[0]) / "two_model.txt"
        if two.is_file():
            print(f"\ntwo-model merge (two_model_15 + two_model_4, {two.parent}): {two.read_text().strip()}")
            break


if __name__ == "__main__":
    main()
