"""Data layer: nomenclatures, sensors, BigEarthNet sources, the store, splits, statistics, scenes,
synthetic archives. Registered datasets (names, data cards) live in :mod:`worldclass.datasets`.

Import cost is kept low: heavy modules load on first attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from worldclass.registry import lazy_attributes

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

__getattr__ = lazy_attributes(_WHERE)
