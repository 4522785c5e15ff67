"""Patch previews for the demo report: raw RGB + VV of BigEarthNet patches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worldclass.data.dataset import BigEarthNet
from worldclass.data.sensors import RGB


def preview_dataset(root: Path) -> BigEarthNet:
    """Every patch of ``root`` as raw B04/B03/B02 + VV (no normalisation), for report previews."""
    return BigEarthNet(
        root,
        split="all",
        sensors=("s2", "s1"),
        bands=[*RGB, "VV"],
        normalize="none",
        include_snow_cloud=True,
        return_mask=False,
    )


def preview_item(ds: BigEarthNet, index: int, title: str) -> dict[str, Any]:
    """One :func:`worldclass.report.plots.patch_previews` item of a :func:`preview_dataset` patch."""
    img = ds[index]["image"].numpy()
    return {"rgb": img[:3].transpose(1, 2, 0), "vv": img[3], "title": title}
