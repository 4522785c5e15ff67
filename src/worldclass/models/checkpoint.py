"""What a checkpoint must know to be used correctly later: band order, class order, nomenclature,
preprocessing and the task config. Stored in Lightning checkpoints under ``hyper_parameters['meta']``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from worldclass.errors import ConfigError, DataError


@dataclass
class ModelMeta:
    """Metadata of a trained model (JSON-serialisable)."""

    task: str
    bands: list[str]
    classes: list[str]
    nomenclature: str  # "19", "43" or "43->19" (attribute encoding: 43 outputs, evaluated on 19)
    preprocessing: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    output_classes: list[str] = field(default_factory=list)  # classes of the network outputs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelMeta:
        return cls(**d)

    def check_data(self, bands: Sequence[str], *, source: str = "data") -> None:
        """Refuse data whose band set or order differs from the one the model was trained on."""
        if list(bands) != list(self.bands):
            raise ConfigError(
                f"{source}: bands {list(bands)} differ from the checkpoint's {self.bands}; "
                f"load the data with bands={self.bands}"
            )


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A worldclass Lightning checkpoint as a dict (tensors memory-mapped, so reading it again is cheap);
    one clear error for a missing, corrupt or foreign file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: checkpoint not found")
    try:
        ckpt: dict[str, Any] = torch.load(p, map_location="cpu", weights_only=False, mmap=True)
        ckpt["hyper_parameters"]["meta"]
    except Exception as exc:  # corrupt or foreign file
        raise DataError(f"{p}: not a worldclass checkpoint ({type(exc).__name__}: {exc})") from None
    return ckpt


M = TypeVar("M", bound=torch.nn.Module)


def load_task_module(path: str | Path, task: str, build: Callable[[dict[str, Any]], M]) -> M:
    """Rebuild a trained LightningModule of ``task`` from its checkpoint: ``build(hyper_parameters)``
    constructs it, the stored weights are loaded, eval mode. Refuses checkpoints of another task."""
    ckpt = read_checkpoint(path)
    hp = ckpt["hyper_parameters"]
    if hp["meta"]["task"] != task:
        raise ConfigError(f"{path}: a {hp['meta']['task']} checkpoint; this needs a {task} one")
    module = build(hp)
    module.load_state_dict(ckpt["state_dict"])
    return module.eval()
