"""Band specifications of Sentinel-2 L2A and Sentinel-1 IW GRD as stored in BigEarthNet, and statistics.

Sentinel-2: 12 bands (B10 is not in L2A), ESA order ``B01..B12`` with ``B8A`` after ``B08``; uint16
reflectance x 1e4. Native patch sizes for a 1.2 km BigEarthNet patch: 120 px (10 m), 60 px (20 m),
20 px (60 m). Sentinel-1: ``VV``, ``VH`` backscatter in dB (float32), 120 px at 10 m.

Channel order convention of worldclass: the requested S2 bands in ESA order, then S1 bands (VV, VH).

``Band.size`` and :data:`PATCH_SIZE` are BigEarthNet's geometry (a 1.2 km patch, L2A bands); a dataset of
another geometry or band set declares its own and gives native sizes and statistics to
:class:`worldclass.data.transforms.PatchTransform`, which then uses nothing from this table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from worldclass.errors import ConfigError

PATCH_SIZE = 120  # px at 10 m
PATCH_EXTENT_M = 1200.0


@dataclass(frozen=True)
class Band:
    """One band: ``name`` as in the archive file names, ``sensor`` ('s2'/'s1'), ``resolution`` in m,
    ``size`` = native patch side in px, ``dtype`` on disk, centre wavelength in nm (S2) or None."""

    name: str
    sensor: Literal["s2", "s1"]
    resolution: int
    size: int
    dtype: str
    wavelength_nm: float | None = None


S2_BANDS: tuple[Band, ...] = (
    Band("B01", "s2", 60, 20, "uint16", 443),
    Band("B02", "s2", 10, 120, "uint16", 490),
    Band("B03", "s2", 10, 120, "uint16", 560),
    Band("B04", "s2", 10, 120, "uint16", 665),
    Band("B05", "s2", 20, 60, "uint16", 705),
    Band("B06", "s2", 20, 60, "uint16", 740),
    Band("B07", "s2", 20, 60, "uint16", 783),
    Band("B08", "s2", 10, 120, "uint16", 842),
    Band("B8A", "s2", 20, 60, "uint16", 865),
    Band("B09", "s2", 60, 20, "uint16", 945),
    Band("B11", "s2", 20, 60, "uint16", 1610),
    Band("B12", "s2", 20, 60, "uint16", 2190),
)
S1_BANDS: tuple[Band, ...] = (
    Band("VV", "s1", 10, 120, "float32"),
    Band("VH", "s1", 10, 120, "float32"),
)
BANDS: dict[str, Band] = {b.name: b for b in (*S2_BANDS, *S1_BANDS)}
S2_NAMES: tuple[str, ...] = tuple(b.name for b in S2_BANDS)
S1_NAMES: tuple[str, ...] = tuple(b.name for b in S1_BANDS)
#: The 10 S2 bands used by the reBEN recipe (no 60 m bands).
S2_10BANDS: tuple[str, ...] = tuple(b.name for b in S2_BANDS if b.resolution != 60)
RGB: tuple[str, ...] = ("B04", "B03", "B02")

#: Named band sets accepted wherever a band list is.
BAND_SETS: dict[str, tuple[str, ...]] = {
    "s2": S2_NAMES,
    "s2-10": S2_10BANDS,
    "rgb": RGB,
    "s1": S1_NAMES,
    "s2+s1": S2_NAMES + S1_NAMES,
    "s2-10+s1": S2_10BANDS + S1_NAMES,
}


def resolve_bands(
    bands: str | tuple[str, ...] | list[str] | None, sensors: tuple[str, ...]
) -> tuple[str, ...]:
    """Band names in worldclass channel order (S2 ESA order, then VV, VH).

    ``bands`` may be None (all bands of ``sensors``), a named set from :data:`BAND_SETS`, or names.
    """
    if bands is None:
        names: tuple[str, ...] = ()
        if "s2" in sensors:
            names += S2_NAMES
        if "s1" in sensors:
            names += S1_NAMES
        return names
    if isinstance(bands, str):
        if bands not in BAND_SETS:
            raise ConfigError(
                f"unknown band set {bands!r}; choose one of {sorted(BAND_SETS)} or list band names"
            )
        bands = BAND_SETS[bands]
    unknown = [b for b in bands if b not in BANDS]
    if unknown:
        raise ConfigError(f"unknown band(s) {unknown}; valid names: {list(BANDS)}")
    missing_sensor = sorted({BANDS[b].sensor for b in bands} - set(sensors))
    if missing_sensor:
        raise ConfigError(f"band(s) {list(bands)} need sensor(s) {missing_sensor}; add them to sensors=")
    order = {n: i for i, n in enumerate((*S2_NAMES, *S1_NAMES))}
    return tuple(sorted(dict.fromkeys(bands), key=order.__getitem__))


@cache
def _stats() -> dict[str, dict[str, dict[str, float]]]:
    text = resources.files("worldclass.data").joinpath("resources/band_statistics.json").read_text()
    data: dict[str, dict[str, dict[str, float]]] = json.loads(text)
    return data


def band_statistics(
    bands: tuple[str, ...], version: Literal["v1", "v2"] = "v2"
) -> tuple[list[float], list[float]]:
    """Per-band (mean, std) lists in the order of ``bands``; S2 in reflectance x 1e4, S1 in dB."""
    table = _stats()[version]
    return [table["mean"][b] for b in bands], [table["std"][b] for b in bands]
