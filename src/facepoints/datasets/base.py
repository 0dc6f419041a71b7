"""The ``Sample`` type, the in-memory index every reader fills, and the format registry."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from facepoints.imageio import ImageReadError, load_image
from facepoints.layouts import convert_points, get_layout

__all__ = [
    "Sample",
    "DatasetError",
    "LandmarkDataset",
    "ConcatDataset",
    "register_format",
    "list_formats",
    "open_dataset",
    "identity_from_filename",
    "parse_float",
    "image_size",
]

#: A labelled point may lie at most this many image sides outside its image: faces cut by the edge
#: have points outside it, but farther ones are typing or unit errors (a coordinate of 1e30) that
#: wreck every crop, repeat count and loss they touch.
OUTSIDE_LIMIT = 1.0


class DatasetError(ValueError):
    """A dataset file is missing, malformed or inconsistent; the message names file and row."""


@dataclass
class Sample:
    """One annotated face image.

    ``keypoints`` are pixel coordinates with pixel centres at integers (the
    convention of OpenCV's warps). ``mask[i]`` is False where point ``i`` is not
    labelled (its coordinates are then meaningless). ``affine`` is the 3x3 matrix
    that maps pixels of the original file to pixels of ``image``; ``flipped`` says
    whether an odd number of mirror flips (with the layout's permutation) happened,
    so :meth:`to_original` can map predictions back exactly.
    """

    image: np.ndarray
    keypoints: np.ndarray
    mask: np.ndarray
    layout: str
    path: str | None = None
    identity: str | None = None
    affine: np.ndarray = field(default_factory=lambda: np.eye(3))
    flipped: bool = False

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32).reshape(-1, 2)
        self.mask = np.asarray(self.mask, dtype=bool).reshape(-1)
        if self.mask.shape[0] != self.keypoints.shape[0]:
            raise ValueError(f"mask has {self.mask.shape[0]} entries for {self.keypoints.shape[0]} keypoints")
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(f"Sample.image must be HxWx3 uint8 RGB, got {self.image.shape} {self.image.dtype}")

    @property
    def num_points(self) -> int:
        return int(self.keypoints.shape[0])

    def replace(self, **changes) -> Sample:
        """A copy with some fields changed (arrays are not copied)."""
        return replace(self, **changes)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Map points given in this sample's pixel frame back to the original image.

        Also undoes the index permutation of any mirror flip, so point ``i`` of the
        result is the original image's point ``i``.
        """
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        inv = np.linalg.inv(self.affine)
        out = points @ inv[:2, :2].T + inv[:2, 2]
        if self.flipped:
            out = out[get_layout(self.layout).require_flip()]
        return out.astype(np.float32)


ImageSource = str | Callable[[], np.ndarray]


class LandmarkDataset(Sequence[Sample]):
    """An indexed dataset: annotations are parsed (and validated) up front, images load lazily.

    ``sources[i]`` is an image path or a zero-argument function returning the image;
    ``where[i]`` says where annotation ``i`` came from (``file:row``) for error messages;
    ``origins[i]`` names the dataset it was read from (kept through concatenation and subsets,
    so that a mixed split can be scored per source). Missing points are NaN (or masked); a labelled
    point that is infinite, or (given ``sizes[i]``, the image's width and height, 0 where unknown)
    more than ``OUTSIDE_LIMIT`` image sides outside its image, is refused with ``where[i]`` named.
    """

    def __init__(
        self,
        name: str,
        layout: str,
        sources: list[ImageSource],
        keypoints: np.ndarray,
        masks: np.ndarray,
        identities: list[str | None],
        where: list[str],
        paths: list[str] | None = None,
        origins: list[str] | None = None,
        sizes: np.ndarray | Sequence[tuple[int, int]] | None = None,
    ) -> None:
        n = len(sources)
        lay = get_layout(layout)
        keypoints = np.asarray(keypoints, dtype=np.float32).reshape(n, -1, 2)
        if keypoints.shape[1] != lay.num_points:
            raise DatasetError(f"{name}: {keypoints.shape[1]} points per sample, layout {layout} has {lay.num_points}")
        origins = [name] * n if origins is None else origins
        if not (len(identities) == len(where) == len(origins) == n and masks.shape[:1] == (n,)):
            raise ValueError("sources, keypoints, masks, identities, where and origins must have one entry per sample")
        self.name = name
        self.layout = layout
        self.sources = sources
        self.keypoints = keypoints
        self.masks = np.asarray(masks, dtype=bool).reshape(n, -1)
        self.identities = identities
        self.where = where
        self.paths = paths if paths is not None else [s if isinstance(s, str) else w for s, w in zip(sources, where)]
        self.origins = origins
        self._check_points(sizes)

    def _check_points(self, sizes: np.ndarray | Sequence[tuple[int, int]] | None) -> None:
        """Raise a DatasetError naming the first sample with an infinite or far-outside labelled point."""
        known = self.masks & ~np.isnan(self.keypoints).any(-1)
        bad = known & ~np.isfinite(self.keypoints).all(-1)
        side = np.zeros((len(self), 1), dtype=np.float64)
        if sizes is not None:  # the longest side bounds both axes, whatever the EXIF orientation
            side = np.asarray(sizes, dtype=np.float64).reshape(len(self), 2).max(1, keepdims=True)
            limit = OUTSIDE_LIMIT * side[..., None]
            far = ((self.keypoints < -limit) | (self.keypoints > side[..., None] + limit)).any(-1)
            bad |= known & far & (side > 0)
        if bad.any():
            i, k = np.argwhere(bad)[0]
            x, y = self.keypoints[i, k]
            problem = "not finite"
            if np.isfinite([x, y]).all():
                problem = f"more than {OUTSIDE_LIMIT:g} image side ({side[i, 0]:g} px) outside the image"
            point = f"point {k + 1} of {self.keypoints.shape[1]} at ({x:g}, {y:g})"
            raise DatasetError(f"{self.where[i]}: {point} is {problem}")

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        source = self.sources[index]
        try:
            image = load_image(source) if isinstance(source, str) else source()
        except ImageReadError as exc:
            raise DatasetError(f"{self.where[index]}: {exc}") from None
        return Sample(
            image=image,
            keypoints=self.keypoints[index].copy(),
            mask=self.masks[index].copy(),
            layout=self.layout,
            path=self.paths[index],
            identity=self.identities[index],
        )

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def subset(self, indices: Sequence[int]) -> LandmarkDataset:
        """A dataset holding only the given samples (e.g. one side of a split)."""
        idx = list(indices)
        return LandmarkDataset(
            name=self.name,
            layout=self.layout,
            sources=[self.sources[i] for i in idx],
            keypoints=self.keypoints[idx],
            masks=self.masks[idx],
            identities=[self.identities[i] for i in idx],
            where=[self.where[i] for i in idx],
            paths=[self.paths[i] for i in idx],
            origins=[self.origins[i] for i in idx],
        )

    def to_layout(self, layout: str) -> LandmarkDataset:
        """The same images with keypoints mapped to another layout (e.g. ibug68 -> kaggle15,
        kaggle15 -> kaggle4)."""
        points, masks = convert_points(self.keypoints, self.layout, layout, self.masks)
        converted = self.subset(range(len(self)))
        converted.layout, converted.keypoints, converted.masks = layout, points, masks
        converted.name = f"{self.name}->{layout}"
        return converted

    def complete_rows(self) -> LandmarkDataset:
        """Only the samples whose every point is labelled."""
        return self.subset(np.flatnonzero(self.masks.all(1)))

    def __repr__(self) -> str:
        return f"LandmarkDataset({self.name!r}, layout={self.layout!r}, samples={len(self)})"


class ConcatDataset(LandmarkDataset):
    """Several datasets of one layout read as one (e.g. Udacity + 300-W for training)."""

    def __init__(self, parts: Sequence[LandmarkDataset]) -> None:
        if not parts:
            raise ValueError("ConcatDataset needs at least one dataset")
        layouts = {p.layout for p in parts}
        if len(layouts) != 1:
            raise DatasetError(f"cannot combine datasets of different layouts: {sorted(layouts)}")
        super().__init__(
            name="+".join(p.name for p in parts),
            layout=parts[0].layout,
            sources=[s for p in parts for s in p.sources],
            keypoints=np.concatenate([p.keypoints for p in parts]),
            masks=np.concatenate([p.masks for p in parts]),
            identities=[i for p in parts for i in p.identities],
            where=[w for p in parts for w in p.where],
            paths=[x for p in parts for x in p.paths],
            origins=[o for p in parts for o in p.origins],
        )


# --------------------------------------------------------------------------- registry

Opener = Callable[[Path], LandmarkDataset]
Detector = Callable[[Path], bool]
_FORMATS: dict[str, tuple[Detector, Opener]] = {}


def register_format(name: str, detect: Detector) -> Callable[[Opener], Opener]:
    """Decorator that registers a reader: ``detect(path)`` says whether it applies."""

    def wrap(opener: Opener) -> Opener:
        _FORMATS[name] = (detect, opener)
        return opener

    return wrap


def list_formats() -> list[str]:
    """Names of the registered dataset formats."""
    return sorted(_FORMATS)


def open_dataset(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> LandmarkDataset:
    """Open a dataset from a SPEC: ``PATH`` (format detected), ``FORMAT:PATH``, or a list/``+``-joined
    sequence of those, which is concatenated."""
    if not isinstance(spec, (str, os.PathLike)):
        parts = [open_dataset(s) for s in spec]
        return parts[0] if len(parts) == 1 else ConcatDataset(parts)
    text = os.fspath(spec)
    if "+" in text and not Path(text).exists():
        return open_dataset(text.split("+"))
    fmt, _, rest = text.partition(":")
    if rest and fmt in _FORMATS:
        return _FORMATS[fmt][1](Path(rest))
    path = Path(text)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    for detect, opener in _FORMATS.values():
        if detect(path):
            return opener(path)
    raise DatasetError(
        f"{path}: cannot tell the dataset format; prefix the path with one of {', '.join(list_formats())} (e.g. 300w:{path})"
    )


_ID_SUFFIX = re.compile(r"_\d+$")


def identity_from_filename(name: str) -> str:
    """``Person_Name_NN.ext`` -> ``Person_Name`` (the Udacity / YouTube Faces convention)."""
    return _ID_SUFFIX.sub("", Path(name).stem)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image file from its header alone; (0, 0) when it cannot be read
    (loading the sample later says why)."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 0, 0


def parse_float(text: str, where: str, what: str = "value") -> float:
    """``float(text)`` with an error that says where the bad value is."""
    try:
        return float(text)
    except ValueError:
        raise DatasetError(f"{where}: non-numeric {what} {text!r}") from None
