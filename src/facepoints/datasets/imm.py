"""IMM face database ``.asf`` (AAM shape) files: relative coordinates, paths and connectivity.

Each point line is ``<path#> <type> <x rel.> <y rel.> <point#> <from> <to> ...`` with x, y
as fractions of the image width and height; the last non-comment line names the host
image. 73-point files use the registered ``imm73`` layout; other markups (the original
58-point one) get a layout built from the file's own paths and connections, as read,
without forcing them into 68 points.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from facepoints.datasets.base import DatasetError, LandmarkDataset, parse_float, register_format
from facepoints.layouts import Layout, get_layout, list_layouts, register_layout


@dataclass
class AsfShape:
    """One parsed ``.asf`` file."""

    points_rel: np.ndarray  # Nx2, fractions of width/height
    paths: list[int]
    connections: list[tuple[int, int]]  # (from, to) per point
    image_name: str


def read_asf(path: Path) -> AsfShape:
    """Parse an ``.asf`` file, checking the declared point count."""
    try:
        lines = Path(path).read_text(errors="strict").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    content = [(no, ln.strip()) for no, ln in enumerate(lines, start=1) if ln.strip() and not ln.lstrip().startswith("#")]
    if len(content) < 2:
        raise DatasetError(f"{path}: too short to be an .asf shape file")
    count_no, count_text = content[0]
    count = int(parse_float(count_text, f"{path}:{count_no}", "point count"))
    rows = content[1 : 1 + count]
    if len(rows) != count or len(content) != count + 2:
        raise DatasetError(f"{path}: declares {count} points but holds {len(content) - 2} point lines")
    pts, paths, conns = [], [], []
    for no, line in rows:
        parts = line.split()
        if len(parts) < 7:
            raise DatasetError(f"{path}:{no}: expected at least 7 columns, got {len(parts)}")
        at = f"{path}:{no}"
        pts.append([parse_float(parts[2], at, "x"), parse_float(parts[3], at, "y")])
        paths.append(int(parse_float(parts[0], at, "path number")))
        conns.append((int(parse_float(parts[5], at, "from")), int(parse_float(parts[6], at, "to"))))
    return AsfShape(np.asarray(pts, dtype=np.float32), paths, conns, content[-1][1])


def layout_from_asf(shape: AsfShape) -> Layout:
    """The layout for a markup: ``imm73`` if registered and matching, else one built from the file."""
    name = f"imm{len(shape.paths)}"
    if name in list_layouts():
        return get_layout(name)
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(shape.paths):
        groups.setdefault(f"path{p}", []).append(i)
    contours, closed = [], []
    for idx in groups.values():
        if len(idx) > 1:
            contours.append(tuple(idx))
            closed.append(shape.connections[idx[-1]][1] == idx[0])
    return register_layout(
        Layout(
            name=name,
            names=tuple(f"path{p}_{i}" for i, p in enumerate(shape.paths)),
            groups={k: tuple(v) for k, v in groups.items()},
            contours=tuple(contours),
            closed=tuple(closed),
            description=f"IMM {len(shape.paths)}-point markup as read from .asf files (no flip permutation known)",
        )
    )


def _looks_like_asf(path: Path) -> bool:
    return path.is_dir() and next(path.glob("*.asf"), None) is not None


@register_format("imm", _looks_like_asf)
def read_imm_folder(path: Path) -> LandmarkDataset:
    """Read every ``*.asf`` in a folder; identity is the person number (``PP`` of ``PP_NN``)."""
    folder = Path(path)
    files = sorted(folder.glob("*.asf")) if folder.is_dir() else []
    if not files:
        raise DatasetError(f"{folder}: no .asf files")
    sources, points, identities, where, sizes = [], [], [], [], []
    layout = None
    for asf in files:
        shape = read_asf(asf)
        this = layout_from_asf(shape)
        if layout is None:
            layout = this
        elif this.name != layout.name:
            raise DatasetError(f"{asf}: {this.num_points} points, while {files[0]} has {layout.num_points}")
        image = folder / shape.image_name
        if not image.is_file():
            raise DatasetError(f"{asf}: host image {image} not found")
        try:
            with Image.open(image) as im:
                width, height = im.size
        except OSError as exc:
            raise DatasetError(f"{asf}: host image {image} unreadable ({exc})") from None
        # relative coordinates span the image edges: x = 0 is the left edge, i.e. pixel centre -0.5
        points.append(shape.points_rel * np.float32([width, height]) - 0.5)
        sources.append(str(image))
        sizes.append((width, height))
        identities.append(asf.stem.split("_")[0])
        where.append(str(asf))
    assert layout is not None
    kp = np.stack(points)
    return LandmarkDataset(
        name=f"imm:{folder}",
        layout=layout.name,
        sources=sources,
        keypoints=kp,
        masks=~np.isnan(kp).any(-1),
        identities=identities,
        where=where,
        sizes=sizes,
    )
