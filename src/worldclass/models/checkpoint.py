"""What a checkpoint must know to be used correctly later, and how to use it without the training loop.

:class:`ModelMeta` (band order, class order, nomenclature, preprocessing, task config, model spec,
embedding spec) is stored in Lightning checkpoints under ``hyper_parameters['meta']``; the weights of
the model under ``state_dict['model.*']``. :func:`load_model` rebuilds the plain ``nn.Module`` from
both: no Lightning, no task code, no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from worldclass.errors import ConfigError, DataError

#: Prefix of the model's weights inside a task checkpoint's ``state_dict``.
STATE_PREFIX = "model."


@dataclass
class ModelMeta:
    """Metadata of a trained model (JSON-serialisable).

    ``task``: registered task name; ``bands``: input channel order; ``classes``: evaluated classes;
    ``output_classes``: classes of the network outputs (43 with attribute encoding); ``nomenclature``:
    "19", "43", "43->19" or the dataset's; ``preprocessing``: what turns raw data into the input;
    ``config``: the whole run config; ``model``: ``{"name": registered model, "kwargs": {...}}``;
    ``dataset``: registered dataset name; ``embedding``: ``{"layers": [...], "sensors": {row sensor:
    input bands}}`` for retrieval; ``class_colours``: RGB per class of the benchmark's colour code (empty:
    worldclass's palette), carried into maps and styles.
    """

    task: str
    bands: list[str]
    classes: list[str]
    nomenclature: str
    preprocessing: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    output_classes: list[str] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""
    embedding: dict[str, Any] = field(default_factory=dict)
    class_colours: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelMeta:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def check_data(self, bands: Sequence[str], *, source: str = "data") -> None:
        """Refuse data whose band set or order differs from the one the model was trained on."""
        if list(bands) != list(self.bands):
            raise ConfigError(
                f"{source}: bands {list(bands)} differ from the checkpoint's {self.bands}; "
                f"load the data with bands={self.bands}"
            )


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A worldclass checkpoint as a dict, loaded safely (``weights_only``: tensors and plain containers
    only, no code runs) with tensors memory-mapped; one clear error for a missing, corrupt or foreign
    file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: checkpoint not found")
    try:
        ckpt: dict[str, Any] = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
        ckpt["hyper_parameters"]["meta"]["task"]
    except Exception as exc:  # corrupt, truncated or foreign file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{p}: not a readable worldclass checkpoint ({reason[:200]})") from None
    return ckpt


def checkpoint_meta(path: str | Path) -> ModelMeta:
    """The :class:`ModelMeta` of a checkpoint."""
    return ModelMeta.from_dict(read_checkpoint(path)["hyper_parameters"]["meta"])


def model_state(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's own weights out of a task checkpoint's ``state_dict``."""
    n = len(STATE_PREFIX)
    return {k[n:]: v for k, v in state_dict.items() if k.startswith(STATE_PREFIX)}


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelMeta]:
    """``(model, meta)`` of any worldclass checkpoint: the plain ``nn.Module`` in eval mode with the
    trained weights, and its metadata. Needs neither Lightning nor the task's training code."""
    return model_from_checkpoint(read_checkpoint(path), path, device=device)


def model_from_checkpoint(
    ckpt: dict[str, Any], path: str | Path, *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelMeta]:
    """:func:`load_model` of a checkpoint already read with :func:`read_checkpoint` (``path`` names it in
    errors), for callers that also need its other entries."""
    from worldclass.models.registry import build_model

    meta = ModelMeta.from_dict(ckpt["hyper_parameters"]["meta"])
    if not meta.model:
        raise DataError(
            f"{path}: written by an older worldclass (no model spec in its metadata); retrain it with "
            "`worldclass train`"
        )
    model = build_model(meta.model["name"], **meta.model["kwargs"])
    try:
        model.load_state_dict(model_state(ckpt["state_dict"]))
    except RuntimeError as exc:
        raise DataError(f"{path}: weights do not fit its model spec ({str(exc).splitlines()[0]})") from None
    return model.to(device).eval(), meta
