"""Write synthetic BigEarthNet archives in the official v1 or v2 (reBEN) layout.

Same folder and file names, dtypes (S2 uint16, S1 float32 dB, maps uint16 raw CLC codes with nodata 0,
Deflate + predictor 2), UTM CRS per tile, 10/20/60 m geotransforms, label JSONs (v1) or
``metadata.parquet`` + ``metadata_for_patches_with_snow_cloud_or_shadow.parquet`` (v2) with the official
columns, split CSVs and snow/cloud lists (v1). Class frequencies follow reBEN's train distribution, so the
archive is imbalanced like the real one; pixels carry class signatures, so models can learn from it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from worldclass.data.bigearthnet import naming
from worldclass.data.nomenclature import codes_to_names43, names43_to_19
from worldclass.data.sensors import PATCH_EXTENT_M, S1_BANDS, S2_BANDS
from worldclass.data.splits import TILE_EXTENT_M, geographic_split, grid_coordinates, random_split
from worldclass.data.synth.guard import claim
from worldclass.data.synth.render import REBEN_TRAIN_COUNTS, Domain, reference_map, render, sample_codes
from worldclass.data.workers import process_pool
from worldclass.errors import ConfigError


@dataclass(frozen=True)
class Tile:
    """An S2 tile of the synthetic archive: MGRS id, UTM EPSG, upper-left corner (m), country, dates."""

    tile: str
    epsg: int
    ulx: float
    uly: float
    country: str
    s2_datetime: str
    s1_datetime: str
    orbit: str


TILES: tuple[Tile, ...] = (
    Tile("33UUP", 32633, 300000, 5400000, "AT", "20170613T101031", "20170613T165043", "R022"),
    Tile("29UPU", 32629, 600000, 5900040, "IE", "20170617T113321", "20170617T064724", "R080"),
    Tile("35VNL", 32635, 499980, 6900000, "FI", "20170704T094031", "20170705T155001", "R036"),
    Tile("29SND", 32629, 499980, 4300020, "PT", "20171221T112501", "20171221T064238", "R037"),
    Tile("34TDQ", 32634, 399960, 5000040, "RS", "20170811T092029", "20170812T045117", "R093"),
    Tile("34UEG", 32634, 499980, 6100020, "LT", "20180523T094029", "20180524T160412", "R036"),
)


#: With ``domains``: a second acquisition of each tile in another season (S2 date, S1 date).
SECOND_DATES: dict[str, tuple[str, str]] = {
    "33UUP": ("20180108T101401", "20180108T165101"),
    "29UPU": ("20171018T114351", "20171018T064755"),
    "35VNL": ("20180321T094029", "20180322T155012"),
    "29SND": ("20170718T112119", "20170718T064244"),
    "34TDQ": ("20180110T093321", "20180111T045133"),
    "34UEG": ("20171029T094109", "20171030T160422"),
}
_PHENOLOGY = {"winter": 0.55, "spring": 0.85, "summer": 1.0, "autumn": 0.75}


def domain_of(country: str, s2_datetime: str) -> Domain:
    """The look of a country's scenes in the season of ``s2_datetime``: band gains (log-normal, sigma 0.12)
    and label priors (reBEN frequencies x log-normal factors, sigma 1) fixed per country (seeded by its
    code), the vegetation's red-edge/NIR by season (winter 0.55, spring 0.85, summer 1, autumn 0.75)."""
    import zlib

    from worldclass.data.bigearthnet.naming import acquisition_season

    rng = np.random.default_rng(zlib.crc32(country.encode()))
    gains = np.exp(rng.normal(0, 0.12, 12))
    weights = np.asarray(REBEN_TRAIN_COUNTS, float) * np.exp(rng.normal(0, 1.0, len(REBEN_TRAIN_COUNTS)))
    season = acquisition_season(f"_{s2_datetime}") or "summer"
    return Domain(tuple(map(float, gains)), _PHENOLOGY[season], tuple(map(float, weights)))


def _write_tif(
    path: Path, arr: np.ndarray, epsg: int, ulx: float, uly: float, *, compress: bool = False
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    res = PATCH_EXTENT_M / arr.shape[0]
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": arr.shape[0],
        "width": arr.shape[1],
        "count": 1,
        "dtype": arr.dtype.name,
        "crs": CRS.from_epsg(epsg),
        "transform": from_origin(ulx, uly, res, res),
    }
    if compress:
        profile.update(compress="deflate", predictor=2, nodata=0)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(arr, 1)


def _plan(n: int, seed: int, domains: bool = False) -> list[dict[str, Any]]:
    """Patch plan: tile, grid position and per-patch seed; snow/cloud flags for ~6 % of patches;
    ``domains``: half the patches from each tile's second acquisition (:data:`SECOND_DATES`)."""
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.full(len(TILES), 3.0))
    tile_idx = rng.choice(len(TILES), size=n, p=shares)
    cells = int(TILE_EXTENT_M // PATCH_EXTENT_M)
    plan, used = [], set()
    for i, t in enumerate(tile_idx):
        while True:
            h, v = (int(x) for x in rng.integers(0, cells, 2))
            if (t, h, v) not in used:
                used.add((t, h, v))
                break
        r = rng.random()
        tile = TILES[t]
        if domains and rng.random() < 0.5:
            s2_date, s1_date = SECOND_DATES[tile.tile]
            tile = replace(tile, s2_datetime=s2_date, s1_datetime=s1_date)
        plan.append(
            {
                "i": i,
                "tile": tile,
                "domains": domains,
                "h": h,
                "v": v,
                "seed": int(rng.integers(2**31)),
                "snow": bool(r < 0.04),
                "cloud": bool(0.04 <= r < 0.06),
            }
        )
    return plan


def _names(p: dict[str, Any]) -> dict[str, str]:
    t: Tile = p["tile"]
    product = f"S2A_MSIL2A_{t.s2_datetime}_N9999_{t.orbit}_T{t.tile}"
    suffix = f"{p['h']}_{p['v']}"
    return {
        "patch_id": f"{product}_{suffix}",
        "s1_name": f"S1A_IW_GRDH_1SDV_{t.s1_datetime}_{t.tile}_{suffix}",
        "s2v1_name": f"S2A_MSIL2A_{t.s2_datetime}_{suffix}",
    }


def _make_patch(root: str, version: int, p: dict[str, Any]) -> dict[str, Any]:
    rng = np.random.default_rng(p["seed"])
    t: Tile = p["tile"]
    domain = domain_of(t.country, t.s2_datetime) if p.get("domains") else None
    weights = None if domain is None else np.asarray(domain.weights)
    while True:
        m = reference_map(rng, sample_codes(rng, weights))
        unlabeled = np.isin(m, (0, 122, 123, 124, 131, 132, 133, 141, 142, 332, 334, 423)).mean()
        labels43 = codes_to_names43(np.unique(m))
        if unlabeled < 0.25 and names43_to_19(labels43):
            break
    patch = render(rng, m, snow=0.5 if p["snow"] else 0.0, cloud=0.4 if p["cloud"] else 0.0, domain=domain)
    names = _names(p)
    ulx, uly = t.ulx + p["h"] * PATCH_EXTENT_M, t.uly - p["v"] * PATCH_EXTENT_M
    base = Path(root)
    s1_name = names["s1_name"]
    s2_name = names["patch_id"] if version == 2 else names["s2v1_name"]
    s2_path: Callable[[Path, str, str], Path] = naming.v2_band_path if version == 2 else naming.v1_band_path
    s1_path: Callable[[Path, str, str], Path] = (
        naming.v2_s1_band_path if version == 2 else naming.v1_s1_band_path
    )
    if version == 2:
        _write_tif(naming.v2_map_path(base, s2_name), m, t.epsg, ulx, uly, compress=True)
    for b in S2_BANDS:
        _write_tif(s2_path(base, s2_name, b.name), patch.s2[b.name], t.epsg, ulx, uly)
    for b in S1_BANDS:
        _write_tif(s1_path(base, s1_name, b.name), patch.s1[b.name], t.epsg, ulx, uly)
    if version == 1:
        crs_wkt = CRS.from_epsg(t.epsg).to_wkt()
        coords = {"ulx": ulx, "uly": uly, "lrx": ulx + PATCH_EXTENT_M, "lry": uly - PATCH_EXTENT_M}
        date = f"{t.s2_datetime[:4]}-{t.s2_datetime[4:6]}-{t.s2_datetime[6:8]}"
        s2_json = {
            "labels": labels43,
            "coordinates": coords,
            "projection": crs_wkt,
            "tile_source": f"S2A_MSIL1C_{t.s2_datetime}_N0205_{t.orbit}_T{t.tile}_{t.s2_datetime}.SAFE",
            "acquisition_date": f"{date} {t.s2_datetime[9:11]}:{t.s2_datetime[11:13]}:{t.s2_datetime[13:15]}",
        }
        s1_json = {
            "labels": labels43,
            "coordinates": coords,
            "projection": crs_wkt,
            "corresponding_s2_patch": s2_name,
            "scene_source": f"S1A_IW_GRDH_1SDV_{t.s1_datetime}_{t.s1_datetime}_000000_000000_0000",
            "acquisition_time": f"{date}T{t.s1_datetime[9:11]}:{t.s1_datetime[11:13]}:{t.s1_datetime[13:15]}",
        }
        naming.v1_json_path(base, s2_name).write_text(json.dumps(s2_json))
        naming.v1_json_path(base, s1_name, s1=True).write_text(json.dumps(s1_json))
    return {
        **names,
        "labels43": labels43,
        "labels": names43_to_19(labels43),
        "country": t.country,
        "tile": t.tile,
        "h": p["h"],
        "v": p["v"],
        "snow": p["snow"],
        "cloud": p["cloud"],
    }


def _make_chunk(root: str, version: int, plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_make_patch(root, version, p) for p in plan]


def synth_bigearthnet(
    out: Path | str,
    *,
    version: int = 2,
    patches: int = 100,
    seed: int = 0,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
    domains: bool = False,
) -> Path:
    """Write a synthetic official-layout archive of ``patches`` S1/S2 pairs to ``out``; returns ``out``.
    ``domains``: countries differ in band gains and label priors, each tile is seen in two seasons with
    their phenology (:func:`domain_of`), so a model of one country or season loses on another."""
    if version not in (1, 2):
        raise ConfigError(f"version={version}; BigEarthNet versions are 1 and 2")
    if patches < 1:
        raise ConfigError(f"patches={patches}; give at least 1")
    root = Path(out)
    spec: dict[str, Any] = {"generator": "bigearthnet", "version": version, "patches": patches, "seed": seed}
    if domains:  # archives without domains keep their earlier claim
        spec["domains"] = True
    claim(root, spec)
    plan = _plan(patches, seed, domains)
    chunks = [plan[i : i + 16] for i in range(0, len(plan), 16)]
    rows: list[dict[str, Any]] = []
    if workers > 0:
        with process_pool(workers) as pool:
            for res in pool.map(_make_chunk, [str(root)] * len(chunks), [version] * len(chunks), chunks):
                rows.extend(res)
                if progress:
                    progress(len(rows), patches)
    else:
        for chunk in chunks:
            rows.extend(_make_chunk(str(root), version, chunk))
            if progress:
                progress(len(rows), patches)
    if version == 2:
        _write_v2_metadata(root, rows)
    else:
        _write_v1_lists(root, rows, seed)
    return root


def _write_v2_metadata(root: Path, rows: list[dict[str, Any]]) -> None:
    ids = [r["patch_id"] for r in rows]
    gx, gy = grid_coordinates(ids)
    split = geographic_split([r["tile"] for r in rows], gx, gy, tile_extent=TILE_EXTENT_M)
    for flagged, file in ((False, naming.V2_METADATA), (True, naming.V2_SNOW_CLOUD_METADATA)):
        sel = [i for i, r in enumerate(rows) if (r["snow"] or r["cloud"]) == flagged]
        table = pa.table(
            {
                "patch_id": [rows[i]["patch_id"] for i in sel],
                "labels": pa.array([rows[i]["labels"] for i in sel], pa.list_(pa.string())),
                "split": [str(split[i]) for i in sel],
                "country": [rows[i]["country"] for i in sel],
                "s1_name": [rows[i]["s1_name"] for i in sel],
                "s2v1_name": [rows[i]["s2v1_name"] for i in sel],
                "contains_seasonal_snow": [rows[i]["snow"] for i in sel],
                "contains_cloud_or_shadow": [rows[i]["cloud"] for i in sel],
            }
        )
        pq.write_table(table, root / file)


def _write_v1_lists(root: Path, rows: list[dict[str, Any]], seed: int) -> None:
    clear = [r for r in rows if not (r["snow"] or r["cloud"]) and r["labels"]]
    split = random_split(len(clear), fractions=(0.52, 0.24, 0.24), seed=seed)
    for name, stem in (("train", "train"), ("validation", "val"), ("test", "test")):
        lines = [f"{r['s2v1_name']},{r['s1_name']}\n" for r, s in zip(clear, split, strict=True) if s == name]
        (root / f"bigearthnet-{stem}.csv").write_text("".join(lines))
    (root / naming.V1_SNOW_CSV).write_text("".join(f"{r['s2v1_name']}\n" for r in rows if r["snow"]))
    (root / naming.V1_CLOUD_CSV).write_text("".join(f"{r['s2v1_name']}\n" for r in rows if r["cloud"]))
