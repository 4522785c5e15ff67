"""QGIS styles for class maps and polygon layers, so they open styled.

- ``raster_style(classes)``: a paletted renderer for a one-band class map (value = class index), the
  same colours as the map's GeoTIFF colour table; written as ``<map>.qml`` next to the COG, which QGIS
  loads as the layer's default style.
- ``vector_style(classes)``: a categorised fill renderer on ``class_id`` (semi-transparent fill, dark
  outline); written as ``<layer>.qml`` next to the layer and, for GeoPackage, also into the file's
  ``layer_styles`` table (QGIS's own table, registered in ``gpkg_contents``) as the default style.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from worldclass.io.atomic import write_text_atomic

PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
)
_HEAD = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"


def colour(index: int, colours: Sequence[Sequence[int]] | None = None) -> tuple[int, int, int]:
    """RGB of class ``index`` (the class map's colour table and both styles): ``colours[index]`` (a
    benchmark's own code, e.g. ISPRS) when given, else worldclass's palette."""
    if colours and index < len(colours):
        r, g, b = colours[index]
        return int(r), int(g), int(b)
    return PALETTE[index % len(PALETTE)]


def raster_style(classes: Sequence[str], colours: Sequence[Sequence[int]] | None = None) -> str:
    """QML text: paletted renderer of band 1, one entry per class index, nodata 255 transparent."""
    entries = "\n".join(
        f'        <paletteEntry value="{i}" color="#{"".join(f"{c:02x}" for c in colour(i, colours))}" alpha="255" '
        f"label={quoteattr(name)}/>"
        for i, name in enumerate(classes)
    )
    return (
        f'{_HEAD}<qgis version="3.28.0" styleCategories="AllStyleCategories">\n  <pipe>\n'
        '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">\n'
        "      <rasterTransparency/>\n      <colorPalette>\n"
        f"{entries}\n      </colorPalette>\n    </rasterrenderer>\n  </pipe>\n</qgis>\n"
    )


def vector_style(
    classes: Sequence[str],
    ids: Sequence[int] | None = None,
    *,
    field: str = "class_id",
    colours: Sequence[Sequence[int]] | None = None,
) -> str:
    """QML text: categorised fill renderer on ``field`` for the class ids ``ids`` (default: all)."""
    ids = list(range(len(classes))) if ids is None else list(ids)
    cats = "\n".join(
        f'      <category value="{i}" symbol="{k}" label={quoteattr(classes[i])} render="true"/>'
        for k, i in enumerate(ids)
    )
    symbols = "\n".join(
        f'      <symbol type="fill" name="{k}" alpha="1" clip_to_extent="1" force_rhr="0">\n'
        '        <layer class="SimpleFill" enabled="1" locked="0" pass="0">\n          <Option type="Map">\n'
        f'            <Option name="color" type="QString" value="{",".join(map(str, colour(i, colours)))},150"/>\n'
        '            <Option name="outline_color" type="QString" value="35,35,35,255"/>\n'
        '            <Option name="outline_width" type="QString" value="0.26"/>\n'
        '            <Option name="style" type="QString" value="solid"/>\n'
        "          </Option>\n        </layer>\n      </symbol>"
        for k, i in enumerate(ids)
    )
    return (
        f'{_HEAD}<qgis version="3.28.0" styleCategories="Symbology">\n'
        f'  <renderer-v2 type="categorizedSymbol" attr="{field}" symbollevels="0" enableorderby="0" '
        'forceraster="0">\n'
        f"    <categories>\n{cats}\n    </categories>\n    <symbols>\n{symbols}\n    </symbols>\n"
        "  </renderer-v2>\n</qgis>\n"
    )


def style_path(data: Path) -> Path:
    """``<name>.qml`` next to a data file, the name QGIS looks for."""
    return data.with_suffix(".qml")


def write_style(data: Path, qml: str) -> Path:
    path = style_path(data)
    write_text_atomic(path, qml)
    return path


def embed_gpkg_style(gpkg: Path, layer: str, qml: str, *, geometry_column: str = "geom") -> None:
    """Store ``qml`` as the default style of ``layer`` in the GeoPackage's ``layer_styles`` table."""
    with sqlite3.connect(gpkg) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256), "
            "f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT, "
            "useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
            "update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
        )
        db.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, last_change) "
            "VALUES ('layer_styles', 'attributes', 'layer_styles', strftime('%Y-%m-%dT%H:%M:%fZ','now'))"
        )
        db.execute("DELETE FROM layer_styles WHERE f_table_name = ?", (layer,))
        db.execute(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
            "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui) "
            "VALUES ('', '', ?, ?, ?, ?, '', 1, 'worldclass class colours', '', '')",
            (layer, geometry_column, layer, qml),
        )
