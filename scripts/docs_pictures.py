"""Regenerate the pictures of docs/applications.md by running the CLI on the bundled photo.

    python scripts/docs_pictures.py

Each picture is the CLI's output, cut to the region around the face and saved as a small
JPEG so the repository stays small.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import cv2
import numpy as np

from facepoints.cli.main import main
from facepoints.imageio import load_image, save_image
from facepoints.landmarker import sample_image_path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "img"
WIDTH = 320


def shrink(path: Path, name: str, box: list[float]) -> None:
    image = load_image(path)
    x0, y0, x1, y1 = box
    side = (x1 - x0) * 1.4
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    top, left = int(max(cy - side * 1.1, 0)), int(max(cx - side, 0))
    image = image[top : int(cy + side * 1.3), left : int(cx + side * 1.5)]
    height = round(image.shape[0] * WIDTH / image.shape[1])
    small = cv2.resize(image, (WIDTH, height), interpolation=cv2.INTER_AREA) if image.shape[1] > WIDTH else image
    save_image(DOCS / name, small)
    print(f"wrote {DOCS / name}")


def main_() -> None:
    sample = str(sample_image_path())
    DOCS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        main(["detect", sample, "--pose", "--eyes", "--expression", "--out", tmp, "--no-progress"])
        box = json.loads((out / "astronaut.landmarks.json").read_text())["faces"][0]["box"]
        shrink(out / "astronaut.landmarks.png", "detect-measures.jpg", box)
        for overlay in ("sunglasses", "moustache", "hat", "pixelate"):
            main(["filter", sample, "--overlay", overlay, "--out", tmp])
            shrink(out / f"astronaut.{overlay}.png", f"filter-{overlay}.jpg", box)
        crops = []
        for template in ("arcface", "ibug"):
            main(["align", sample, "--size", "112", "--template", template, "--out", tmp])
            crops.append(load_image(out / "astronaut.face0.png"))
        save_image(DOCS / "align.jpg", np.hstack(crops))
        print(f"wrote {DOCS / 'align.jpg'}")


if __name__ == "__main__":
    main_()
