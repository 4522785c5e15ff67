"""Patch-level regression task (registered as ``regression``): supervised or DML-S2R semi-supervised."""

from worldclass.tasks.regression.task import RegressionTask

__all__ = ["RegressionTask"]
