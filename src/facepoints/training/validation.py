"""Scoring a model on the validation faces as it would ship: predictions plus a point shift fitted on
training faces, with the loss, NME and RMSE summed over every process's shard."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np
import torch

from facepoints.inputs import InputSpec
from facepoints.layouts import Layout, get_layout
from facepoints.metrics import nme as nme_metric
from facepoints.training.distributed import all_sum
from facepoints.training.point_shift import fit_point_shift

__all__ = ["ScoreName", "Scores", "Validator", "batch_nme", "on_device", "score_name", "selection_score", "validate"]

#: What model selection minimises: the validation NME, or the validation loss for layouts without a
#: normalizing point pair (where NME is undefined).
ScoreName = Literal["nme", "loss"]


class Scores(NamedTuple):
    """Validation loss, NME (NaN without a normalizing pair) and RMSE in input pixels."""

    loss: float
    nme: float
    rmse: float


def score_name(layout: Layout) -> ScoreName:
    """The validation metric that picks the best epoch for models of ``layout``."""
    return "nme" if layout.norm_pair is not None else "loss"


def selection_score(scores: Scores, name: ScoreName) -> float:
    """The number model selection compares (lower is better)."""
    return scores.nme if name == "nme" else scores.loss


def on_device(batch: dict, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images in channels-last memory, targets, mask) of a loader batch on ``device``."""
    images = batch["image"].to(device, memory_format=torch.channels_last)
    return images, batch["keypoints"].to(device), batch["mask"].to(device)


def batch_nme(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, layout: str, spec: InputSpec) -> np.ndarray:
    """NME of each face of a batch, in image pixels."""
    norm = spec.normalization
    p = norm.inverse(pred.detach().cpu().numpy())
    g = norm.inverse(target.cpu().numpy())
    return nme_metric(p, g, layout, mask.cpu().numpy())


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    loss_fn: Callable,
    layout: str,
    spec: InputSpec,
    device: torch.device | str,
    shift: torch.Tensor | None = None,
) -> Scores:
    """Validation loss, NME and RMSE (px); ``shift`` (the point shift, normalized frame) is added
    to the predictions before NME and RMSE, as the predictor adds it."""
    model.eval()
    sums = [0.0, 0.0, 0.0, 0.0, 0.0]  # loss * n, nme sum, squared error sum, coordinate count, faces
    for batch in loader:
        images, targets, mask = on_device(batch, device)
        loss, pred = model.compute_loss(images, targets, mask, loss_fn)
        if shift is not None:
            pred = pred + shift
        sums[0] += float(loss) * len(images)
        sums[1] += float(np.nansum(batch_nme(pred, targets, mask, layout, spec)))
        scale = spec.normalization.scale
        err = ((pred - targets) * scale) ** 2
        m = mask.unsqueeze(-1).expand_as(err)
        sums[2] += float(err[m].sum())
        sums[3] += float(m.sum())
        sums[4] += len(images)
    # under DDP each rank scores its shard of the split: divide by the faces scored, not the split's size
    total = all_sum(sums, device)
    n = max(total[4], 1.0)
    val_nme = total[1] / n if get_layout(layout).norm_pair is not None else math.nan
    return Scores(total[0] / n, val_nme, math.sqrt(total[2] / max(total[3], 1)))


class Validator:
    """Scores each epoch's model: fits the point shift on a fixed probe of training crops, then validates
    on a fresh loader from ``loader`` (its order and worker seeds the same every epoch)."""

    def __init__(
        self,
        loader: Callable[[], torch.utils.data.DataLoader],
        shift_probe: torch.utils.data.Dataset,
        loss_fn: Callable,
        layout: str,
        spec: InputSpec,
        device: torch.device,
        batch_size: int,
    ) -> None:
        self.loader = loader
        self.shift_probe = shift_probe
        self.loss_fn = loss_fn
        self.layout = layout
        self.spec = spec
        self.device = device
        self.batch_size = batch_size

    def __call__(self, model: torch.nn.Module) -> Scores:
        shift = torch.as_tensor(
            fit_point_shift(model, self.shift_probe, self.batch_size, self.device), device=self.device
        )
        return validate(model, self.loader(), self.loss_fn, self.layout, self.spec, self.device, shift)
