"""What a checkpoint must know to be used correctly later: band order, class order, nomenclature,
preprocessing and the task config. Stored in Lightning checkpoints under ``hyper_parameters['meta']``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from worldclass.errors import ConfigError


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
