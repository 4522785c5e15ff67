"""A registered dataset: a name, a kind, a data card, and how to open it from the ``data`` config section.

Kinds: ``multilabel`` (patches with multi-hot labels, e.g. BigEarthNet) and ``segmentation`` (scenes
with per-pixel labels, e.g. Inria). The patch size, band geometry and class table of a dataset live in
its own module, so adding one touches no generic module.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from torch.utils.data import Dataset

from worldclass.config import DataConfig, build_section


@dataclass
class EmbeddingPlan:
    """What ``worldclass embed`` iterates for one row sensor: a dataset yielding ``image`` tensors and,
    per item, ``patch_ids``, ``splits`` and ``labels`` (class names)."""

    dataset: Dataset[Any]
    patch_ids: list[str]
    splits: list[str]
    labels: list[list[str]]
    classes: list[str]


class RegisteredDataset(ABC):
    """Base of every registered dataset; the module docstring of the subclass is its data card."""

    name: ClassVar[str]
    kind: ClassVar[str]
    summary: ClassVar[str]
    #: Side in px of the model input the dataset gives by default (None: set by ``data.patch_size``).
    patch_size: ClassVar[int | None] = None
    #: Sample keys the card promises, key -> (dtype, shape description).
    sample_keys: ClassVar[dict[str, tuple[str, str]]]

    def card(self) -> str:
        """The data card (layout, bands, classes, licence, citation)."""
        return (sys.modules[type(self).__module__].__doc__ or "").strip()

    def validate(self, data: DataConfig) -> None:  # noqa: B027 - optional hook
        """Dataset-specific checks of the ``data`` section (raise ConfigError)."""

    def input_size(self, data: DataConfig) -> int:
        """Side in px of the image tensors of this config."""
        return self.patch_size if self.patch_size is not None else data.patch_size

    @abstractmethod
    def open(self, data: DataConfig, split: str, **options: Any) -> Dataset[Any]:
        """The torch dataset of ``split`` (samples as the card says)."""

    @abstractmethod
    def embedding_plan(
        self, data: DataConfig, preprocessing: dict[str, Any], bands: Sequence[str], window: int | None
    ) -> EmbeddingPlan:
        """Every item of the archive (all splits) for retrieval embeddings, preprocessed as a model was
        trained (``preprocessing`` from its checkpoint)."""

    @abstractmethod
    def make_fake(self, root: Path, *, seed: int = 0) -> list[str]:
        """Write a tiny archive in the official layout under ``root``; returns the ``data.*`` overrides
        (``--set`` items) that open it. For tests and examples."""


def data_section(config: dict[str, Any], root: str | Path | None = None) -> DataConfig:
    """The ``data`` section of a stored run config (e.g. a checkpoint's), optionally on another ``root``."""
    values = dict(config.get("data", {}))
    if root is not None:
        values["root"] = str(root)
    return build_section(DataConfig, values, "data.")
