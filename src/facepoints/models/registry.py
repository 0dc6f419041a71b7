"""Model registry: ``@register_model`` factories, ``create_model(name, ...)``, ``list_models()``.

Every model is a :class:`KeypointModel`: it maps a ``B x C x H x W`` float image in [0, 1]
to ``B x N x 2`` keypoints in its normalized frame (see ``output_range``), and knows the
input it expects, so checkpoints and the predictor need nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["KeypointModel", "register_model", "create_model", "list_models", "model_info", "ModelInfo"]


class KeypointModel(nn.Module):
    """Base class: records the input contract and the default coordinate loss."""

    #: "centered": keypoints as (pixels - centre) / (size / 2), about [-1, 1];
    #: "unit": pixels / size in [0, 1] (for sigmoid outputs such as ``kaggle_cnn``'s).
    output_range: str = "centered"

    def __init__(self, num_points: int, in_channels: int, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.num_points = num_points
        self.in_channels = in_channels
        self.input_size = (int(input_size[0]), int(input_size[1]))

    def compute_loss(
        self, images: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, loss_fn: Callable
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, predictions) for a batch; models with richer heads override this."""
        pred = self(images)
        return loss_fn(pred, targets, mask), pred


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model before building it."""

    name: str
    factory: Callable[..., KeypointModel]
    summary: str
    num_points: int
    in_channels: int
    input_size: tuple[int, int]
    layout: str


_MODELS: dict[str, ModelInfo] = {}


def register_model(
    name: str, *, summary: str, num_points: int, in_channels: int, input_size: tuple[int, int], layout: str
) -> Callable[[Callable[..., KeypointModel]], Callable[..., KeypointModel]]:
    """Decorator adding a factory ``f(num_points, in_channels, input_size, **kw)`` with its defaults."""

    def wrap(factory: Callable[..., KeypointModel]) -> Callable[..., KeypointModel]:
        _MODELS[name] = ModelInfo(name, factory, summary, num_points, in_channels, tuple(input_size), layout)
        return factory

    return wrap


def list_models() -> list[str]:
    """Registered model names."""
    return sorted(_MODELS)


def model_info(name: str) -> ModelInfo:
    """Registry entry for ``name`` (clear error for unknown names)."""
    try:
        return _MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(list_models())}") from None


def create_model(
    name: str,
    num_points: int | None = None,
    in_channels: int | None = None,
    input_size: tuple[int, int] | None = None,
    **kwargs,
) -> KeypointModel:
    """Build a registered model; unspecified arguments take the model's defaults."""
    info = model_info(name)
    model = info.factory(
        num_points=num_points or info.num_points,
        in_channels=in_channels or info.in_channels,
        input_size=tuple(input_size or info.input_size),
        **kwargs,
    )
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flat_size(features: nn.Module, in_channels: int, input_size: tuple[int, int]) -> int:
    """Size of ``features``' flattened output for one input (to size the first dense layer)."""
    with torch.no_grad():
        return int(features(torch.zeros(1, in_channels, *input_size)).numel())
