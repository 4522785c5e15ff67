"""``worldclass polygon-metrics``: predicted vs reference polygon files, compared class by class.

Both files may hold several classes. The predicted polygons of ``classes`` (names or ids of the
``class_name`` / ``class_id`` columns that ``worldclass polygonize`` writes; default: every class present)
are compared with the reference polygons of ``reference_classes`` (values of the reference's class column:
``class_name``, ``class`` or ``class_id``, whichever exists first). By default the reference classes are the
selected predicted class names when the reference column holds names, else their ids; a reference whose
column matches neither is refused with the values it holds. The reference is reprojected to the
prediction's CRS; when that CRS is geographic (GeoJSON is always WGS84 lon/lat) both are reprojected to
the UTM zone of the prediction's centre, so areas, widths and PoLiS are in metres (``crs`` in the result
says which CRS the numbers are in). A ``score`` column of the prediction ranks its polygons for COCO AP.
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
    boundary_width: float = 1.0,
    max_detections: int | None = None,
) -> dict[str, Any]:
    """:func:`worldclass.metrics.polygons.polygon_metrics` of the selected classes of both files, plus
    ``classes`` and ``reference_classes`` (what was compared)."""
    from worldclass.data.vector import read_polygons, reproject
    from worldclass.metrics.polygons import polygon_metrics

    if not 0 < step < float("inf"):
        raise ConfigError(f"--step {step}: the contour sampling step must be a finite number > 0 map units")
    if not 0 < boundary_width < float("inf"):
        raise ConfigError(f"--boundary-width {boundary_width}: use a finite number > 0 map units")
    if max_detections is not None and max_detections < 1:
        raise ConfigError(f"--max-detections {max_detections}: use 1 or more (default: all)")
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
    pred = pred[keep]
    crs_note = str(crs) if crs else "none (coordinates taken as metres)"
    if crs and projected_crs(pred, crs) != crs:
        utm = projected_crs(pred, crs)
        pred, ref = reproject(pred, crs, utm), reproject(ref, crs, utm)
        crs_note = f"{utm} (reprojected from geographic {crs})"
    scores = None
    if "score" in pcols:
        scores = np.asarray(pcols["score"], np.float64)[keep]
        if not np.isfinite(scores).all():
            raise ConfigError(f"{predicted}: column 'score' holds NaN or infinite values; fix or drop it")
    result = polygon_metrics(
        pred, ref, scores=scores, step=step, boundary_width=boundary_width, max_detections=max_detections
    )
    return result | {
        "classes": chosen_names or chosen_ids,
        "reference_classes": chosen_ref or "all",
        "crs": crs_note,
        "ranked_by": "score" if scores is not None else "file order (no score column)",
    }


def projected_crs(geoms: np.ndarray, crs: Any) -> Any:
    """``crs`` itself when projected, else the WGS84 UTM zone (``EPSG:326zz``/``327zz``) of the centre."""
    import shapely
    from pyproj import CRS

    from worldclass.data.vector import reproject

    c = CRS.from_user_input(crs)
    if not c.is_geographic or not len(geoms):
        return crs
    x0, y0, x1, y1 = shapely.total_bounds(reproject(geoms, crs, "EPSG:4326"))
    lon, lat = (x0 + x1) / 2, (y0 + y1) / 2
    zone = int(np.clip((lon + 180) // 6 + 1, 1, 60))
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"
