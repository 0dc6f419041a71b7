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
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue

import numpy as np
from tqdm import tqdm

from facepoints.imageio import IMAGE_SUFFIXES, ImageReadError, atomic_write_bytes, load_image, save_image
from facepoints.landmarker import Face, FaceLandmarker, draw_faces
from facepoints.schema import SCHEMA_VERSION

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
        """The image's record in the versioned output schema (docs/output.md)."""
        if self.error is not None:
            return {"schema": SCHEMA_VERSION, "image": self.path, "error": self.error}
        faces = [f.to_dict() for f in self.faces]
        return {"schema": SCHEMA_VERSION, "image": self.path, "width": self.width, "height": self.height, "faces": faces}


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


def _write(result: ImageResult, image: np.ndarray, source: Path, out_dir: Path, draw: bool, write_json: bool, stem: str) -> None:
    if write_json:
        target = safe_output(out_dir / f"{stem}.landmarks.json", source)
        result.json_path = atomic_write_bytes(target, json.dumps(result.to_dict(), indent=1).encode())
    if draw:
        result.png_path = save_image(safe_output(out_dir / f"{stem}.landmarks.png", source), draw_faces(image, result.faces))


def _process(
    path: Path, landmarker: FaceLandmarker, out_dir: Path | None, draw: bool, write_json: bool, stem: str, measures: dict
) -> ImageResult:
    image = load_image(path)
    faces = landmarker.detect(image, **measures)
    result = ImageResult(str(path), image.shape[1], image.shape[0], faces)
    if out_dir is not None:
        _write(result, image, path, out_dir, draw, write_json, stem)
    return result


_END = object()


def _read_and_find(files: list[Path], landmarker: FaceLandmarker, queue: Queue, stop: threading.Event) -> None:
    """Producer: load each image and run the face detector, ahead of the landmark step."""
    for file in files:
        if stop.is_set():
            break
        try:
            image = load_image(file)
            item = (file, image, landmarker.find_faces(image), None)
        except ImageReadError as exc:
            item = (file, None, None, str(exc))
        queue.put(item)
    queue.put(_END)


def _folder(
    files: list[Path], landmarker: FaceLandmarker, out: Path | None, jsonl: Path | None, draw: bool, measures: dict,
    progress: bool, label: str, batch: int,
) -> Iterator[ImageResult]:  # fmt: skip
    """Directory mode as a pipeline: a reader thread loads and detects faces (bounded queue),
    this thread runs the landmark model on the faces of up to ``batch`` images at once, and a
    writer thread draws, saves and appends the JSON lines in input order."""
    queue: Queue = Queue(maxsize=2 * batch)
    stop = threading.Event()
    reader = threading.Thread(target=_read_and_find, args=(files, landmarker, queue, stop), daemon=True)
    reader.start()
    if jsonl is not None:
        jsonl.parent.mkdir(parents=True, exist_ok=True)

    def write(result: ImageResult, image: np.ndarray | None) -> None:
        if image is not None and out is not None:
            _write(result, image, Path(result.path), out, draw, False, Path(result.path).stem)  # one JSON Lines file instead
        if jsonl is not None:
            with open(jsonl, "a") as fh:
                fh.write(json.dumps(result.to_dict()) + "\n")

    bar = tqdm(total=len(files), desc=f"detecting {label}", disable=not progress, unit="img")
    pending = []
    finished = False
    try:
        with ThreadPoolExecutor(max_workers=1) as writer:
            while not finished:
                items = [queue.get()]
                while len(items) < batch and not queue.empty():
                    items.append(queue.get())
                if items[-1] is _END:
                    items.pop()
                    finished = True
                good = [(f, im, found) for f, im, found, err in items if err is None]
                faces = landmarker.landmarks([im for _, im, _ in good], [found for _, _, found in good], **measures) if good else []
                by_file = {f: (im, fc) for (f, im, _), fc in zip(good, faces)}
                for f, _, _, err in items:
                    if err is not None:
                        result, image = ImageResult(str(f), error=err), None
                    else:
                        image, fc = by_file[f]
                        result = ImageResult(str(f), image.shape[1], image.shape[0], fc)
                        if out is not None and draw:
                            result.png_path = out / f"{f.stem}.landmarks.png"
                    pending.append(writer.submit(write, result, image))
                    while len(pending) > 2 * batch:
                        pending.pop(0).result()
                    bar.update()
                    yield result
            for fut in pending:
                fut.result()
    finally:
        stop.set()
        while reader.is_alive():  # unblock the reader if it waits on a full queue
            try:
                queue.get_nowait()
            except Empty:
                reader.join(0.05)
        bar.close()


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
    batch: int = 8,
) -> Iterator[ImageResult]:
    """Detect faces and landmarks in image files and folders, writing results as they go.

    Files get a JSON document each (``write_json``); a folder gets ``results.jsonl`` and runs
    as a pipeline (detection of the next images overlaps the landmark step, whose batches hold
    the faces of up to ``batch`` images). ``pose``, ``eyes`` and ``expression`` add those
    measures to every face. A single unreadable file raises :class:`ImageReadError`; inside a
    folder, it is recorded as an error line and the run goes on.
    """
    out = Path(out_dir) if out_dir is not None else None
    measures = {"pose": pose, "eyes": eyes, "expression": expression}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            jsonl = (out or path) / "results.jsonl" if out is not None else None
            done = _done(jsonl) if jsonl is not None else set()
            todo = []
            for file in list_images(path):
                if str(file) in done:
                    yield ImageResult(str(file), skipped=True)
                else:
                    todo.append(file)
            yield from _folder(todo, landmarker, out, jsonl, draw, measures, progress, str(path), batch)
        elif path.is_file():
            yield _process(path, landmarker, out, draw, write_json, path.stem, measures)
        else:
            raise ImageReadError(f"{path}: no such file or folder")
