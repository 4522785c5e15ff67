"""BigEarthNet file-name conventions (pure string functions, no I/O).

v2 (reBEN)::

    BigEarthNet-S2/<tile product>/<patch_id>/<patch_id>_<BAND>.tif
    BigEarthNet-S1/<S1 scene>/<s1_name>/<s1_name>_{VV,VH}.tif
    Reference_Maps/<tile product>/<patch_id>/<patch_id>_reference_map.tif

``patch_id`` = S2 product + ``_<h>_<v>`` (tile product = patch_id minus the last two ``_`` fields);
``s1_name`` = S1 scene + ``_<S2 tile id>_<h>_<v>`` (S1 scene = s1_name minus the last three fields).

v1::

    BigEarthNet-v1.0/<S2 name>/<S2 name>_<BAND>.tif, <S2 name>_labels_metadata.json
    BigEarthNet-S1-v1.0/<S1 name>/<S1 name>_{VV,VH}.tif, <S1 name>_labels_metadata.json
"""

from __future__ import annotations

import re
from pathlib import Path

V2_S2_DIR = "BigEarthNet-S2"
V2_S1_DIR = "BigEarthNet-S1"
V2_MAPS_DIR = "Reference_Maps"
V2_METADATA = "metadata.parquet"
V2_SNOW_CLOUD_METADATA = "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
V1_S2_DIR = "BigEarthNet-v1.0"
V1_S1_DIR = "BigEarthNet-S1-v1.0"
V1_SNOW_CSV = "patches_with_seasonal_snow.csv"
V1_CLOUD_CSV = "patches_with_cloud_and_shadow.csv"

_TILE_RE = re.compile(r"_T(\d{2}[A-Z]{3})_")


def v2_tile_product(patch_id: str) -> str:
    """Folder of a v2 S2 patch: the patch id without its ``_<h>_<v>`` suffix."""
    return patch_id.rsplit("_", 2)[0]


def v1_s2_date(s2_name: str) -> str:
    """Acquisition datetime field of a v1 S2 name (``S2A_MSIL2A_<date>_<h>_<v>``)."""
    return s2_name.split("_")[2]


def v2_s1_scene(s1_name: str) -> str:
    """Folder of a v2 S1 patch: the S1 name without ``_<tile>_<h>_<v>``."""
    return s1_name.rsplit("_", 3)[0]


def grid_position(name: str) -> tuple[int, int]:
    """(h, v) patch indices within the S2 tile, the last two ``_`` fields of any BigEarthNet name."""
    parts = name.rsplit("_", 2)
    return int(parts[1]), int(parts[2])


def tile_id(name: str) -> str | None:
    """Sentinel-2 MGRS tile id (e.g. ``33UUP``) of a v2 patch id, v1 tile_source or S1 name; None if absent."""
    m = _TILE_RE.search(name + "_")
    if m:
        return m.group(1)
    parts = name.rsplit("_", 3)
    if len(parts) == 4 and re.fullmatch(r"\d{2}[A-Z]{3}", parts[1]):
        return parts[1]
    return None


def v2_band_path(root: Path, patch_id: str, band: str) -> Path:
    return root / V2_S2_DIR / v2_tile_product(patch_id) / patch_id / f"{patch_id}_{band}.tif"


def v2_s1_band_path(root: Path, s1_name: str, band: str) -> Path:
    return root / V2_S1_DIR / v2_s1_scene(s1_name) / s1_name / f"{s1_name}_{band}.tif"


def v2_map_path(root: Path, patch_id: str) -> Path:
    return root / V2_MAPS_DIR / v2_tile_product(patch_id) / patch_id / f"{patch_id}_reference_map.tif"


def v1_band_path(root: Path, s2_name: str, band: str) -> Path:
    return root / V1_S2_DIR / s2_name / f"{s2_name}_{band}.tif"


def v1_s1_band_path(root: Path, s1_name: str, band: str) -> Path:
    return root / V1_S1_DIR / s1_name / f"{s1_name}_{band}.tif"


def v1_json_path(root: Path, name: str, *, s1: bool = False) -> Path:
    return root / (V1_S1_DIR if s1 else V1_S2_DIR) / name / f"{name}_labels_metadata.json"


_DATE = re.compile(r"_(\d{4})(\d{2})(\d{2})T\d{6}")
#: Meteorological seasons (northern hemisphere) by month.
SEASONS = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring"}
SEASONS |= {6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn"}


def acquisition_season(name: str) -> str | None:
    """Season of the first ``_YYYYMMDDThhmmss`` date in a patch or product name (None without one)."""
    m = _DATE.search(name)
    return SEASONS.get(int(m.group(2))) if m else None
