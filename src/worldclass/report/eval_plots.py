"""Plots for evaluation reports: per-class F1 vs training frequency, PR curves, label co-occurrence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from worldclass.report.plots import _plt


def f1_vs_frequency(per_class: Sequence[dict[str, Any]], train_counts: Sequence[int]) -> Any:
    """Scatter of per-class test F1 against training positives (log), minority weight as colour."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    x = np.maximum(np.asarray(train_counts, float), 0.8)
    f1 = [r["f1"] for r in per_class]
    sc = ax.scatter(x, f1, c=[r["weight_minor"] for r in per_class], cmap="viridis", s=40)
    for r, xi, yi in zip(per_class, x, f1, strict=True):
        ax.annotate(
            str(r.get("name", r["index"]))[:22],
            (xi, yi),
            fontsize=6,
            xytext=(3, 2),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_xlabel("training positives (log)")
    ax.set_ylabel("test F1")
    ax.set_ylim(-0.02, 1.02)
    fig.colorbar(sc, label="F1_minor weight")
    ax.set_title("Per-class F1 vs class frequency")
    return fig


def pr_curves(
    targets: npt.NDArray[Any], scores: npt.NDArray[Any], names: Sequence[str], *, cols: int = 5
) -> Any:
    """Small multiples of precision-recall curves, one per class with positives."""
    plt = _plt()
    classes = [c for c in range(targets.shape[1]) if targets[:, c].any()]
    rows = max(1, -(-len(classes) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, c in enumerate(classes):
        ax = axes.ravel()[k]
        ax.axis("on")
        order = np.argsort(-scores[:, c], kind="mergesort")
        y = targets[order, c].astype(bool)
        tp = np.cumsum(y)
        precision = tp / np.arange(1, len(y) + 1)
        recall = tp / max(y.sum(), 1)
        ax.plot(recall, precision, lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(names[c][:28], fontsize=7)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig


def cooccurrence(targets: npt.NDArray[Any], names: Sequence[str]) -> Any:
    """Heat map of P(column label | row label) on the evaluated split."""
    plt = _plt()
    y = targets.astype(float)
    counts = y.T @ y
    cond = counts / np.maximum(np.diag(counts)[:, None], 1)
    fig, ax = plt.subplots(figsize=(8, 7))
    im = ax.imshow(cond, cmap="magma", vmin=0, vmax=1)
    short = [n[:24] for n in names]
    ax.set_xticks(range(len(names)), short, rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)), short, fontsize=6)
    fig.colorbar(im, label="P(column | row)")
    ax.set_title("Label co-occurrence")
    return fig
