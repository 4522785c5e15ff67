"""Multi-label imbalance statistics (Charte et al., 2015) on a multi-hot matrix Y (N samples, C labels).

* ``IRLbl(c) = max_k n_k / n_c`` with n_c the number of samples carrying label c (inf when n_c = 0);
* ``MeanIR`` = mean IRLbl and ``MaxIR`` = max IRLbl over labels present (n_c > 0);
* ``CVIR = std(IRLbl, ddof=1) / MeanIR``;
* ``SCUMBLE``: per sample with labels, ``1 - geomean(IRLbl of its labels) / mean(IRLbl of its labels)``,
  averaged over samples with at least one label;
* label cardinality = mean number of labels per sample; density = cardinality / C.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def irlbl(counts: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Per-label imbalance ratio from positive counts (C,); inf for labels without positives."""
    n = np.asarray(counts, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(n > 0, n.max(initial=0.0) / np.where(n > 0, n, 1.0), np.inf)


def imbalance(y: npt.ArrayLike, names: Sequence[str] | None = None) -> dict[str, Any]:
    """All statistics of one split as a JSON-ready dict (see module docstring)."""
    Y = np.asarray(y, dtype=bool)
    if Y.ndim != 2:
        raise ValueError(f"expected a (N, C) multi-hot matrix, got shape {Y.shape}")
    n, c = Y.shape
    counts = Y.sum(0)
    ir = irlbl(counts)
    present = counts > 0
    ir_p = ir[present]
    mean_ir = float(ir_p.mean()) if present.any() else float("nan")
    cvir = float(ir_p.std(ddof=1) / mean_ir) if present.sum() > 1 else 0.0
    card = Y.sum(1)
    labelled = card > 0
    scumble = 0.0
    if labelled.any():
        log_ir = np.where(present, np.log(np.where(present, ir, 1.0)), 0.0)
        irf = np.where(present, ir, 0.0)
        k = card[labelled]
        geo = np.exp((Y[labelled] * log_ir).sum(1) / k)
        arith = (Y[labelled] * irf).sum(1) / k
        scumble = float(np.mean(1.0 - geo / arith))
    names = list(names) if names is not None else [str(i) for i in range(c)]
    return {
        "n_samples": int(n),
        "counts": {nm: int(v) for nm, v in zip(names, counts, strict=True)},
        "irlbl": {nm: (float(v) if np.isfinite(v) else None) for nm, v in zip(names, ir, strict=True)},
        "mean_ir": mean_ir,
        "max_ir": float(ir_p.max()) if present.any() else float("nan"),
        "cvir": cvir,
        "scumble": scumble,
        "cardinality": float(card.mean()) if n else 0.0,
        "density": float(card.mean() / c) if n and c else 0.0,
        "distinct_labelsets": len({row.tobytes() for row in Y}),
    }


def split_statistics(
    source: Path | str,
    *,
    splits: Sequence[str] | None = None,
    num_classes: int = 19,
    include_snow_cloud: bool = False,
) -> dict[str, Any]:
    """{"source", "num_classes", "classes", "splits": {split: imbalance stats}} over the given splits."""
    from worldclass.data.bigearthnet.table import SPLITS, normalize_split
    from worldclass.data.dataset import BigEarthNet
    from worldclass.data.nomenclature import class_names
    from worldclass.data.open import open_source
    from worldclass.errors import DataError

    class_names(num_classes)  # 19 or 43, refused before the splits are looked at
    wanted = [normalize_split(s) for s in splits] if splits else list(SPLITS)
    sensors = open_source(source).sensors[:1]  # labels do not depend on the sensor
    result: dict[str, Any] = {"source": str(source), "num_classes": num_classes, "splits": {}}
    for split in wanted:
        try:
            ds = BigEarthNet(
                source,
                split=split,
                sensors=sensors,
                num_classes=num_classes,
                include_snow_cloud=include_snow_cloud,
            )
        except DataError:
            if splits:
                raise
            continue  # split absent from this source
        result["classes"] = list(ds.classes)
        result["splits"][split] = imbalance(ds.labels(), ds.classes)
    if not result["splits"]:
        raise DataError(f"{source}: no split has patches; assign splits with `worldclass splits`")
    return result
