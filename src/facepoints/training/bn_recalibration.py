"""Batch-norm statistics re-estimated with dropout off (``facepoints train --bn-recalibrate N``).

A network whose dropout feeds batch norm (``alexnet_fkp``: dropout 0.4 and 0.6 before its BN layers)
gathers BN's running mean and variance during training on dropout-perturbed activations, and
uses them in evaluation, where dropout is off: the variance (and, after a nonlinearity, the mean)
the BN layers normalize with is not that of the activations they see, and evaluation-mode outputs
drift far from training-mode ones ("variance shift": Li, Chen, Hu & Yang 2019, "Understanding the
Disharmony between Dropout and Batch Normalization by Variance Shift", arXiv:1801.05134). Their fix,
applied here: before a model is scored or saved, forget the running statistics and gather them again
over some training batches with every dropout module in evaluation mode.

The batches are a fixed selection of the un-augmented training faces, drawn once from the run's seed
(:func:`recalibration_loader`), so the statistics depend only on the weights: a resumed run repeats
them exactly. Under ``torchrun`` every rank recalibrates its own copy of the model on the same
selection (not on its shard), so all ranks end with the statistics one process would have, without
any communication.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["recalibrate_batch_norm", "recalibration_loader"]


@torch.no_grad()
def recalibrate_batch_norm(
    model: nn.Module, batches: Iterable[torch.Tensor | dict], device: str | torch.device = "cpu"
) -> int:
    """Replace the running mean and variance of every batch-norm layer of ``model`` by their average over
    ``batches`` (image tensors, or loader dicts with an ``"image"``), computed with the network as it runs
    in evaluation (dropout off) except that batch norm measures its batch statistics. Each batch counts
    once (torch's cumulative average, ``momentum=None``, as in ``torch.optim.swa_utils.update_bn``): the
    mean is that of all the samples when the batches are of one size; the variance is the mean of the
    batches' unbiased variances. Every module's train/eval mode and every layer's momentum are restored
    afterwards; the weights are not touched. Returns how many batches were used (0 leaves the model as it
    was, as does a model without batch norm)."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        return 0
    modes = {m: m.training for m in model.modules()}
    momenta = {m: m.momentum for m in norms}
    try:
        model.eval()  # dropout (and anything else with a training behaviour) as in evaluation ...
        for m in norms:  # ... but batch norm averages the batch statistics it sees
            m.reset_running_stats()
            m.momentum = None
            m.train()
        used = 0
        for batch in chain([first], batches):
            images = batch["image"] if isinstance(batch, dict) else batch
            if images.dim() == 4:
                images = images.to(device, memory_format=torch.channels_last)
            else:
                images = images.to(device)
            model(images)
            used += 1
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        for m, training in modes.items():
            m.train(training)
    return used


def recalibration_loader(
    dataset: torch.utils.data.Dataset, batches: int, batch_size: int, seed: int
) -> torch.utils.data.DataLoader:
    """``batches`` batches of ``batch_size`` samples of ``dataset`` (at most all of it), the same ones on
    every call and every rank: the first of a permutation drawn from ``seed`` alone, so neither the global
    random state nor the epoch changes them. Full batches only (batch norm measures each batch), unless the
    dataset is smaller than one batch."""
    generator = torch.Generator().manual_seed(seed)
    count = min(batches * batch_size, len(dataset))
    chosen = torch.randperm(len(dataset), generator=generator)[:count].sort().values.tolist()
    return torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, chosen), batch_size=batch_size, shuffle=False,
        drop_last=count >= batch_size, generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip
