"""Vector I/O on pyogrio + shapely 2 (no geopandas): polygon layers with plain attribute columns.

Drivers come from the suffix: ``.gpkg`` GeoPackage, ``.fgb`` FlatGeobuf, ``.geojson``/``.json`` GeoJSON
(RFC 7946: written in WGS84 lon/lat, reprojected here), ``.shp`` Shapefile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import shapely

from worldclass.errors import ConfigError, CorruptFileError, MissingFileError

DRIVERS = {
    ".gpkg": "GPKG",
    ".fgb": "FlatGeobuf",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
}


def driver_for(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in DRIVERS:
        raise ConfigError(f"{path}: unknown vector format {suffix!r}; use one of {sorted(DRIVERS)}")
    return DRIVERS[suffix]


def reproject(geoms: np.ndarray, src_crs: Any, dst_crs: Any) -> np.ndarray:
    """Reproject shapely geometries (array) between CRSs (anything pyproj accepts)."""
    from pyproj import CRS, Transformer

    if CRS.from_user_input(src_crs) == CRS.from_user_input(dst_crs):
        return geoms
    t = Transformer.from_crs(src_crs, dst_crs, always_xy=True)
    out: np.ndarray = shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    return out


def pixel_to_map(geoms: np.ndarray, transform: Any) -> np.ndarray:
    """Geometries in pixel coordinates (x = column, y = row) -> map coordinates of a raster ``transform``."""
    t = transform
    out: np.ndarray = shapely.transform(
        geoms,
        lambda xy: np.column_stack(
            (t.a * xy[:, 0] + t.b * xy[:, 1] + t.c, t.d * xy[:, 0] + t.e * xy[:, 1] + t.f)
        ),
    )
    return out


def write_polygons(
    path: str | Path,
    geoms: np.ndarray,
    fields: dict[str, np.ndarray],
    *,
    crs: Any,
    append: bool = False,
    layer: str | None = None,
) -> None:
    """Write (Multi)Polygons with attribute columns; GeoJSON is reprojected to EPSG:4326. ``crs`` None:
    pixel coordinates (maps of non-georeferenced benchmark tiles), written without a CRS."""
    from pyogrio.raw import write

    driver = driver_for(path)
    if driver == "GeoJSON" and crs is not None:
        geoms, crs = reproject(geoms, crs, "EPSG:4326"), "EPSG:4326"
    crs_wkt = None if crs is None else crs if isinstance(crs, str) else crs.to_wkt()
    write(
        str(path),
        shapely.to_wkb(geoms),
        [np.asarray(v) for v in fields.values()],
        list(fields),
        driver=driver,
        geometry_type="MultiPolygon",
        promote_to_multi=True,
        crs=crs_wkt,
        append=append,
        layer=layer,
        # GeoPackage 1.2 (GDAL's own default before 3.7.1): older GDAL, e.g. 3.6 in QGIS LTR on Debian 12,
        # warns about the 1.4 that newer GDAL writes
        dataset_options={"VERSION": "1.2"} if driver == "GPKG" and not append else None,
    )


def read_polygons(
    path: str | Path,
    *,
    columns: list[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], str | None]:
    """(geometries, {column: values}, CRS WKT) of a vector file's first geometry layer (attribute tables
    such as QGIS's ``layer_styles`` skipped); ``bbox`` in the file's CRS."""
    from pyogrio import list_layers
    from pyogrio.errors import DataSourceError
    from pyogrio.raw import read

    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{p}: vector file not found")
    try:
        layers = list_layers(str(p))
        spatial = [str(name) for name, kind in layers if kind is not None]
        layer = spatial[0] if spatial else None
        meta, _, wkb, values = read(str(p), columns=columns, bbox=bbox, layer=layer)
    except DataSourceError as exc:
        raise CorruptFileError(f"{p}: not a readable vector file ({exc})") from None
    return shapely.from_wkb(wkb), dict(zip(meta["fields"], values, strict=True)), meta["crs"]
