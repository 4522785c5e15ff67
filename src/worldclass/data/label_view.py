"""Label views: an archive's labels replaced for some patches, without copying a pixel.

A view is a parquet file with ``patch_id``, ``split`` and ``labels`` (19-class names) or ``labels43``
(43-class names), one row per patch it changes; patches absent from the view keep the archive's labels.
``data.labels: view.parquet`` makes training and evaluation read it. :func:`write_noisy_view` makes one with
synthetic noise (:mod:`worldclass.data.noise`) on chosen splits, and writes the realised rates and the
noise mask beside it (``<view>.report.json``; the parquet's ``noisy`` column marks changed patches).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from worldclass.data.nomenclature import class_names, multi_hot
from worldclass.errors import ConfigError, DataError
from worldclass.io import atomic_path, write_json_atomic


def _column(num_classes: int) -> str:
    return "labels" if num_classes == 19 else "labels43"


def read_label_view(path: str | Path, num_classes: int) -> dict[str, np.ndarray]:
    """patch_id -> multi-hot (num_classes,) float32 of a view (refuses unknown classes, missing columns)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: label view not found (make one with `worldclass labels noisy`)")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{path}: not a readable parquet label view ({exc})") from None
    col = _column(num_classes)
    if "patch_id" not in table.column_names or col not in table.column_names:
        raise ConfigError(
            f"{path}: a {num_classes}-class label view needs columns patch_id and {col} (has {table.column_names}); "
            f"make it with --num-classes {num_classes}"
        )
    ids = table.column("patch_id").to_pylist()
    rows = table.column(col).to_pylist()
    return {
        pid: multi_hot(names or [], num_classes, source=str(path))
        for pid, names in zip(ids, rows, strict=True)
    }


def write_noisy_view(
    root: str | Path,
    out: str | Path,
    *,
    mode: str,
    rate: float,
    seed: int = 0,
    splits: Sequence[str] = ("train",),
    num_classes: int = 19,
    per_class: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Inject ``mode`` noise at ``rate`` into the labels of ``splits`` of the archive/store at ``root``;
    write the view (all patches of those splits) and its report; returns the report."""
    from worldclass.data.bigearthnet.table import normalize_split
    from worldclass.data.dataset import BigEarthNet
    from worldclass.data.noise import inject_label_noise, noise_report

    wanted = {normalize_split(s) for s in splits}
    ds = BigEarthNet(root, split="all", sensors=("s2",), num_classes=num_classes, include_snow_cloud=True)
    split_of = np.asarray([str(s) for s in ds.table.column("split").to_pylist()])
    rows = np.flatnonzero(np.isin(split_of, sorted(wanted)))
    if not len(rows):
        raise ConfigError(
            f"{root}: no patch in splits {sorted(wanted)} (splits here: {sorted(set(split_of))})"
        )
    clean = ds.labels()[rows].astype(np.uint8)
    pcr = None if per_class is None else np.asarray(per_class, np.float64)
    try:
        noisy, mask = inject_label_noise(clean, mode, rate, per_class=pcr, seed=seed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    names = class_names(num_classes)
    report = {
        "root": str(root),
        "mode": mode,
        "rate": rate,
        "seed": seed,
        "splits": sorted(wanted),
        "num_classes": num_classes,
        "patches": len(rows),
        **noise_report(clean, noisy, list(names)),
    }
    table = pa.table(
        {
            "patch_id": [ds.patch_ids[i] for i in rows],
            "split": split_of[rows].tolist(),
            _column(num_classes): [[names[j] for j in np.flatnonzero(r)] for r in noisy],
            "noisy": mask.any(1).tolist(),
        }
    )
    out = Path(out)
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    write_json_atomic(out.with_name(out.name + ".report.json"), report)
    return report
