"""Training loops that run any registered task (:mod:`worldclass.tasks`): :func:`train` (Lightning fit
with exact resume) and multi-run experiments (:mod:`worldclass.training.experiment`). Later loops
(federated rounds, active-learning rounds) go here and reuse the tasks unchanged.

Imports: tasks and everything below them; never cli or demo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()

if TYPE_CHECKING:
    from worldclass.training.fit import TrainResult, train

__all__ = ["TrainResult", "train"]


def __getattr__(name: str) -> Any:
    """``train``/``TrainResult`` load Lightning on first use, so that the executors and the active-learning
    loop (which never train a Lightning module themselves) import without it."""
    if name in __all__:
        from worldclass.training import fit

        return getattr(fit, name)
    raise AttributeError(f"module 'worldclass.training' has no attribute {name!r}")
