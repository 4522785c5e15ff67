"""Band stacks as GDAL VRT files: several rasters of one grid read as one multi-band raster (no copy).

Used to give a model more inputs than one file holds (ISPRS orthophoto bands + a DSM / nDSM band); the
VRT names its sources by absolute path, so the archive stays untouched and the stack costs a few hundred
bytes. Every band is exposed as Float32 (sources of mixed types: uint8 image, float32 heights).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import rasterio

from worldclass.io.atomic import write_text_atomic


def write_stack_vrt(out: Path, sources: Sequence[tuple[Path, int, str]]) -> Path:
    """Write ``out`` stacking ``(raster, band index, band name)`` in order; all sources must share the
    first one's size (ValueError naming the file otherwise). The grid (CRS, transform) is the first's."""
    first = sources[0][0]
    with rasterio.open(first) as src:
        width, height, crs, transform = src.width, src.height, src.crs, src.transform
        georef = src.crs is not None or not transform.is_identity
    parts = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">']
    if crs is not None:
        parts.append(f"  <SRS>{escape(crs.to_wkt())}</SRS>")
    if georef:
        parts.append("  <GeoTransform>" + ", ".join(repr(v) for v in transform.to_gdal()) + "</GeoTransform>")
    checked = {Path(first)}
    for i, (path, band, name) in enumerate(sources, 1):
        if Path(path) not in checked:  # each source opened once, however many of its bands are stacked
            checked.add(Path(path))
            with rasterio.open(path) as src:
                if (src.width, src.height) != (width, height):
                    raise ValueError(
                        f"{path}: {src.height}x{src.width} px, but {first.name} is {height}x{width}"
                    )
        parts += [
            f'  <VRTRasterBand dataType="Float32" band="{i}">',
            f"    <Description>{escape(name)}</Description>",
            "    <SimpleSource>",
            f'      <SourceFilename relativeToVRT="0">{escape(str(Path(path).resolve()))}</SourceFilename>',
            f"      <SourceBand>{band}</SourceBand>",
            "    </SimpleSource>",
            "  </VRTRasterBand>",
        ]
    parts.append("</VRTDataset>\n")
    write_text_atomic(out, "\n".join(parts))
    return out
