"""Multi-label scene classification task (registered as ``classification``)."""

from worldclass.tasks.classification.task import ClassificationTask

__all__ = ["ClassificationTask"]
