"""Training the eye-state classifier (run by facepoints.apps.eye_classifier) on datasets with six-point eyes (ibug68)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from facepoints.codec import EYE_CROP, eye_crops
from facepoints.datasets import LandmarkDataset
from facepoints.imageio import atomic_write_bytes
from facepoints.layouts import get_layout
from facepoints.models.eye_state import EyeStateNet
from facepoints.shape import eye_aspect_ratio

__all__ = ["eye_examples", "train_eye_state", "export_eye_state", "CLOSED_EAR", "OPEN_EAR"]

CLOSED_EAR, OPEN_EAR = 0.12, 0.2  # labelled EAR below / above: closed / open; between: left out


def eye_examples(datasets: list[LandmarkDataset]) -> tuple[list, list]:
    """(closed, open) lists of (grey image, points, layout, eye index 0 = right / 1 = left)."""
    closed, opened = [], []
    for ds in datasets:
        layout = get_layout(ds.layout)
        right, left = layout.require_anchors("right_eye", "left_eye", purpose="eye-state training")
        kp = ds.keypoints.astype(np.float64)
        ears = np.stack([eye_aspect_ratio(kp, eye, layout) for eye in ("right_eye", "left_eye")], axis=1)  # (N, 2)
        useful = ds.masks[:, list(right + left)].all(axis=1) & ((ears < CLOSED_EAR) | (ears > OPEN_EAR)).any(axis=1)
        for i in np.flatnonzero(useful):  # only images with an eye to learn from are decoded
            sample = ds[int(i)]
            grey = cv2.cvtColor(sample.image, cv2.COLOR_RGB2GRAY)
            points = sample.keypoints.astype(np.float64)
            for side, ear in enumerate(ears[i]):
                if ear < CLOSED_EAR:
                    closed.append((grey, points, layout, side))
                elif ear > OPEN_EAR:
                    opened.append((grey, points, layout, side))
    return closed, opened


def _batch(items: list, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for (grey, points, layout, side), label in items:
        crop = eye_crops(grey, points, rng, layout)[side].astype(np.float32)
        crop = crop * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)  # contrast and brightness
        if rng.random() < 0.3:
            crop = cv2.GaussianBlur(crop, (3, 3), rng.uniform(0.3, 1.2))
        xs.append(np.clip(crop, 0, 255) / 255.0)
        ys.append(label)
    return torch.from_numpy(np.array(xs, np.float32)[:, None]), torch.tensor(ys, dtype=torch.float32)


def train_eye_state(
    datasets: list[LandmarkDataset],
    epochs: int = 30,
    open_per_epoch: int = 6000,
    closed_repeats: int = 6,
    seed: int = 0,
    progress: bool = True,
) -> EyeStateNet:
    """Each epoch: every closed eye ``closed_repeats`` times and ``open_per_epoch`` open eyes
    drawn afresh, all with random crop jitter; AdamW with a cosine schedule."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    closed, opened = eye_examples(datasets)
    if not closed or not opened:
        raise ValueError(f"need both closed and open eyes to train, found {len(closed)} closed and {len(opened)} open")
    net = EyeStateNet()
    optimizer = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    bar = tqdm(range(epochs), desc=f"eye state ({len(closed)} closed, {len(opened)} open eyes)", disable=not progress)
    for _ in bar:
        net.train()
        chosen = rng.choice(len(opened), min(open_per_epoch, len(opened)), replace=False)
        items = [(c, 1.0) for c in closed] * closed_repeats + [(opened[j], 0.0) for j in chosen]
        order = rng.permutation(len(items))
        total = 0.0
        for start in range(0, len(order), 128):
            x, y = _batch([items[j] for j in order[start : start + 128]], rng)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
        schedule.step()
        bar.set_postfix(loss=f"{total / len(order):.4f}")
    return net.eval()


def export_eye_state(net: EyeStateNet, path: str | os.PathLike) -> Path:
    """Write the classifier as the ONNX file inference runs (``image`` (B, 1, 48, 48) in [0, 1] -> ``logits`` (B,))."""
    buffer = io.BytesIO()
    torch.onnx.export(
        net.eval(), (torch.zeros(2, 1, EYE_CROP, EYE_CROP),), buffer, input_names=["image"], output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False,
    )  # fmt: skip
    return atomic_write_bytes(path, buffer.getvalue())
