"""Training-side data: identity-aware splits and a torch Dataset with reproducible augmentation."""

from __future__ import annotations

import copy

import numpy as np
import torch
from tqdm import tqdm

from facepoints.datasets.base import LandmarkDataset, Sample
from facepoints.headpose import head_pose
from facepoints.inputs import InputSpec, build_transform, precrop
from facepoints.layouts import get_layout
from facepoints.shape import eye_aspect_ratio
from facepoints.transforms import sample_rng

__all__ = ["split_by_identity", "TrainingSet", "closed_eye_repeats", "turned_face_repeats", "source_repeats"]

#: faces whose labelled eyes have a mean EAR below this count as closed for oversampling
CLOSED_EYE_EAR = 0.15
#: faces whose labelled points give a head yaw of at least this many degrees count as turned
TURNED_YAW = 15.0


def closed_eye_repeats(dataset: LandmarkDataset, factor: int) -> np.ndarray:
    """How often each sample appears per epoch: ``factor`` for 68-point faces labelled with
    closed eyes (rare in face datasets, so a model learns to keep eyes open), else 1."""
    repeats = np.ones(len(dataset), dtype=np.int64)
    if factor <= 1 or dataset.layout != "ibug68":
        return repeats
    kp, layout = dataset.keypoints, get_layout(dataset.layout)
    ear = (eye_aspect_ratio(kp, "right_eye", layout) + eye_aspect_ratio(kp, "left_eye", layout)) / 2
    right, left = layout.require_anchors("right_eye", "left_eye", purpose="closed-eye oversampling")
    eyes_known = dataset.masks[:, list(right + left)].all(axis=1)
    repeats[eyes_known & (ear < CLOSED_EYE_EAR)] = factor
    return repeats


def turned_face_repeats(dataset: LandmarkDataset, factor: int) -> np.ndarray:
    """How often each sample appears per epoch: ``factor`` for complete 68-point faces whose
    labels put the head turned sideways (``|yaw| >= TURNED_YAW``, from :func:`head_pose`), else 1.
    Turned faces are rarer in the 300-W training photos than in the wild and cost the most error."""
    repeats = np.ones(len(dataset), dtype=np.int64)
    if factor <= 1 or dataset.layout != "ibug68":
        return repeats
    for i, (points, known) in enumerate(zip(dataset.keypoints, dataset.masks)):
        if not known.all():
            continue
        # a camera centred on the face, its image four landmark boxes wide: the yaw barely
        # depends on the camera, and the labels alone give it without reading the image
        side = 4.0 * float(np.ptp(points, axis=0).max())
        centred = points - points.mean(axis=0) + side / 2
        try:
            yaw = head_pose(centred, (int(side) + 1, int(side) + 1)).yaw
        except ValueError:
            continue
        if abs(yaw) >= TURNED_YAW:
            repeats[i] = factor
    return repeats


def source_repeats(dataset: LandmarkDataset, rules: dict[str, int]) -> np.ndarray:
    """How often each sample appears per epoch by where it comes from: ``rules`` maps a
    substring of the sample's path (e.g. ``"300w/"``) to a factor; a sample matching several
    rules takes their product. Balances a small, carefully labelled source against a big one."""
    repeats = np.ones(len(dataset), dtype=np.int64)
    for pattern, factor in rules.items():
        if factor < 1:
            raise ValueError(f"oversampling factor for {pattern!r} must be >= 1, got {factor}")
        hits = np.array([pattern in str(p) for p in dataset.paths], dtype=bool)
        if not hits.any():
            raise ValueError(f"oversampling pattern {pattern!r} matches none of the {len(dataset)} training samples")
        repeats[hits] *= factor
    return repeats


def split_by_identity(dataset: LandmarkDataset, fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """(train, val) indices with about ``fraction`` of samples in val and no identity on both
    sides; samples of unknown identity are each their own group."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must lie in (0, 1), got {fraction}")
    groups: dict[str, list[int]] = {}
    for i, ident in enumerate(dataset.identities):
        groups.setdefault(ident if ident is not None else f"#{i}", []).append(i)
    names = sorted(groups)
    np.random.default_rng(seed).shuffle(names)
    target = fraction * len(dataset)
    val: list[int] = []
    for name in names:
        if len(val) >= target:
            break
        val.extend(groups[name])
    chosen = set(val)
    train = [i for i in range(len(dataset)) if i not in chosen]
    if not train or not val:
        raise ValueError(f"cannot split {len(dataset)} samples into train and val at fraction {fraction}")
    return train, sorted(val)


class TrainingSet(torch.utils.data.Dataset):
    """Samples -> model tensors. In ``face`` crop mode every sample is cropped once (loosely,
    at ``cache_size`` pixels) and kept in memory, so epochs cost only the augmentation.

    Augmentation draws from ``sample_rng(seed, epoch, index)``: set ``epoch`` before each
    epoch and the run is reproducible, also across ``--resume`` and worker counts.
    ``repeats[i]`` copies of sample ``i`` make up an epoch (oversampling); each copy has its
    own index and so its own augmentation.
    """

    def __init__(
        self,
        dataset: LandmarkDataset,
        spec: InputSpec,
        train: bool,
        augment: str = "none",
        seed: int = 0,
        cache_size: int | None = None,
        progress: bool = True,
        repeats: np.ndarray | None = None,
    ) -> None:
        self.dataset = dataset
        self.order = np.arange(len(dataset)) if repeats is None else np.repeat(np.arange(len(dataset)), repeats)
        self.spec = spec
        self.transform = build_transform(spec, train, augment)
        self.seed = seed
        self.epoch = 0
        self.cache: list[Sample] | None = None
        if spec.crop == "face":
            size = cache_size or int(spec.size[0] * 1.5)
            items = tqdm(range(len(dataset)), desc=f"caching {dataset.name}", disable=not progress, leave=False)
            self.cache = [self._compact(precrop(dataset[i], size)) for i in items]

    @staticmethod
    def _compact(sample: Sample) -> Sample:
        return sample.replace(path=None)

    def __len__(self) -> int:
        return len(self.order)

    def unaugmented(self) -> TrainingSet:
        """The same samples, each once, cropped on their landmark box without jitter or
        augmentation (the cache is shared, not rebuilt)."""
        view = copy.copy(self)
        view.order = np.arange(len(self.dataset))
        view.transform = build_transform(self.spec, False)
        return view

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        real = int(self.order[index])
        sample = self.cache[real] if self.cache is not None else self.dataset[real]
        return self.transform(sample, sample_rng(self.seed, self.epoch, index))
