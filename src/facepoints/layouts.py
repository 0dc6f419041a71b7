"""Keypoint layouts as data: point names, groups, drawing contours, flip permutations.

Every other module asks this one what a layout looks like instead of hard-coding
indices. Left and right always mean the *subject's* left and right, so the subject's
left eye appears on the image's right (this is the Kaggle convention, and iBUG 68
points 42-47 are that eye).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources

import numpy as np

from facepoints.geometry import roll_from_parts

__all__ = [
    "IBUG68",
    "IMM73",
    "KAGGLE4",
    "KAGGLE15",
    "Layout",
    "conversion_table",
    "convert_points",
    "get_layout",
    "ibug68_mean_shape",
    "list_layouts",
    "mirror_anchor_name",
    "register_layout",
]


#: The anchors a face's roll is read from: the eye centres and the mouth corners.
ROLL_ANCHORS = ("right_eye_centre", "left_eye_centre", "right_mouth_corner", "left_mouth_corner")


@dataclass(frozen=True)
class Layout:
    """A named keypoint scheme.

    ``flip_perm[i]`` is the index that point ``i`` becomes after a horizontal mirror
    (so ``mirrored = points[flip_perm]`` once x has been reflected). ``contours`` are
    index chains drawn as polylines; ``closed`` says which of them are loops.

    ``anchors`` name the facial parts that metrics and applications use, so that none of
    them hard-codes a point index: each anchor is a tuple of point indices, and its
    position (:meth:`anchor_point`) is their mean. The names in use are ``jaw``, ``chin``,
    ``right_eyebrow``/``left_eyebrow``, ``nose_bridge``, ``nose_tip``, ``nose_base``,
    ``right_eye``/``left_eye`` (the eye's outline, which starts at one corner and reaches
    the other halfway round), ``right_eye_outer``, ``right_eye_inner``, ``left_eye_inner``,
    ``left_eye_outer`` (corners), ``right_eye_centre``/``left_eye_centre``,
    ``right_pupil``/``left_pupil``, ``right_mouth_corner``/``left_mouth_corner``,
    ``upper_lip_centre``/``lower_lip_centre`` (the outer lip edge on the midline),
    ``outer_lips``, ``inner_lips`` (in ibug68 an outline like the eyes') and ``lower_lip``.
    A layout declares the ones it has. With a flip permutation, the mirror of every
    ``right_*`` anchor must be its ``left_*`` counterpart and every other anchor must be
    its own mirror (checked here).

    ``norm_pair`` names the two anchors whose distance normalizes NME (for ``ibug68`` the
    outer eye corners 36 and 45).
    """

    name: str
    names: tuple[str, ...]
    groups: dict[str, tuple[int, ...]]
    contours: tuple[tuple[int, ...], ...] = ()
    closed: tuple[bool, ...] = ()
    flip_perm: tuple[int, ...] | None = None
    anchors: dict[str, tuple[int, ...]] = field(default_factory=dict)
    norm_pair: tuple[str, str] | None = None
    description: str = ""
    #: (parent layout, indices): this layout is those points of the parent, in that order
    subset_of: tuple[str, tuple[int, ...]] | None = None
    _group_of: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.names)
        group_of = [""] * n
        for group, idx in self.groups.items():
            for i in idx:
                if not 0 <= i < n:
                    raise ValueError(f"layout {self.name}: group {group} has index {i} outside 0..{n - 1}")
                group_of[i] = group
        if "" in group_of:
            raise ValueError(f"layout {self.name}: point {group_of.index('')} belongs to no group")
        object.__setattr__(self, "_group_of", tuple(group_of))
        if len(self.closed) != len(self.contours):
            raise ValueError(f"layout {self.name}: closed has {len(self.closed)} flags for {len(self.contours)} contours")
        if self.flip_perm is not None:
            perm = list(self.flip_perm)
            if sorted(perm) != list(range(n)) or any(perm[perm[i]] != i for i in range(n)):
                raise ValueError(f"layout {self.name}: flip_perm must be an involutive permutation of 0..{n - 1}")
        for anchor, idx in self.anchors.items():
            ok = isinstance(idx, (tuple, list)) and idx and all(isinstance(i, (int, np.integer)) for i in idx)
            if not ok or not all(0 <= i < n for i in idx):
                raise ValueError(f"layout {self.name}: anchor {anchor} must be a tuple of indices in 0..{n - 1}: {idx}")
        object.__setattr__(self, "anchors", {a: tuple(int(i) for i in idx) for a, idx in self.anchors.items()})
        if self.norm_pair is not None:
            self.require_anchors(*self.norm_pair, purpose="its NME normalization (norm_pair)")
        if self.flip_perm is not None:
            self._check_anchor_mirrors()

    def _check_anchor_mirrors(self) -> None:
        """Mirroring must take each ``right_*`` anchor onto its ``left_*`` one and every other anchor onto itself."""
        for anchor, idx in self.anchors.items():
            other = mirror_anchor_name(anchor)
            if other not in self.anchors:
                raise ValueError(f"layout {self.name}: anchor {anchor} has no mirror anchor {other}")
            if {self.flip_perm[i] for i in idx} != set(self.anchors[other]):
                raise ValueError(f"layout {self.name}: flip_perm does not map anchor {anchor} onto {other}")

    @property
    def num_points(self) -> int:
        return len(self.names)

    def group_of(self, index: int) -> str:
        """Name of the group that point ``index`` belongs to."""
        return self._group_of[index]

    def index(self, name: str) -> int:
        """Index of the point called ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"layout {self.name} has no point called {name!r}") from None

    def require_anchors(self, *names: str, purpose: str = "this") -> tuple[tuple[int, ...], ...]:
        """The point indices of each named anchor, or a clear error naming those the layout lacks."""
        missing = [a for a in names if a not in self.anchors]
        if missing:
            have = ", ".join(self.anchors) or "none"
            raise ValueError(
                f"layout {self.name} has no anchor {', '.join(missing)}, which {purpose} needs (its anchors: {have})"
            )
        return tuple(self.anchors[a] for a in names)

    def anchor_point(self, points: np.ndarray, name: str) -> np.ndarray:
        """Position of an anchor in ``points`` (``[..., N, D]`` -> ``[..., D]``): the mean of its points."""
        (idx,) = self.require_anchors(name, purpose=f"the position of {name}")
        return np.asarray(points)[..., list(idx), :].mean(axis=-2)

    @property
    def has_roll(self) -> bool:
        """Whether the face's roll can be read from this layout's points (eye centres, mouth corners)."""
        return all(a in self.anchors for a in ROLL_ANCHORS)

    @cached_property
    def _roll_weights(self) -> np.ndarray:
        """(3, N): the right eye centre, the left eye centre and the mouth centre as means of points."""
        right, left, *mouth = self.require_anchors(*ROLL_ANCHORS, purpose="the face's roll")
        weights = np.zeros((3, self.num_points))
        for row, groups in enumerate(([right], [left], mouth)):
            for idx in groups:
                weights[row, list(idx)] += 1.0 / (len(idx) * len(groups))
        return weights

    def roll(self, points: np.ndarray) -> np.ndarray:
        """The roll (degrees; see :mod:`facepoints.geometry`) of faces from their points ``[..., N, 2]``:
        from the eye centres and the middle of the mouth corners."""
        right_eye, left_eye, mouth = np.moveaxis(self._roll_weights @ np.asarray(points, np.float64), -2, 0)
        return roll_from_parts(right_eye, left_eye, mouth)

    def require_points(self, points: np.ndarray, purpose: str = "this") -> np.ndarray:
        """``points`` as a float64 (N, 2) array, or a clear error if they are not this layout's N points."""
        pts = np.asarray(points, dtype=np.float64)
        if pts.shape != (self.num_points, 2):
            raise ValueError(
                f"{purpose} needs the {self.num_points} points of layout {self.name}, got an array of shape {pts.shape}"
            )
        return pts

    def require_flip(self) -> np.ndarray:
        """The flip permutation as an array, or a clear error if the layout has none."""
        if self.flip_perm is None:
            raise ValueError(f"layout {self.name} defines no horizontal-flip permutation; flipping is not possible")
        return np.asarray(self.flip_perm, dtype=np.int64)


def mirror_anchor_name(name: str) -> str:
    """The anchor a horizontal mirror turns ``name`` into: ``right`` and ``left`` swapped (``chin`` stays)."""
    swap = {"right": "left", "left": "right"}
    return "_".join(swap.get(part, part) for part in name.split("_"))


_REGISTRY: dict[str, Layout] = {}
# (source, target) -> tuple of source-index tuples; each target point is the mean of its sources.
_CONVERSIONS: dict[tuple[str, str], tuple[tuple[int, ...], ...]] = {}


def register_layout(layout: Layout) -> Layout:
    """Add a layout to the registry (one line per new scheme)."""
    _REGISTRY[layout.name] = layout
    return layout


def get_layout(name: str | Layout) -> Layout:
    """Look a layout up by name (a ``Layout`` passes through unchanged)."""
    if isinstance(name, Layout):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown keypoint layout {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def list_layouts() -> list[str]:
    """Names of all registered layouts."""
    return sorted(_REGISTRY)


def conversion_table(source: str | Layout, target: str | Layout) -> tuple[tuple[int, ...], ...]:
    """For each target point, the source points whose mean it is (e.g. ibug68 -> kaggle15)."""
    src, dst = get_layout(source), get_layout(target)
    if src.name == dst.name:
        return tuple((i,) for i in range(src.num_points))
    if dst.subset_of is not None and dst.subset_of[0] == src.name:
        return tuple((i,) for i in dst.subset_of[1])
    if (src.name, dst.name) in _CONVERSIONS:
        return _CONVERSIONS[(src.name, dst.name)]
    raise ValueError(f"no conversion from layout {src.name} to {dst.name}")


def convert_points(
    points: np.ndarray, source: str | Layout, target: str | Layout, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Map points (``[..., N, 2]``) of one layout onto another, e.g. ibug68 -> kaggle15.

    A target point is the mean of its source points; it is masked out when any of
    them is. Returns ``(points, mask)``.
    """
    src, dst = get_layout(source), get_layout(target)
    if src.name == dst.name:
        m = np.ones(points.shape[:-1], bool) if mask is None else mask
        return points.copy(), m.copy()
    table = conversion_table(src, dst)
    points = np.asarray(points, dtype=np.float32)
    if points.shape[-2] != src.num_points:
        raise ValueError(f"expected {src.num_points} {src.name} points, got {points.shape[-2]}")
    mask = np.ones(points.shape[:-1], bool) if mask is None else np.asarray(mask, bool)
    out = np.stack([points[..., list(idx), :].mean(axis=-2) for idx in table], axis=-2)
    out_mask = np.stack([mask[..., list(idx)].all(axis=-1) for idx in table], axis=-1)
    return out.astype(np.float32), out_mask


@cache
def ibug68_mean_shape() -> np.ndarray:
    """Mean iBUG-68 shape (68x2), outer eye corners at (-0.5, 0) and (0.5, 0), y down."""
    text = resources.files("facepoints.resources").joinpath("ibug68_mean_shape.json").read_text()
    return np.asarray(json.loads(text)["points"], dtype=np.float32)


# --------------------------------------------------------------------------- ibug68


def _ibug68() -> Layout:
    names = [f"jaw_{i:02d}" for i in range(17)]  # 0 = subject's right ear side, 8 = chin
    names += [f"right_brow_{i}" for i in range(5)]  # 17 (outer) .. 21 (inner)
    names += [""] * 5  # 22 .. 26: named below as mirrors of the right brow
    names += [f"nose_bridge_{i}" for i in range(4)]  # 27 .. 30 (30 = tip)
    names += [f"nose_base_{i}" for i in range(5)]  # 31 .. 35
    names += [f"right_eye_{i}" for i in range(6)]  # 36 (outer corner) .. 39 (inner corner) .. 41
    names += [""] * 6  # 42 .. 47: mirrors of the right eye
    names += [f"outer_lip_{i:02d}" for i in range(12)]  # 48 right corner, 54 left corner
    names += [f"inner_lip_{i}" for i in range(8)]  # 60 .. 67
    names[8], names[30] = "chin", "nose_tip"
    perm = list(range(17))[::-1]  # jaw
    perm += list(range(26, 16, -1))  # brows 17..26 <-> 26..17
    perm += [27, 28, 29, 30, 35, 34, 33, 32, 31]  # nose
    perm += [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    perm += [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lip
    perm += [64, 63, 62, 61, 60, 67, 66, 65]  # inner lip
    for i in range(22, 27):
        names[i] = "left_" + names[perm[i]].removeprefix("right_")  # left_brow_0 (26) mirrors right_brow_0 (17)
    for i in range(42, 48):
        names[i] = "left_" + names[perm[i]].removeprefix("right_")  # left_eye_0 (45) mirrors right_eye_0 (36)
    r = lambda a, b: tuple(range(a, b))
    contours = (r(0, 17), r(17, 22), r(22, 27), r(27, 31), r(31, 36), r(36, 42), r(42, 48), r(48, 60), r(60, 68))
    return Layout(
        name="ibug68",
        names=tuple(names),
        groups={"jaw": r(0, 17), "brows": r(17, 27), "nose": r(27, 36), "eyes": r(36, 48), "mouth": r(48, 68)},
        contours=contours,
        closed=(False, False, False, False, False, True, True, True, True),
        flip_perm=tuple(perm),
        anchors={
            "jaw": r(0, 17),  # from the subject's right ear to the left one
            "chin": (8,),
            "right_eyebrow": r(17, 22),  # outer end to inner end
            "left_eyebrow": r(22, 27),  # inner end to outer end
            "nose_bridge": r(27, 31),  # from between the eyes down to the tip
            "nose_tip": (30,),
            "nose_base": r(31, 36),
            "right_eye": r(36, 42),  # p1..p6 of the eye aspect ratio: corner, upper lid, corner, lower lid
            "left_eye": r(42, 48),
            "right_eye_outer": (36,),
            "right_eye_inner": (39,),
            "left_eye_inner": (42,),
            "left_eye_outer": (45,),
            "right_eye_centre": r(36, 42),  # the mean of the eye's outline
            "left_eye_centre": r(42, 48),
            "right_mouth_corner": (48,),
            "left_mouth_corner": (54,),
            "upper_lip_centre": (51,),
            "lower_lip_centre": (57,),
            "outer_lips": r(48, 60),
            "inner_lips": r(60, 68),  # corner, upper lip, corner, lower lip
            "lower_lip": r(55, 60) + r(65, 68),  # outer and inner edge of the lower lip, corners left out
        },
        norm_pair=("right_eye_outer", "left_eye_outer"),
        description="iBUG 300-W 68-point markup (0-based indices)",
    )


IBUG68 = register_layout(_ibug68())

# --------------------------------------------------------------------------- kaggle15

_KAGGLE15_FROM_IBUG68: dict[str, tuple[int, ...]] = {
    "left_eye_center": tuple(range(42, 48)),
    "right_eye_center": tuple(range(36, 42)),
    "left_eye_inner_corner": (42,),
    "left_eye_outer_corner": (45,),
    "right_eye_inner_corner": (39,),
    "right_eye_outer_corner": (36,),
    "left_eyebrow_inner_end": (22,),
    "left_eyebrow_outer_end": (26,),
    "right_eyebrow_inner_end": (21,),
    "right_eyebrow_outer_end": (17,),
    "nose_tip": (30,),
    "mouth_left_corner": (54,),
    "mouth_right_corner": (48,),
    "mouth_center_top_lip": (51,),
    "mouth_center_bottom_lip": (57,),
}

KAGGLE15 = register_layout(
    Layout(
        name="kaggle15",
        names=tuple(_KAGGLE15_FROM_IBUG68),  # Kaggle's column order
        groups={"eyes": (0, 1, 2, 3, 4, 5), "brows": (6, 7, 8, 9), "nose": (10,), "mouth": (11, 12, 13, 14)},
        contours=((3, 0, 2), (4, 1, 5), (7, 6), (8, 9), (11, 13, 12, 14)),
        closed=(False, False, False, False, True),
        flip_perm=(1, 0, 4, 5, 2, 3, 8, 9, 6, 7, 10, 12, 11, 13, 14),
        anchors={
            "right_eyebrow": (9, 8),  # outer end, inner end (as in ibug68)
            "left_eyebrow": (6, 7),
            "nose_tip": (10,),
            "right_eye_outer": (5,),
            "right_eye_inner": (4,),
            "left_eye_inner": (2,),
            "left_eye_outer": (3,),
            "right_eye_centre": (1,),
            "left_eye_centre": (0,),
            "right_mouth_corner": (12,),
            "left_mouth_corner": (11,),
            "upper_lip_centre": (13,),
            "lower_lip_centre": (14,),
        },
        norm_pair=("right_eye_centre", "left_eye_centre"),
        description="Kaggle Facial Keypoints Detection, 15 points on 96x96 grey crops",
    )
)
_CONVERSIONS[("ibug68", "kaggle15")] = tuple(_KAGGLE15_FROM_IBUG68.values())

_COMMON4 = (0, 1, 10, 14)  # left/right eye centre, nose tip, bottom-lip centre
KAGGLE4 = register_layout(
    Layout(
        name="kaggle4",
        names=tuple(KAGGLE15.names[i] for i in _COMMON4),
        groups={"eyes": (0, 1), "nose": (2,), "mouth": (3,)},
        flip_perm=(1, 0, 2, 3),
        anchors={"right_eye_centre": (1,), "left_eye_centre": (0,), "nose_tip": (2,), "lower_lip_centre": (3,)},
        norm_pair=("right_eye_centre", "left_eye_centre"),
        description="the 4 Kaggle points present in almost every training row (what the 4-point model of a two-model Kaggle solution predicts)",
        subset_of=("kaggle15", _COMMON4),
    )
)

NOSETIP = register_layout(
    Layout(
        name="nosetip",
        names=("nose_tip",),
        groups={"nose": (0,)},
        flip_perm=(0,),
        anchors={"nose_tip": (0,)},
        description="the nose tip alone (iBUG point 30), for the CS194 nose-tip network",
        subset_of=("ibug68", (30,)),
    )
)

# --------------------------------------------------------------------------- imm73


def _imm73() -> Layout:
    r = lambda a, b: tuple(range(a, b))
    parts = [  # (group, first, stop, closed) in file order, paths 0..11 of the IMM frontal .asf files
        ("right_brow", 0, 8, True),
        ("left_brow", 8, 16, True),
        ("right_eye", 16, 24, True),
        ("left_eye", 24, 32, True),
        ("right_pupil", 32, 33, False),
        ("left_pupil", 33, 34, False),
        ("nose", 34, 45, False),
        ("nose_tip", 45, 46, False),
        ("outer_lip", 46, 56, True),
        ("upper_inner_lip", 56, 59, False),
        ("lower_inner_lip", 59, 62, False),
        ("jaw", 62, 73, False),
    ]
    names = [f"{g}_{i - a}" if b - a > 1 else g for g, a, b, _ in parts for i in range(a, b)]
    mirror8 = lambda a: [a + (8 - i) % 8 for i in range(8)]
    perm = [8 + p for p in mirror8(0)] + mirror8(0) + [24 + p for p in mirror8(0)] + [16 + p for p in mirror8(0)]
    perm += [33, 32] + list(range(44, 33, -1)) + [45]
    perm += [52, 51, 50, 49, 48, 47, 46, 55, 54, 53]  # outer lip: 49 (top) and 54 (bottom) stay
    perm += [58, 57, 56, 61, 60, 59] + list(range(72, 61, -1))
    multi = [(r(a, b), c) for _, a, b, c in parts if b - a > 1]
    return Layout(
        name="imm73",
        names=tuple(names),
        groups={
            "brows": r(0, 16),
            "eyes": r(16, 34),
            "nose": r(34, 46),
            "mouth": r(46, 62),
            "jaw": r(62, 73),
        },
        contours=tuple(c for c, _ in multi),
        closed=tuple(flag for _, flag in multi),
        flip_perm=tuple(perm),
        anchors={
            "jaw": r(62, 73),  # from the subject's right ear to the left one
            "chin": (67,),
            "right_eyebrow": r(0, 8),  # outlines from the outer end; the inner end is the fifth point
            "left_eyebrow": r(8, 16),
            "nose_tip": (45,),
            "right_eye": r(16, 24),  # outlines from the outer corner; the inner corner is the fifth point
            "left_eye": r(24, 32),
            "right_eye_outer": (16,),
            "right_eye_inner": (20,),
            "left_eye_inner": (28,),
            "left_eye_outer": (24,),
            "right_pupil": (32,),
            "left_pupil": (33,),
            "right_eye_centre": (32,),  # the pupil
            "left_eye_centre": (33,),
            "right_mouth_corner": (46,),
            "left_mouth_corner": (52,),
            "upper_lip_centre": (49,),
            "lower_lip_centre": (54,),
            "outer_lips": r(46, 56),
            "inner_lips": r(56, 62),  # upper then lower inner edge, no corners
        },
        norm_pair=("right_eye_outer", "left_eye_outer"),
        description="IMM frontal face database, 73-point markup (paths as in its .asf files)",
    )


IMM73 = register_layout(_imm73())
