"""Learning-curve plots of a run (rows of ``curves.csv``: one dict per epoch)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from worldclass.report.plots import _plt


def _resumes(ax: Any, rows: Sequence[dict[str, float]]) -> None:
    """Dashed vertical lines where a resumed session starts."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for prev, row in itertools.pairwise(rows):
        if row["session"] != prev["session"]:
            ax.axvline(row["epoch"] - 0.5, color="0.6", ls="--", lw=1)


def _series(rows: Sequence[dict[str, float]], key: str) -> tuple[list[float], list[float]]:
    pts = [(r["epoch"], r[key]) for r in rows if key in r and not math.isnan(r[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def loss_curves(rows: Sequence[dict[str, float]], monitor: str, mode: str) -> Any:
    """Left: train and validation loss per epoch; right: the monitored metric with its best epoch
    marked. Dashed lines: resumed sessions."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    for key, style in (("train/loss", "-o"), ("val/loss", "-s")):
        x, y = _series(rows, key)
        if x:
            a.plot(x, y, style, ms=3, label=key)
    losses = [v for key in ("train/loss", "val/loss") for v in _series(rows, key)[1]]
    if losses and min(losses) > 0 and max(losses) > 20 * min(losses):  # e.g. an untrained first validation
        a.set_yscale("log")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.set_title("Loss")
    a.legend()
    x, y = _series(rows, monitor)
    if x:
        b.plot(x, y, "-o", ms=3, color="tab:green", label=monitor)
        best = (max if mode == "max" else min)(range(len(y)), key=y.__getitem__)
        b.plot(
            [x[best]],
            [y[best]],
            "*",
            ms=14,
            color="tab:red",
            label=f"best {y[best]:.4f} (epoch {x[best]:.0f})",
        )
        b.legend()
    b.set_xlabel("epoch")
    b.set_title(f"Monitored: {monitor} ({mode})")
    for ax in (a, b):
        _resumes(ax, rows)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def metric_grid(rows: Sequence[dict[str, float]], keys: Sequence[str]) -> Any:
    """Small multiples: one panel per key (e.g. every other val/ metric and lr) against the epoch."""
    plt = _plt()
    cols = min(4, len(keys))
    nrows = -(-len(keys) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(2.9 * cols, 2.3 * nrows), squeeze=False)
    for ax in axes.ravel()[len(keys) :]:
        ax.axis("off")
    for ax, key in zip(axes.ravel(), keys, strict=False):
        x, y = _series(rows, key)
        ax.plot(x, y, "-o", ms=2)
        ax.set_title(key, fontsize=8)
        ax.tick_params(labelsize=7)
        if key == "lr":
            ax.set_yscale("log")
        _resumes(ax, rows)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def federated_curves(rounds: Sequence[dict[str, Any]]) -> Any:
    """Validation macro mAP of a federation against the round and against the cumulative MB exchanged."""
    from worldclass.report.plots import _plt

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    r = [x["round"] for x in rounds]
    mb = [x["mb_total"] for x in rounds]
    score = [x["val_map_macro"] for x in rounds]
    axes[0].plot(r, score, marker="o")
    axes[0].set_xlabel("round")
    axes[1].plot(mb, score, marker="o")
    axes[1].set_xlabel("MB exchanged (cumulative)")
    for ax in axes:
        ax.set_ylabel("validation macro mAP")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
