"""Metrics (numpy only): multi-label classification with minority-weighted averages, threshold tuning;
multi-label retrieval (P/R/F1@k, mAP@k, weighted mAP@k)."""

from worldclass.metrics.multilabel import (
    average_precision,
    minority_weights,
    multilabel_metrics,
    tune_thresholds,
)
from worldclass.metrics.retrieval import recall_at_k, retrieval_metrics

__all__ = [
    "average_precision",
    "minority_weights",
    "multilabel_metrics",
    "recall_at_k",
    "retrieval_metrics",
    "tune_thresholds",
]
