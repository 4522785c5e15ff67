"""Metrics (numpy only): multi-label classification with minority-weighted averages, threshold tuning."""

from worldclass.metrics.multilabel import (
    average_precision,
    minority_weights,
    multilabel_metrics,
    tune_thresholds,
)

__all__ = ["average_precision", "minority_weights", "multilabel_metrics", "tune_thresholds"]
