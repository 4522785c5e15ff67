"""Data layer: nomenclatures, sensors, BigEarthNet sources, the store, splits, statistics, scenes,
synthetic archives. Registered datasets (names, data cards) live in :mod:`worldclass.datasets`.

Import cost is kept low: heavy modules load on first attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worldclass.data.dataset import BigEarthNet
    from worldclass.data.inria import InriaAerial
    from worldclass.data.scenes import Scene, SceneDataset

__all__ = ["BigEarthNet", "InriaAerial", "Scene", "SceneDataset"]

_WHERE = {
    "BigEarthNet": "worldclass.data.dataset",
    "InriaAerial": "worldclass.data.inria",
    "Scene": "worldclass.data.scenes",
    "SceneDataset": "worldclass.data.scenes",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(name)
