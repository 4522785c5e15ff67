"""Source-level summaries used by commands and reports: per-split statistics and split files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from worldclass.data.bigearthnet.table import SPLITS, conform, normalize_split
from worldclass.data.dataset import BigEarthNet
from worldclass.data.open import open_source
from worldclass.data.splits import assign, coordinates, spatial_leak
from worldclass.data.stats import imbalance
from worldclass.errors import ConfigError, DataError


def split_statistics(
    source: Path | str,
    *,
    splits: Sequence[str] | None = None,
    num_classes: int = 19,
    include_snow_cloud: bool = False,
) -> dict[str, Any]:
    """{"source", "num_classes", "classes", "splits": {split: imbalance stats}} over the given splits."""
    wanted = [normalize_split(s) for s in splits] if splits else list(SPLITS)
    sensors = open_source(source).sensors[:1]  # labels do not depend on the sensor
    result: dict[str, Any] = {"source": str(source), "num_classes": num_classes, "splits": {}}
    for split in wanted:
        try:
            ds = BigEarthNet(source, split=split, sensors=sensors, num_classes=num_classes,
                             include_snow_cloud=include_snow_cloud)  # fmt: skip
        except DataError:
            if splits:
                raise
            continue  # split absent from this source
        result["classes"] = list(ds.classes)
        result["splits"][split] = imbalance(ds.labels(), ds.classes)
    if not result["splits"]:
        raise DataError(f"{source}: no split has patches; assign splits with `worldclass splits`")
    return result


def make_splits(
    source: Path | str,
    method: str,
    *,
    out: Path | None = None,
    seed: int = 0,
    validation: Sequence[str] = (),
    test: Sequence[str] = (),
    leak_distance: float = 1200.0,
) -> dict[str, Any]:
    """Assign splits with ``method``, optionally write them, and report sizes and test→train leakage."""
    table = conform(open_source(source).table())
    result = assign(table, method, seed=seed, validation=validation, test=test)
    split = [s or "" for s in result.column("split").to_pylist()]
    if method == "official" and not any(split):
        raise ConfigError(f"{source}: has no official split; use --method geographic, random or country")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        (pcsv.write_csv if out.suffix == ".csv" else pq.write_table)(result, out)
    x, y, crs = coordinates(table)
    leak = spatial_leak(x, y, crs, split, leak_distance)
    sizes = {s: int(np.sum(np.asarray(split) == s)) for s in SPLITS}
    return {"method": method, "sizes": sizes, "leak_test_to_train": leak, "out": str(out) if out else None}
