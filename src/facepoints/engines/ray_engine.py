"""Batch landmarking on a Ray cluster: ``facepoints detect INPUT --engine ray`` (docs/scale.md).

The driver plans the images (folders, globs, text files of paths or URIs, Parquet files of paths; local files
and any filesystem fsspec reaches), leaves out those already recorded in the output's Parquet shards (resume),
and streams the others through Ray Data: a pool of actors, each holding one :class:`FaceLandmarker`
(onnxruntime, one model per actor), runs the faces of ``batch`` images per model batch, and Ray writes the
rows as Parquet shards in ``OUT/parquet/``, one row per image. Each row carries the image's record as the
local engine (:func:`facepoints.files.detect_files`) builds it, by the same code, so both engines give the
same records. A failure on one image is that image's error record; an actor that dies is restarted and its
batch retried, and a batch that still fails gets error records, so a run always ends with every image
recorded. Runs of up to ``jsonl_limit`` images also get ``OUT/results.jsonl``, as the local engine writes it.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import time
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from facepoints.files import OUTPUT_SUFFIX, RESULTS_NAME, ImageResult, landmarks_per_image, plan_images, read_and_find
from facepoints.imageio import IMAGE_SUFFIXES, ImageReadError, atomic_write_bytes, decode_image, load_image
from facepoints.landmarker import FaceLandmarker

__all__ = [
    "INSTALL_HINT", "LandmarkActor", "Planned", "RayRun", "arrow_schema", "detect_planned", "detect_ray", "plan_inputs",
    "read_image", "read_records", "require_ray",
]  # fmt: skip

log = logging.getLogger("facepoints.engines.ray")

#: The one-line answer when the extra is missing.
INSTALL_HINT = "--engine ray needs Ray and pyarrow: pip install 'facepoints[ray]'"
#: The folder under the output folder that holds the Parquet shards.
SHARDS_DIR = "parquet"
#: Rows per Parquet shard (the last ones may have fewer): a killed run redoes the images of shards not finished.
SHARD_SIZE = 1000
#: Runs with at most this many images also get results.jsonl.
JSONL_LIMIT = 100_000
#: Retries of a batch whose actor died (the actor is restarted each time).
TASK_RETRIES = 3
#: Inputs read as lists of image paths or URIs: text files (one a line) and Parquet files.
LIST_SUFFIXES = (".txt", ".lst")
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Columns of a Parquet input that may hold the paths, in order of preference.
PATH_COLUMNS = ("path", "image", "uri")

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB = re.compile(r"[*?[]")


def require_ray() -> None:
    """Raise ImportError with :data:`INSTALL_HINT` unless Ray Data, pyarrow and fsspec are installed."""
    if any(find_spec(name) is None for name in ("ray", "pyarrow", "fsspec")) or find_spec("ray.data") is None:
        raise ImportError(INSTALL_HINT)


def _is_uri(text: str) -> bool:
    return _URI.match(text) is not None


def _key(image: str) -> str:
    """An image's identity for de-duplication and resume: its resolved path, or the URI as written."""
    return image if _is_uri(image) else os.path.realpath(image)


@dataclass(frozen=True)
class Planned:
    """One input image: its name in the record (as given), what a worker reads, its identity, and an error
    already known before reading (a folder that cannot be listed, a broken link)."""

    image: str
    source: str  # an absolute path or a URI: workers need not share the driver's working folder
    key: str
    error: str | None = None


def _entry(image: str) -> Planned:
    return Planned(image, image if _is_uri(image) else os.path.abspath(image), _key(image))


def _list_file(text: str) -> list[str]:
    """The paths or URIs of a text file, one a line (blank lines and ``#`` comments left out)."""
    import fsspec

    with fsspec.open(text, "rt") as fh:
        return [line.strip() for line in fh if line.strip() and not line.lstrip().startswith("#")]


def _parquet_file(text: str) -> list[str]:
    """The paths or URIs in a Parquet file's ``path`` column (or ``image``, ``uri``, or its only column)."""
    import fsspec
    import pyarrow.parquet as pq

    with fsspec.open(text, "rb") as fh:
        table = pq.ParquetFile(fh)
        names = table.schema_arrow.names
        column = next((c for c in PATH_COLUMNS if c in names), names[0] if len(names) == 1 else None)
        if column is None:
            raise ValueError(f"{text}: no column named {' or '.join(PATH_COLUMNS)} (it has {', '.join(names)})")
        return [v for v in table.read(columns=[column]).column(0).to_pylist() if v]


def _remote_images(text: str) -> list[str]:
    """The image URIs of a remote folder (with its sub-folders), a glob, or a single file."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(text)
    if _GLOB.search(root):
        found = fs.glob(root)
    elif fs.isdir(root):
        found = fs.find(root)
    elif fs.exists(root):
        return [text]
    else:
        raise ImageReadError(f"{text}: no such file or folder")
    return [
        fs.unstrip_protocol(p)
        for p in sorted(found)
        if Path(p).suffix.lower() in IMAGE_SUFFIXES and not p.endswith(OUTPUT_SUFFIX)
    ]


def plan_inputs(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike | None = None) -> list[Planned]:
    """Every input image once (the first mention wins), in input order.

    Local folders and images are planned as the local engine plans them (same names, sub-folders, links,
    errors; the output folder is left out). A glob reads the image files it matches; a ``.txt``/``.lst``
    file lists paths or URIs, one a line; a ``.parquet`` file holds them in a ``path`` column; a URI names
    a remote folder, glob or image. Listed images that cannot be read get error records later; an input
    that does not exist raises :class:`ImageReadError` here, before any work.
    """
    planned: dict[str, Planned] = {}
    for item in map(str, inputs):
        suffix = Path(item).suffix.lower()
        if not _is_uri(item) and not os.path.exists(item) and not _GLOB.search(item):
            raise ImageReadError(f"{item}: no such file or folder")
        if (suffix in LIST_SUFFIXES or suffix in PARQUET_SUFFIXES) and not os.path.isdir(item):
            found = [_entry(p) for p in (_list_file(item) if suffix in LIST_SUFFIXES else _parquet_file(item))]
        elif _is_uri(item):
            found = [_entry(p) for p in _remote_images(item)]
        else:
            paths = [item]
            if not os.path.exists(item):  # a glob
                paths = [p for p in sorted(glob.glob(item, recursive=True)) if os.path.isfile(p)]
                paths = [p for p in paths if Path(p).suffix.lower() in IMAGE_SUFFIXES and not p.endswith(OUTPUT_SUFFIX)]
                if not paths:
                    raise ImageReadError(f"{item}: no image file matches")
            found = [Planned(p, os.path.abspath(p), key, err) for p, key, err in plan_images(paths, out_dir)]
        for entry in found:
            planned.setdefault(entry.key, entry)
    return list(planned.values())


def read_image(source: str, name: str) -> np.ndarray:
    """An image from a local path or any URI fsspec reaches, read as :func:`load_image` reads a file, with
    the same errors; messages name the image ``name`` (as given) rather than ``source``."""
    if not _is_uri(source):
        try:
            return load_image(source)
        except ImageReadError as exc:
            raise type(exc)(str(exc).replace(source, name)) from None
    import fsspec

    try:
        with fsspec.open(source, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ImageReadError(f"{name}: image file not found") from None
    try:
        return decode_image(data)
    except ImageReadError as exc:
        raise type(exc)(str(exc).replace("<bytes>", name, 1)) from None


def detect_planned(batch: list[Planned], landmarker: FaceLandmarker, measures: dict) -> list[dict]:
    """The records of a batch of images (docs/output.md): each read and its faces found, then the landmarks
    of all their faces in one model batch; a failure at any step is that image's error record."""
    read: list[tuple[Planned, np.ndarray | None, Any, str | None]] = []
    for item in batch:
        if item.error is not None:
            read.append((item, None, None, item.error))
            continue
        read.append((item, *read_and_find(item.image, partial(read_image, item.source, item.image), landmarker)))
    good = [(item.image, pixels, found) for item, pixels, found, error in read if error is None]
    marked = iter(landmarks_per_image(landmarker, good, measures) if good else [])
    records = []
    for item, pixels, _, error in read:
        got = error if error is not None else next(marked)
        if isinstance(got, str):
            result = ImageResult(item.image, error=got)
        else:
            result = ImageResult(item.image, pixels.shape[1], pixels.shape[0], got)
        records.append(result.to_dict())
    return records


def arrow_schema() -> Any:
    """The Parquet shards' columns: one row per image, the record's fields, ``faces`` as JSON text."""
    import pyarrow as pa

    return pa.schema([
        ("schema", pa.int16()), ("image", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
        ("num_faces", pa.int32()), ("faces", pa.string()), ("error", pa.string()),
    ])  # fmt: skip


def _row(record: dict) -> dict:
    faces = record.get("faces")
    return {
        "schema": record["schema"], "image": record["image"], "width": record.get("width"),
        "height": record.get("height"), "num_faces": None if faces is None else len(faces),
        "faces": None if faces is None else json.dumps(faces), "error": record.get("error"),
    }  # fmt: skip


def _record(row: dict) -> dict:
    """A row back as its record, field for field as :meth:`ImageResult.to_dict` made it."""
    if row["error"] is not None:
        return {"schema": row["schema"], "image": row["image"], "error": row["error"]}
    head = {"schema": row["schema"], "image": row["image"], "width": row["width"], "height": row["height"]}
    return head | {"faces": json.loads(row["faces"])}


class LandmarkActor:
    """Ray Data's class UDF: one FaceLandmarker for the actor's whole life, called on batches of images."""

    def __init__(self, settings: dict, measures: dict, threads: int) -> None:
        import cv2

        cv2.setNumThreads(threads)  # the detector: as many threads as the actor has CPUs
        self.landmarker = FaceLandmarker(**settings, threads=threads)
        self.measures = measures

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        columns = (batch[c].to_pylist() for c in ("image", "source", "key", "error"))
        items = [Planned(*values) for values in zip(*columns)]
        rows = [_row(record) for record in detect_planned(items, self.landmarker, self.measures)]
        return pa.Table.from_pylist(rows, schema=arrow_schema())


@dataclass
class RayRun:
    """What a Ray run did: counts, where its shards are, and for small runs (``jsonl``) this run's records."""

    out: str
    planned: int
    processed: int
    skipped: int
    failed: int  # error records made by this run
    failed_before: int  # error records of skipped images
    shards: list[str]  # this run's new shard files
    jsonl: str | None
    seconds: float
    records: list[dict] | None = None  # this run's records in input order, when it wrote results.jsonl


def _output(out: str) -> tuple[Any, str]:
    """The output folder's fsspec filesystem and path, made if needed; ValueError when it cannot be."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(out)
    if fs.isfile(root):
        raise ValueError(f"{out}: the output folder is an existing file")
    try:
        fs.makedirs(f"{root}/{SHARDS_DIR}", exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{out}: cannot make the output folder ({exc.strerror or exc})") from None
    return fs, root


def _shards(fs: Any, folder: str, columns: list[str] | None = None, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The finished shards of ``folder`` but ``skip``, read (``columns`` only); a shard cut short by a kill is
    removed, so that its images are done again."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables, skip = {}, set(skip)
    for path in sorted(fs.glob(f"{folder}/*.parquet")):
        if path in skip:
            continue
        try:
            with fs.open(path, "rb") as fh:
                tables[path] = pq.read_table(fh, columns=columns)
        except (pa.ArrowInvalid, OSError) as exc:
            log.warning("%s: removing a shard cut short (%s); its images are done again", path, exc)
            fs.rm(path)
    return tables


def _write_shard(fs: Any, folder: str, records: list[dict]) -> tuple[str, Any]:
    """Write records as one more shard, through a temporary name so that no reader sees half a shard."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = f"lost-{uuid.uuid4().hex}.parquet"
    tmp, path = f"{folder}/.{name}.tmp", f"{folder}/{name}"
    table = pa.Table.from_pylist([_row(r) for r in records], schema=arrow_schema())
    with fs.open(tmp, "wb") as fh:
        pq.write_table(table, fh)
    fs.mv(tmp, path)
    return path, table


def _write_jsonl(fs: Any, root: str, records: list[dict]) -> str:
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    path = f"{root}/{RESULTS_NAME}"
    if "file" in fs.protocol:
        atomic_write_bytes(path, data)
    else:
        fs.pipe_file(path, data)  # an object store writes an object whole
    return path


def read_records(out_dir: str | os.PathLike) -> list[dict]:
    """Every record in a Ray run's output folder (its Parquet shards), shard by shard."""
    require_ray()
    import fsspec

    fs, root = fsspec.core.url_to_fs(str(out_dir))
    return [_record(row) for table in _shards(fs, f"{root}/{SHARDS_DIR}").values() for row in table.to_pylist()]


def _run_dataset(
    todo: list[Planned], shard_dir: str, settings: dict, measures: dict, address: str | None, actors: int | None,
    threads: int, batch: int, shard_size: int, progress: bool,
) -> None:  # fmt: skip
    """Stream ``todo`` through a pool of landmarker actors into Parquet shards in ``shard_dir``; starts Ray on
    this machine (all its CPUs) unless it runs already or ``address`` names a cluster, and stops what it started."""
    import pyarrow as pa
    import ray
    import ray.data

    started = not ray.is_initialized()
    if started:
        local = {} if address else {"num_cpus": os.cpu_count(), "include_dashboard": False}
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, **local)
    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars, context.print_on_execution_start, context.max_errored_blocks
    data_log = logging.getLogger("ray.data")
    level = data_log.level
    try:
        context.enable_progress_bars = context.print_on_execution_start = progress
        data_log.setLevel(level if progress else logging.ERROR)  # its start and end lines are progress too
        context.max_errored_blocks = -1  # a batch that fails after its retries: its images get error records
        columns = {c: [getattr(p, c) for p in todo] for c in ("image", "source", "key", "error")}
        table = pa.table(columns, schema=pa.schema([(c, pa.string()) for c in columns]))
        blocks = [table.slice(start, batch) for start in range(0, len(todo), batch)]
        size = min(len(blocks), actors or max(1, int(ray.cluster_resources().get("CPU", 1) // threads)))
        with warnings.catch_warnings():  # Ray 2.5x deprecates these remote args and has no named ones for them yet
            warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated")
            ds = ray.data.from_arrow(blocks).map_batches(
                LandmarkActor, fn_constructor_kwargs={"settings": settings, "measures": measures, "threads": threads},
                batch_size=batch, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=size),
                num_cpus=threads, max_restarts=-1, max_task_retries=TASK_RETRIES,
            )  # fmt: skip
        # writing is light: it must not wait for a CPU that the actors hold
        rows = {"min_rows_per_file": shard_size, "max_rows_per_file": shard_size}
        ds.write_parquet(shard_dir, **rows, ray_remote_args={"num_cpus": 0})
    finally:
        context.enable_progress_bars, context.print_on_execution_start, context.max_errored_blocks = saved
        data_log.setLevel(level)
        if started:
            ray.shutdown()


def detect_ray(
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike = "facepoints-out",
    landmarker: dict | None = None,
    *,
    pose: bool = False,
    eyes: bool = False,
    expression: bool = False,
    address: str | None = None,
    actors: int | None = None,
    threads: int = 1,
    batch: int = 32,
    shard_size: int = SHARD_SIZE,
    jsonl_limit: int = JSONL_LIMIT,
    progress: bool = True,
) -> RayRun:
    """Faces and landmarks of every input image on a Ray cluster, as sharded Parquet in ``OUT/parquet/``.

    ``landmarker``: :class:`FaceLandmarker` keyword arguments (``detector``, ``model``, ``refine``, ``flip``,
    ``backend``, ``min_face``), one landmarker per actor. ``address``: the cluster to join (``"auto"``,
    ``"ray://host:10001"``; default: Ray on this machine, unless it runs in this process already).
    ``actors`` (default: the cluster's CPUs / ``threads``) each use ``threads`` CPUs; ``batch`` images share
    one model batch and make one Ray task (the larger, the less Ray Data's per-task cost weighs; docs/scale.md).
    Images already recorded in ``OUT/parquet/`` are skipped (resume); ``OUT/results.jsonl`` is rewritten
    with every record when there are at most ``jsonl_limit``. Bad arguments raise before any work.
    """
    require_ray()
    begin = time.perf_counter()
    planned = plan_inputs(inputs, None if _is_uri(str(out_dir)) else out_dir)
    fs, root = _output(str(out_dir))
    shard_dir = f"{root}/{SHARDS_DIR}"
    settings = dict(landmarker or {})
    model = settings.get("model")
    if model is not None and not _is_uri(str(model)) and os.path.exists(model):
        settings["model"] = os.path.abspath(model)  # workers need not share the driver's working folder
    before = _shards(fs, shard_dir, ["image", "error"])
    done = {_key(i): e for t in before.values() for i, e in zip(t["image"].to_pylist(), t["error"].to_pylist())}
    todo = [p for p in planned if p.key not in done]
    if todo:
        measures = {"pose": pose, "eyes": eyes, "expression": expression}
        writable = shard_dir if _is_uri(str(out_dir)) else os.path.abspath(shard_dir)
        _run_dataset(todo, writable, settings, measures, address, actors, threads, max(1, batch), shard_size, progress)
    new = _shards(fs, shard_dir, ["image", "error"], skip=before)  # this run's shards
    recorded = {_key(image) for table in new.values() for image in table["image"].to_pylist()}
    lost = [p for p in todo if p.key not in recorded]
    if lost:  # batches that failed on every try (their actor died): error records, never a failed run
        why = f"not processed: its batch failed {TASK_RETRIES + 1} times on the Ray cluster (a worker died)"
        records = [ImageResult(p.image, error=f"{p.image}: {why}").to_dict() for p in lost]
        path, table = _write_shard(fs, shard_dir, records)
        new[path] = table
    skipped = [p for p in planned if p.key in done]
    run = RayRun(
        str(out_dir), len(planned), len(todo), len(skipped), sum(len(t) - t["error"].null_count for t in new.values()),
        sum(done[p.key] is not None for p in skipped), sorted(new), None, 0.0,
    )  # fmt: skip
    if sum(len(table) for table in [*before.values(), *new.values()]) <= jsonl_limit:
        by_key: dict[str, dict] = {}
        for table in _shards(fs, shard_dir).values():
            for row in table.to_pylist():
                by_key.setdefault(_key(row["image"]), _record(row))
        ordered = {p.key: by_key[p.key] for p in planned if p.key in by_key} | by_key  # input order, then older runs'
        run.jsonl = _write_jsonl(fs, root, list(ordered.values()))
        run.records = [by_key[p.key] for p in todo if p.key in by_key]
    run.seconds = time.perf_counter() - begin
    return run
