"""The mean residual of a trained model on its own training faces, added back at inference.

Flip augmentation makes a network mirror-symmetric: it learns the average of a label and
its mirror image. Annotations are not always symmetric (the 300-W and Udacity labels sit
about half a pixel to the right of what a mirrored copy says), so a flip-trained model is
off by the asymmetric part of the labelling convention, in proportion to the face's size.
The mean of (label - prediction) per point over the un-augmented training crops, in the
model's normalized output frame, measures that offset; the predictor adds it to every
prediction after any mirrored pass. It took the then-default model's validation NME from 3.76 %
to 3.70 % (docs/experiments/landmark-models.md).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["fit_point_shift"]


@torch.no_grad()
def fit_point_shift(
    model: torch.nn.Module, samples: torch.utils.data.Dataset, batch_size: int = 64, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Mean (label - prediction) of each point over ``samples`` (model tensors without
    augmentation), in the normalized output frame: an (N, 2) array; points never labelled get 0."""
    model.eval()
    total, count = None, None
    for batch in torch.utils.data.DataLoader(samples, batch_size=batch_size):
        images = batch["image"].to(device, memory_format=torch.channels_last)
        mask = batch["mask"].to(device)
        residual = torch.where(mask.unsqueeze(-1), batch["keypoints"].to(device) - model(images), 0.0)
        total = residual.sum(0) if total is None else total + residual.sum(0)
        count = mask.sum(0) if count is None else count + mask.sum(0)
    if total is None:
        raise ValueError("no samples to fit the point shift on")
    return (total / count.clamp(min=1).unsqueeze(-1)).cpu().numpy().astype(np.float32)
