"""``worldclass polygon-metrics``: predicted vs reference polygon files, compared class by class.

Both files may hold several classes. The predicted polygons of ``classes`` (names or ids of the
``class_name`` / ``class_id`` columns that ``worldclass polygonize`` writes; default: every class present)
are compared with the reference polygons of ``reference_classes`` (values of the reference's class column:
``class_name``, ``class`` or ``class_id``, whichever exists first). By default the reference classes are the
selected predicted class names when the reference column holds names, else their ids; a reference whose
column matches neither is refused with the values it holds. The reference is reprojected to the
prediction's CRS.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.errors import ConfigError

CLASS_COLUMNS = ("class_name", "class", "class_id")


def _column(cols: dict[str, np.ndarray], path: Path, wanted: str | None) -> str | None:
    if wanted is not None:
        if wanted not in cols:
            raise ConfigError(f"{path}: no column {wanted!r}; columns: {sorted(cols)}")
        return wanted
    return next((c for c in CLASS_COLUMNS if c in cols), None)


def _values(cols: dict[str, np.ndarray], column: str) -> np.ndarray:
    return np.asarray([str(v) for v in cols[column]], dtype=object)


def compare_polygon_files(
    predicted: str | Path,
    reference: str | Path,
    *,
    classes: Sequence[str] | None = None,
    reference_classes: Sequence[str] | None = None,
    reference_column: str | None = None,
    step: float = 1.0,
) -> dict[str, Any]:
    """:func:`worldclass.metrics.polygons.polygon_metrics` of the selected classes of both files, plus
    ``classes`` and ``reference_classes`` (what was compared)."""
    from worldclass.data.vector import read_polygons, reproject
    from worldclass.metrics.polygons import polygon_metrics

    if not 0 < step < float("inf"):
        raise ConfigError(f"--step {step}: the contour sampling step must be a finite number > 0 map units")
    predicted, reference = Path(predicted), Path(reference)
    pred, pcols, crs = read_polygons(predicted)
    ref, rcols, ref_crs = read_polygons(reference)
    names = _values(pcols, "class_name") if "class_name" in pcols else None
    ids = _values(pcols, "class_id") if "class_id" in pcols else None
    keep = np.ones(len(pred), bool)
    chosen_names: list[str] = []
    chosen_ids: list[str] = []
    if classes:
        wanted = set(map(str, classes))
        keep = np.zeros(len(pred), bool)
        for v in (names, ids):
            if v is not None:
                keep |= np.isin(v, list(wanted))
        if not keep.any():
            have = sorted(set(names if names is not None else []) | set(ids if ids is not None else []))
            raise ConfigError(f"{predicted}: no polygon of classes {sorted(wanted)}; it holds {have}")
    if names is not None:
        chosen_names = sorted(set(names[keep]))
    if ids is not None:
        chosen_ids = sorted(set(ids[keep]))
    column = _column(rcols, reference, reference_column)
    ref_keep = np.ones(len(ref), bool)
    chosen_ref: list[str] = []
    if column is not None:
        values = _values(rcols, column)
        if reference_classes:
            chosen_ref = list(map(str, reference_classes))
        elif chosen_names and np.isin(values, chosen_names).any():
            chosen_ref = chosen_names
        elif chosen_ids and np.isin(values, chosen_ids).any():
            chosen_ref = chosen_ids
        else:
            raise ConfigError(
                f"{reference}: column {column!r} holds {sorted(set(values))[:20]}, none of the predicted "
                f"classes {chosen_names or chosen_ids}; pass --reference-classes"
            )
        ref_keep = np.isin(values, chosen_ref)
        if not ref_keep.any():
            raise ConfigError(f"{reference}: no polygon of classes {chosen_ref} in column {column!r}")
    ref = reproject(ref[ref_keep], ref_crs, crs) if crs and ref_crs else ref[ref_keep]
    result = polygon_metrics(pred[keep], ref, step=step)
    return result | {"classes": chosen_names or chosen_ids, "reference_classes": chosen_ref or "all"}
