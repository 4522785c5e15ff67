"""Map preview: scene RGB, predicted class map, polygons over the image (one crop, map coordinates)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from worldclass.report.plots import _plt


def map_preview(
    rgb: np.ndarray,
    classes: np.ndarray,
    polygons: Sequence[Any],
    extent: tuple[float, float, float, float],
    names: Sequence[str],
    reference: np.ndarray | None = None,
) -> Any:
    """``rgb`` (3, h, w) uint8, ``classes`` (h, w) uint8 (255 nodata), ``polygons`` shapely geometries in
    the CRS of ``extent`` = (left, right, bottom, top); optional ``reference`` (h, w) class labels."""
    plt = _plt()
    from matplotlib.colors import ListedColormap

    panels = 4 if reference is not None else 3
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4.4))
    palette = ListedColormap(
        ["#d9d4b8", "#e6194b", "#7f7f7f", "#3cb44b", "#4363d8", "#f58231", "#911eb4"][: len(names)]
    )
    axes[0].imshow(rgb.transpose(1, 2, 0), extent=extent)
    axes[0].set_title("scene (RGB)")

    def class_panel(ax: Any, labels: np.ndarray, title: str) -> None:
        ax.imshow(
            np.ma.masked_equal(labels, 255),
            cmap=palette,
            vmin=0,
            vmax=len(names) - 1,
            extent=extent,
            interpolation="nearest",
        )
        ax.set_title(title)

    k = 1
    if reference is not None:
        class_panel(axes[k], reference, "reference")
        k += 1
    class_panel(axes[k], classes, "prediction (class map)")
    axes[k + 1].imshow(rgb.transpose(1, 2, 0), extent=extent)
    for g in polygons:
        for part in getattr(g, "geoms", [g]):
            x, y = part.exterior.xy
            axes[k + 1].plot(x, y, color="#ffe119", lw=1.0)
    axes[k + 1].set_title(f"polygons ({len(polygons)})")
    for ax in axes:
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette(i)) for i in range(len(names))]
    fig.legend(handles, names, loc="lower center", ncol=len(names), frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
