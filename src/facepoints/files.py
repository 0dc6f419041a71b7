"""Running the landmarker over files and folders: annotated PNGs, JSON documents, JSON Lines.

Per image ``NAME.landmarks.json`` (image size, then per face its box, score and points)
and ``NAME.landmarks.png`` (points, contours, boxes) are written atomically to the
output folder. A folder input is processed with a progress bar into one
``results.jsonl``; a rerun skips images already recorded there, so an interrupted run
resumes. Inputs are never overwritten.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from facepoints.imageio import IMAGE_SUFFIXES, ImageReadError, atomic_write_bytes, load_image, save_image
from facepoints.landmarker import Face, FaceLandmarker, draw_faces

__all__ = ["ImageResult", "detect_files", "list_images", "safe_output"]


@dataclass
class ImageResult:
    """What happened to one input image."""

    path: str
    width: int = 0
    height: int = 0
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    json_path: Path | None = None
    png_path: Path | None = None
    skipped: bool = False

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"image": self.path, "error": self.error}
        return {"image": self.path, "width": self.width, "height": self.height, "faces": [f.to_dict() for f in self.faces]}


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _done(jsonl: Path) -> set[str]:
    if not jsonl.is_file():
        return set()
    done = set()
    for line in jsonl.read_text().splitlines():
        try:
            done.add(json.loads(line)["image"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut by an interrupt: that image is redone
    return done


def safe_output(target: Path, source: Path) -> Path:
    """``target``, unless it is the input file itself (inputs are never overwritten)."""
    if target.exists() and target.resolve() == source.resolve():
        raise ValueError(f"{target}: refusing to overwrite an input")
    return target


def _process(
    path: Path, landmarker: FaceLandmarker, out_dir: Path | None, draw: bool, write_json: bool, stem: str, measures: dict
) -> ImageResult:
    image = load_image(path)
    faces = landmarker.detect(image, **measures)
    result = ImageResult(str(path), image.shape[1], image.shape[0], faces)
    if out_dir is not None:
        if write_json:
            target = safe_output(out_dir / f"{stem}.landmarks.json", path)
            result.json_path = atomic_write_bytes(target, json.dumps(result.to_dict(), indent=1).encode())
        if draw:
            result.png_path = save_image(safe_output(out_dir / f"{stem}.landmarks.png", path), draw_faces(image, faces))
    return result


def detect_files(
    inputs: list[str | os.PathLike],
    landmarker: FaceLandmarker,
    out_dir: str | os.PathLike | None = "facepoints-out",
    draw: bool = True,
    write_json: bool = True,
    progress: bool = True,
    pose: bool = False,
    eyes: bool = False,
    expression: bool = False,
) -> Iterator[ImageResult]:
    """Detect faces and landmarks in image files and folders, writing results as they go.

    Files get a JSON document each (``write_json``); a folder gets ``results.jsonl``.
    ``pose``, ``eyes`` and ``expression`` add those measures to every face.
    A single unreadable file raises :class:`ImageReadError`; inside a folder, it is recorded
    as an error line and the run goes on.
    """
    out = Path(out_dir) if out_dir is not None else None
    measures = {"pose": pose, "eyes": eyes, "expression": expression}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = list_images(path)
            jsonl = (out or path) / "results.jsonl" if out is not None else None
            done = _done(jsonl) if jsonl is not None else set()
            for file in tqdm(files, desc=f"detecting {path}", disable=not progress, unit="img"):
                if str(file) in done:
                    yield ImageResult(str(file), skipped=True)
                    continue
                try:
                    result = _process(file, landmarker, out, draw, False, file.stem, measures)  # one JSON Lines file instead
                except ImageReadError as exc:
                    result = ImageResult(str(file), error=str(exc))
                if jsonl is not None:
                    jsonl.parent.mkdir(parents=True, exist_ok=True)
                    with open(jsonl, "a") as fh:
                        fh.write(json.dumps(result.to_dict()) + "\n")
                yield result
        elif path.is_file():
            yield _process(path, landmarker, out, draw, write_json, path.stem, measures)
        else:
            raise ImageReadError(f"{path}: no such file or folder")
