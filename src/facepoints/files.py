"""Running the landmarker over files and folders: annotated PNGs, JSON documents, JSON Lines.

Folders are scanned with their sub-folders (a symlinked folder is followed once, so links
that loop end). Each input's outputs go to the output folder at the input's path relative to
the folder that holds all the inputs (``photos/a/x.jpg`` -> ``OUT/a/x.landmarks.png`` for
``photos/``), named after the file's stem, or after its whole name when another input of the
same folder shares the stem (``x.jpg`` and ``x.png`` -> ``x.jpg.landmarks.png`` and
``x.png.landmarks.png``): no two inputs share an output. A file named on its own gets
``NAME.landmarks.json`` and ``NAME.landmarks.png``; the images found in folders get an
annotated PNG each and one line each in ``OUT/results.jsonl``, which a rerun reads to skip the
images already recorded (matched on their resolved paths), so an interrupted run resumes.
Every image that cannot be read or processed gets an error record and the run goes on.
Outputs are written atomically; inputs are never overwritten, and the output folder is never
scanned as an input. docs/folders.md describes the layout.
"""

from __future__ import annotations

import json
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from facepoints.drawing import draw_faces
from facepoints.imageio import (
    IMAGE_SUFFIXES,
    ImageReadError,
    atomic_write_bytes,
    load_image,
    remove_stale_temp_files,
    save_image,
)
from facepoints.landmarker import Face, FaceLandmarker
from facepoints.schema import SCHEMA_VERSION

__all__ = ["OUTPUT_SUFFIX", "RESULTS_NAME", "ImageResult", "detect_files", "list_images", "safe_output"]

#: The JSON Lines file that folder runs append to, in the output folder.
RESULTS_NAME = "results.jsonl"

#: The end of every annotated image this module writes; folder scans skip such files.
OUTPUT_SUFFIX = ".landmarks.png"

#: Most reader threads (image decoding and face detection) a folder run starts by default.
MAX_READERS = 4


@dataclass
class ImageResult:
    """What happened to one input image (``skipped``: recorded by an earlier run, not redone)."""

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
        size = {"width": self.width, "height": self.height}
        return {"schema": SCHEMA_VERSION, "image": self.path, **size, "faces": faces}


@dataclass(frozen=True)
class _Job:
    """One input image: its path as given, its resolved path (the identity that resume and
    de-duplication compare), where its outputs go, and whether a folder scan found it."""

    path: Path
    key: str
    out_dir: Path | None
    name: str
    in_folder: bool
    error: str | None = None  # known before reading: a folder that cannot be listed, a pipe


def list_images(folder: str | os.PathLike, skip: str | os.PathLike | None = None) -> list[Path]:
    """Image files in ``folder`` and its sub-folders, sorted folder by folder.

    Symlinked folders are followed, each real folder once (a link loop ends); the folder
    ``skip`` (the output folder) and this module's own ``*.landmarks.png`` outputs are left out.
    """
    return [path for path, error in _scan(Path(folder), skip) if error is None]


def _scan(folder: Path, skip: str | os.PathLike | None) -> Iterator[tuple[Path, str | None]]:
    """(path, None) for each image file under ``folder``, and (path, why) for each image name
    that is no file and each folder that could not be listed, so that none is lost without a word."""
    skip_real = os.path.realpath(skip) if skip is not None else None
    seen: set[str] = set()
    failed: list[OSError] = []
    for root, dirs, files in os.walk(folder, onerror=failed.append, followlinks=True):
        real = os.path.realpath(root)
        if real in seen or real == skip_real:
            dirs[:] = []  # a folder met again through a link, or the output folder
            continue
        seen.add(real)
        dirs.sort()
        for name in sorted(files):
            if Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.endswith(OUTPUT_SUFFIX):
                path = Path(root, name)  # reading a pipe or a device could wait for ever: those are not read
                yield path, None if path.is_file() else f"{path}: not a regular file (a broken link, pipe or device)"
    for exc in failed:
        yield Path(exc.filename or folder), f"{exc.filename}: cannot list this folder ({exc.strerror or exc})"


def _output_names(paths: list[Path]) -> dict[Path, str]:
    """For files of one folder, the name their outputs start with: the stem, or the whole file
    name when another file has the same stem or is named like this stem (``x.jpg`` and ``x.png``;
    ``x.jpg`` and ``x.jpg.png``). Compared without case, for case-insensitive file systems."""
    stems = Counter(p.stem.casefold() for p in paths)
    names = {p.name.casefold() for p in paths}
    return {p: p.stem if stems[p.stem.casefold()] == 1 and p.stem.casefold() not in names else p.name for p in paths}


def _plan(inputs: Iterable[str | os.PathLike], out: Path | None) -> list[_Job]:
    """Every input image once (the first mention wins), with its output folder and name."""
    found: list[tuple[Path, bool, str | None]] = []  # path as given, found in a folder, error
    roots = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            skip = out if out is not None and os.path.realpath(out) != os.path.realpath(path) else None
            found += [(p, True, error) for p, error in _scan(path, skip)]
            roots.append(os.path.abspath(path))
        elif path.exists():
            found.append((path, False, None))
            roots.append(os.path.dirname(os.path.abspath(path)))
        else:
            raise ImageReadError(f"{path}: no such file or folder")
    unique: dict[str, tuple[Path, bool, str | None]] = {}
    for entry in found:
        unique.setdefault(os.path.realpath(entry[0]), entry)
    base = os.path.commonpath(roots) if roots else ""
    by_folder: dict[str, list[Path]] = {}
    for path, _, error in unique.values():
        if error is None:
            by_folder.setdefault(os.path.dirname(os.path.abspath(path)), []).append(path)
    names = {p: n for paths in by_folder.values() for p, n in _output_names(paths).items()}
    jobs = []
    for key, (path, in_folder, error) in unique.items():
        folder = os.path.dirname(os.path.abspath(path))
        out_dir = None if out is None else Path(os.path.normpath(out / os.path.relpath(folder, base)))
        jobs.append(_Job(path, key, out_dir, names.get(path, path.name), in_folder, error))
    return jobs


def _done(jsonl: Path) -> dict[str, str | None]:
    """The images recorded in ``jsonl`` by resolved path, each with its error (None: it worked)."""
    done: dict[str, str | None] = {}
    if not jsonl.is_file():
        return done
    with open(jsonl, "rb") as fh:
        for line in fh:
            try:
                record = json.loads(line)
                done[os.path.realpath(record["image"])] = record.get("error")
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # not a record (a line cut by an interrupt before this version repaired them)
    return done


def _repair(jsonl: Path) -> None:
    """End ``jsonl`` with a whole line before appending to it: a last record cut short by an
    interrupt is cut off (that image is redone), one that lacks only its newline gets it."""
    if not jsonl.is_file():
        return
    with open(jsonl, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        start, tail = size, b""
        while start > 0 and b"\n" not in tail:
            step = min(start, 1 << 16)
            start -= step
            fh.seek(start)
            tail = fh.read(step) + tail
        cut = start + tail.rfind(b"\n") + 1
        try:
            whole = "image" in json.loads(tail[cut - start :])
        except (ValueError, TypeError):
            whole = False
        if whole:
            fh.seek(size)
            fh.write(b"\n")
        else:
            fh.truncate(cut)


def safe_output(target: Path, source: Path) -> Path:
    """``target``, unless it is the input file itself (inputs are never overwritten)."""
    if target.exists() and target.resolve() == source.resolve():
        raise ValueError(f"{target}: refusing to overwrite an input")
    return target


def _failed(path: Path, text: str) -> str:
    """An error record's text, which always names the image (the CLI prints it as it is)."""
    return text if text.startswith(f"{path}:") else f"{path}: {text}"


def _reason(exc: Exception) -> str:
    """One line saying what went wrong: a facepoints error's message, else the exception type and message."""
    message = " ".join(str(exc).split())
    if isinstance(exc, ImageReadError) and message:
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def read_and_find(label: str | Path, load: Callable[[], np.ndarray], landmarker: FaceLandmarker) -> tuple:
    """(image, detections, error): one image read by ``load`` and its faces found, or the text of
    its error record (naming ``label``); shared by every engine, so all give the same records."""
    step = "reading the image"
    try:
        image = load()
        step = "face detection"
        return image, landmarker.find_faces(image), None
    except Exception as exc:  # any failure on one image becomes its error record
        return None, None, error_text(str(label), exc, step)


def _read_one(job: _Job, landmarker: FaceLandmarker) -> tuple:
    """(job, image, detections, error): the image read and its faces found, or why not."""
    if job.error is not None:
        return job, None, None, job.error
    return (job, *read_and_find(job.path, lambda: load_image(job.path), landmarker))


def landmarks_per_image(landmarker: FaceLandmarker, good: list[tuple], measures: dict) -> list[list[Face] | str]:
    """Faces with landmarks per image of one batch (``good``: (label, image, detections) each); when
    the batch fails, each image alone, so the error lands on the image that caused it (as a string)."""
    try:
        return landmarker.landmarks([im for _, im, _ in good], [found for _, _, found in good], **measures)
    except Exception as exc:  # any failure on one image becomes its error record
        if len(good) == 1:
            return [error_text(str(good[0][0]), exc, "landmarks")]
        return [one for item in good for one in landmarks_per_image(landmarker, [item], measures)]


def _write(
    job: _Job, result: ImageResult, pixels: list[np.ndarray], draw: bool, write_json: bool, jsonl: Path | None
) -> ImageResult:
    """Save one image's outputs: the annotated PNG, then its JSON document (a file named on its
    own) or its line in ``jsonl`` (an image found in a folder). ``pixels``: the image, if it was
    read, taken out of the list to be drawn on a copy (and then let go). A failed save turns the
    result into an error record; a failed append to ``jsonl`` stops the run (nothing could be recorded)."""
    if job.out_dir is not None and draw and pixels:
        try:
            target = safe_output(job.out_dir / f"{job.name}{OUTPUT_SUFFIX}", job.path)
            result.png_path = save_image(target, draw_faces(pixels.pop(), result.faces))
        except Exception as exc:  # a full disk, a read-only folder: this image's record says so
            why = f"writing the annotated image failed ({_reason(exc)})"
            result = ImageResult(result.path, error=_failed(job.path, why))
    if job.out_dir is not None and write_json and not job.in_folder:
        try:
            target = safe_output(job.out_dir / f"{job.name}.landmarks.json", job.path)
            result.json_path = atomic_write_bytes(target, json.dumps(result.to_dict(), indent=1).encode())
        except Exception as exc:
            why = f"writing the JSON document failed ({_reason(exc)})"
            result = ImageResult(result.path, error=_failed(job.path, why))
    if jsonl is not None and job.in_folder:
        with open(jsonl, "a") as fh:
            fh.write(json.dumps(result.to_dict()) + "\n")
    return result


def _reader_count(landmarker: FaceLandmarker, readers: int | None) -> int:
    """Threads that read images and detect faces: ``readers`` (default: one per CPU, at most
    :data:`MAX_READERS`) when the detector may be called from several threads at once (its
    ``thread_safe``: YuNet's onnxruntime session runs from several threads at once), else one."""
    if not landmarker.detector.thread_safe:
        return 1
    return max(1, readers if readers is not None else min(MAX_READERS, os.cpu_count() or 1))


@contextmanager
def _opencv_threads(count: int) -> Iterator[None]:
    """OpenCV's thread pool limited to ``count`` for a while (it is process-wide): the pipeline's own
    threads keep the cores busy, and OpenCV's pool on top of them only adds switching."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _take(reading: deque[Future], batch: int) -> tuple[list[tuple], BaseException | None]:
    """Up to ``batch`` read images from the head of ``reading``, in order (waiting for the first
    only), and what stopped a reader if one was stopped (not one image's failure: those are records,
    but a detector calling sys.exit, say), after the images read before it."""
    items: list[tuple] = []
    while reading and len(items) < batch and (not items or reading[0].done()):
        future = reading.popleft()
        if future.exception() is not None:
            return items, future.exception()
        items.append(future.result())
    return items, None


def _next_batch(
    reading: deque[Future], batch: int, landmarker: FaceLandmarker, measures: dict
) -> tuple[list[tuple[_Job, ImageResult, list[np.ndarray]]], BaseException | None]:
    """The next batch of read images through the landmark step: (job, result, pixels) each, the
    pixels in a list of none or one image that the writer empties (so that no other reference keeps a
    big photo in memory while its annotated copy is saved), and what stopped a reader (see :func:`_take`)."""
    items, stopped = _take(reading, batch)
    good = [(job, im, found) for job, im, found, err in items if err is None]
    marked = (
        landmarks_per_image(landmarker, [(job.path, im, found) for job, im, found in good], measures) if good else []
    )
    faces = dict(zip([job.key for job, _, _ in good], marked))
    out = []
    for job, image, _, err in items:
        got = faces.get(job.key, err)
        if isinstance(got, str):
            out.append((job, ImageResult(str(job.path), error=got), []))
        else:
            out.append((job, ImageResult(str(job.path), image.shape[1], image.shape[0], got), [image]))
    return out, stopped


def _pipeline(
    jobs: list[_Job], landmarker: FaceLandmarker, jsonl: Path | None, draw: bool, write_json: bool, measures: dict,
    progress: bool, batch: int, readers: int,
) -> Iterator[ImageResult]:  # fmt: skip
    """The images as a pipeline: ``readers`` threads load them and detect faces (a bounded number
    of images ahead), this thread runs the landmark model on the faces of up to ``batch`` images at
    once, and a writer thread draws and saves; results come out in input order once saved."""
    bar = tqdm(total=len(jobs), desc="detecting", disable=not progress, unit="img")
    todo = iter(jobs)
    reading: deque[Future] = deque()
    pending: deque[Future] = deque()
    pool = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="facepoints-read")
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facepoints-write")
    stopped: BaseException | None = None
    ahead = 2 * batch + readers  # images read (or being read) ahead of the landmark step
    try:
        with _opencv_threads(1):
            while reading or stopped is None:
                for job in islice(todo, ahead - len(reading)) if stopped is None else ():
                    reading.append(pool.submit(_read_one, job, landmarker))
                if len(reading) < ahead:
                    # every image is queued: the readers end after the last one, before the drawing
                    pool.shutdown(wait=False)
                if not reading:
                    break
                marked, stopped = _next_batch(reading, batch, landmarker, measures)
                if stopped is not None:
                    reading.clear()  # the images after the one that stopped are not read (pool shutdown cancels them)
                for job, result, pixels in marked:
                    pending.append(writer.submit(_write, job, result, pixels, draw, write_json, jsonl))
                while pending and (pending[0].done() or len(pending) > 2 * batch):
                    bar.update()
                    yield pending.popleft().result()
            while pending:
                bar.update()
                yield pending.popleft().result()
        if stopped is not None:
            raise stopped  # what stopped a reader, once the images before it are saved
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        writer.shutdown(wait=True)  # the records already submitted are saved
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
    readers: int | None = None,
) -> Iterator[ImageResult]:
    """Detect faces and landmarks in image files and folders (with their sub-folders), writing
    results as they go; one result per input image, in input order, the skipped ones first.

    A file named on its own gets a JSON document (``write_json``); the images found in folders
    get lines in ``results.jsonl``, and those already recorded there are skipped (``skipped``,
    with the recorded error if any). Images run as a pipeline: ``readers`` threads decode images
    and detect faces (default: one per CPU, up to :data:`MAX_READERS`, if the detector is
    thread-safe, else one), overlapping the landmark step, whose batches hold the faces of up to
    ``batch`` images. OpenCV's own thread pool is limited to one thread meanwhile (the pipeline's
    threads use the cores); the landmark model runs on the threads it was opened with (a
    :class:`FaceLandmarker` with ``threads=1`` suits folders best: ``facepoints detect`` does that).
    ``pose``, ``eyes`` and ``expression`` add those measures to every face. An image that
    cannot be read or processed gives a result with ``error`` set and the run goes on.

    Bad arguments raise here, before any work: :class:`ImageReadError` for an input that does
    not exist, :class:`ValueError` for an output folder that is a file or cannot be made.
    """
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"{out}: the output folder is an existing file")
    jobs = _plan(inputs, out)
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"{out}: cannot make the output folder ({exc.strerror or exc})") from None
        for folder in {job.out_dir for job in jobs if job.out_dir is not None and job.out_dir.is_dir()}:
            remove_stale_temp_files(folder)  # what a killed run was writing
    jsonl = out / RESULTS_NAME if out is not None and any(job.in_folder for job in jobs) else None
    measures = {"pose": pose, "eyes": eyes, "expression": expression}
    return _results(
        jobs, landmarker, jsonl, draw, write_json, measures, progress, batch, _reader_count(landmarker, readers)
    )


def _results(
    jobs: list[_Job], landmarker: FaceLandmarker, jsonl: Path | None, draw: bool, write_json: bool, measures: dict,
    progress: bool, batch: int, readers: int,
) -> Iterator[ImageResult]:  # fmt: skip
    """The skipped images, then the pipeline over the others (resuming ``jsonl`` after repairing it)."""
    done = {}
    if jsonl is not None:
        _repair(jsonl)
        done = _done(jsonl)
    todo = []
    for job in jobs:
        if job.in_folder and job.key in done:
            yield ImageResult(str(job.path), error=done[job.key], skipped=True)
        else:
            todo.append(job)
    progress = progress and any(job.in_folder for job in todo)
    yield from _pipeline(todo, landmarker, jsonl, draw, write_json, measures, progress, max(1, batch), readers)


def plan_images(
    inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike | None = None
) -> list[tuple[str, str, str | None]]:
    """Each input image once, as :func:`detect_files` plans them: (path as given, resolved path, error known
    before reading, e.g. a broken link), in input order; for other engines (facepoints.engines), so that they
    read the same images under the same names. Raises :class:`ImageReadError` for an input that does not exist."""
    jobs = _plan(inputs, Path(out_dir) if out_dir is not None else None)
    return [(str(job.path), job.key, job.error) for job in jobs]


def error_text(path: str, exc: Exception, step: str = "reading the image") -> str:
    """An image's error record text for ``exc`` raised at ``step`` ("face detection", "landmarks"), worded as
    :func:`detect_files` words it; for other engines (facepoints.engines), so that they give the same records."""
    plain = isinstance(exc, ImageReadError) and step != "landmarks"  # the reader passes these on as they are
    return _failed(path, _reason(exc) if plain else f"{step} failed ({_reason(exc)})")  # type: ignore[arg-type]
