"""Models found by name: ``register_model(name)`` on a builder, ``build_model(name, **kwargs)``,
``list_models()``. A checkpoint stores the name and keyword arguments of its model (``ModelMeta.model``),
so :func:`worldclass.models.load_model` rebuilds it without the training code.

Every registered model is an ``nn.Module`` with ``embed(x, sensor, layer) -> (B, D)`` and a tuple
``embedding_layers`` (the first is the default), so retrieval never needs to know a model's insides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from worldclass.errors import ConfigError
from worldclass.registry import Registry


@runtime_checkable
class EmbeddingModel(Protocol):
    """What retrieval needs of a model."""

    embedding_layers: tuple[str, ...]

    def embed(self, x: torch.Tensor, sensor: str, layer: str) -> torch.Tensor:
        """(B, C, H, W) normalised input of ``sensor`` -> (B, D) float embeddings (not L2-normalised)."""
        ...


Builder = Callable[..., nn.Module]


def _load_builtin() -> None:
    # the built-in models register themselves on import
    from worldclass.models import (  # noqa: F401
        align,
        classifier,
        codec,
        crossmodal,
        csmae,
        regression,
        segmenter,
        ssl,
    )


_MODELS: Registry[Builder] = Registry("model", _load_builtin)


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator: register a builder ``f(**kwargs) -> nn.Module`` under ``name``."""

    def add(builder: Builder) -> Builder:
        _MODELS.add(name, builder)
        return builder

    return add


def list_models() -> list[str]:
    """Names of every registered model."""
    return _MODELS.names()


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """A fresh model ``name`` built with ``kwargs`` (random weights; nothing is downloaded)."""
    model = _MODELS.get(name)(**kwargs)
    if not isinstance(model, EmbeddingModel):
        raise ConfigError(f"model {name!r} has no embed() method")
    return model
