"""Derive the bundled 3D reference of the 68 points (src/facepoints/resources/ibug68_3d.json).

    python scripts/derive_face3d.py ../shared/data/udacity-68/training \
        ../shared/data/300w/lfpw_train ../shared/data/300w/helen_train

See facepoints.face3d for the method and the frame.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facepoints.datasets import open_dataset
from facepoints.face3d import EYE_CORNER_MM, derive_reference
from facepoints.imageio import atomic_write_bytes

OUT = Path(__file__).resolve().parents[1] / "src/facepoints/resources/ibug68_3d.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="+", help="68-point dataset SPECs (complete rows are used)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    shapes = np.concatenate([open_dataset(spec).complete_rows().keypoints for spec in args.data])
    points = derive_reference(shapes)
    doc = {
        "description": "3D reference of the iBUG 68 points: Tomasi-Kanade factorization of 2D labels, "
        "metric upgrade, canonical frame (x right, y down, z away from the camera), left/right symmetric",
        "units": f"mm; outer eye corners {EYE_CORNER_MM:g} mm apart",
        "data": list(args.data),
        "faces": len(shapes),
        "points": [[round(float(v), 3) for v in p] for p in points],
    }
    text = json.dumps(doc, indent=1).replace("\n   ", " ").replace("\n  ]", "]")  # one point per line
    atomic_write_bytes(args.out, (text + "\n").encode())
    print(f"wrote {args.out} from {len(shapes)} faces")


if __name__ == "__main__":
    main()
