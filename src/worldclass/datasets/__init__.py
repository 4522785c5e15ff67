"""Datasets found by name: :func:`get_dataset`, :func:`list_datasets`. One module per dataset, each opening
with its data card (layout, bands, classes, licence, citation).

Imports: ``worldclass.data``, ``worldclass.config`` (the ``data`` section), ``worldclass.errors``.
"""

from __future__ import annotations

from worldclass.datasets.base import EmbeddingPlan, RegisteredDataset, data_section
from worldclass.registry import Registry


def _load_builtin() -> None:
    from worldclass.datasets import (  # noqa: F401
        bigearthnet,
        crowdai,
        inria,
        isprs,
        massachusetts,
        scenes,
        sen12ms,
    )


_DATASETS: Registry[RegisteredDataset] = Registry("dataset", _load_builtin)


def register_dataset(cls: type[RegisteredDataset]) -> type[RegisteredDataset]:
    """Class decorator: register a dataset under ``cls.name``."""
    _DATASETS.add(cls.name, cls())
    return cls


def list_datasets() -> list[str]:
    """Names of every registered dataset."""
    return _DATASETS.names()


def get_dataset(name: str) -> RegisteredDataset:
    """The registered dataset ``name``; did-you-mean on a typo."""
    return _DATASETS.get(name)


__all__ = [
    "EmbeddingPlan",
    "RegisteredDataset",
    "data_section",
    "get_dataset",
    "list_datasets",
    "register_dataset",
]
