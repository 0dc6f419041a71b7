"""Eye-state benchmark: closed and open eyes of the reporting sets, end to end (run by hand).

    python benchmarks/eyes.py [--model default fast]

Each labelled face of Udacity test and 300-W AFW (../shared) goes through ``FaceLandmarker.detect``
with ``eyes=True`` (YuNet, the default refinement); the detection overlapping the labelled face's box
(IoU >= 0.3, as in benchmarks/landmarks.py) is scored. Each eye counts on its own: "closed" when its
labelled eye aspect ratio is under 0.12, "open" when over 0.2 (eyes in between are not counted). Two
methods per landmark model: the EAR of the predicted points under ``EAR_THRESHOLD`` (0.2), and the
eye-state classifier's P(closed) over 0.5. Prints the table of docs/applications.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from landmarks import SETS, SHARED, match
from tqdm import tqdm

from facepoints.apps.eyes import EAR_THRESHOLD
from facepoints.datasets import open_dataset
from facepoints.landmarker import FaceLandmarker
from facepoints.predict import points_box
from facepoints.shape import eye_aspect_ratio

CLOSED_BELOW, OPEN_ABOVE = 0.12, 0.2


def score(landmarker: FaceLandmarker, folder: Path, label: str) -> dict[str, list[int]]:
    """Per method, [closed eyes seen closed, closed eyes, open eyes seen open, open eyes]."""
    ds = open_dataset(folder)
    counts = {"ear": [0, 0, 0, 0], "classifier": [0, 0, 0, 0]}
    for i in tqdm(range(len(ds)), desc=label, unit="face", mininterval=10):
        sample = ds[i]
        faces = landmarker.detect(sample.image, eyes=True)
        best = match([(f.box, f.points) for f in faces], points_box(sample.keypoints))
        if best is None:
            continue
        face = next(f for f in faces if f.points is best)
        for eye, closed_p in (("right_eye", face.eyes.closed_right), ("left_eye", face.eyes.closed_left)):
            truth = float(eye_aspect_ratio(sample.keypoints, eye))
            if OPEN_ABOVE >= truth >= CLOSED_BELOW:
                continue
            closed = truth < CLOSED_BELOW
            ear_closed = float(eye_aspect_ratio(face.points, eye)) < EAR_THRESHOLD
            for method, said_closed in (("ear", ear_closed), ("classifier", closed_p > 0.5)):
                row = counts[method]
                row[0 if closed else 2] += int(said_closed == closed)
                row[1 if closed else 3] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", default=["default", "fast"], help="bundled names or checkpoints")
    args = parser.parse_args()
    rows = []
    for set_name, rel in SETS.items():
        for model in args.model:
            counts = score(FaceLandmarker(model=model, threads=1), SHARED / rel, f"{set_name} {model}")
            for method, text in (("ear", f"EAR < {EAR_THRESHOLD} of the predicted points"), ("classifier", "classifier, P(closed) > 0.5")):
                hit_c, closed, hit_o, opened = counts[method]
                rows.append(f"| {set_name} | {model} | {text} | {hit_c} / {closed} | {hit_o:,} / {opened:,} |")
    print("| set | landmark model | method | closed eyes seen as closed | open eyes seen as open |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
