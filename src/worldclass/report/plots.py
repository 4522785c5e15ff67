"""Plots for data reports: class distribution per split, imbalance ratios, RGB/SAR patch previews."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def class_distribution(stats: dict[str, Any]) -> Any:
    """Horizontal bars: positives per class for each split."""
    plt = _plt()
    classes = stats["classes"]
    splits = list(stats["splits"])
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(classes) + 1))
    y = np.arange(len(classes))
    h = 0.8 / max(len(splits), 1)
    for k, s in enumerate(splits):
        ax.barh(y + k * h, [stats["splits"][s]["counts"][c] for c in classes], height=h, label=s)
    ax.set_yticks(y + h * (len(splits) - 1) / 2, [c[:45] for c in classes], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("patches with the label")
    ax.legend()
    ax.set_title("Class distribution per split")
    return fig


def imbalance_ratios(stats: dict[str, Any], split: str = "train") -> Any:
    """IRLbl per class (log scale) with MeanIR; bars above MeanIR are the minority labels."""
    plt = _plt()
    st = stats["splits"][split]
    classes = stats["classes"]
    ir = [st["irlbl"][c] or np.nan for c in classes]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(classes) + 1))
    colors = ["tab:red" if (v or 0) > st["mean_ir"] else "tab:blue" for v in ir]
    ax.barh(np.arange(len(classes)), ir, color=colors)
    ax.axvline(st["mean_ir"], color="k", ls="--", label=f"MeanIR = {st['mean_ir']:.2f}")
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(classes)), [c[:45] for c in classes], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("IRLbl (log)")
    ax.legend()
    ax.set_title(f"Imbalance ratio per label ({split}); red = minority (IRLbl > MeanIR)")
    return fig


def stretch(rgb: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
    """2-98 percentile stretch per image to [0, 1] (robust to outliers; not min/max)."""
    lo, hi = np.percentile(rgb, (2, 98))
    return np.asarray(np.clip((rgb - lo) / max(hi - lo, 1e-6), 0, 1), dtype=np.float64)


def patch_previews(items: Sequence[dict[str, Any]], *, cols: int = 6) -> Any:
    """Grid of previews. Each item: ``rgb`` (H, W, 3) raw reflectance, optional ``vv`` (H, W) dB,
    ``title`` str."""
    plt = _plt()
    has_vv = any("vv" in it for it in items)
    rows = -(-len(items) // cols) * (2 if has_vv else 1)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, it in enumerate(items):
        r, c = divmod(i, cols)
        r *= 2 if has_vv else 1
        axes[r, c].imshow(stretch(it["rgb"]))
        axes[r, c].set_title(it["title"], fontsize=6)
        if has_vv and "vv" in it:
            axes[r + 1, c].imshow(it["vv"], cmap="gray", vmin=-25, vmax=0)
            axes[r + 1, c].set_title("S1 VV (dB)", fontsize=6)
    fig.tight_layout()
    return fig
