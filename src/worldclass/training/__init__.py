"""Training loops that run any registered task (:mod:`worldclass.tasks`): :func:`train` (Lightning fit
with exact resume) and multi-run experiments (:mod:`worldclass.training.experiment`). Later loops
(federated rounds, active-learning rounds) go here and reuse the tasks unchanged.

Imports: tasks and everything below them; never cli or demo.
"""

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()

from worldclass.training.fit import TrainResult, train  # noqa: E402

__all__ = ["TrainResult", "train"]
