"""Data layer: nomenclatures, sensors, BigEarthNet sources, the store, splits, statistics, synthetic archives.

Import cost is kept low: heavy modules load on first attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worldclass.data.dataset import BigEarthNet

__all__ = ["BigEarthNet"]


def __getattr__(name: str) -> Any:
    if name == "BigEarthNet":
        from worldclass.data.dataset import BigEarthNet

        return BigEarthNet
    raise AttributeError(name)
