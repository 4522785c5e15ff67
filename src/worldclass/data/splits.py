"""Train/validation/test assignment: official, reBEN-style geographic, random, by country (leak report and
buffer: :mod:`worldclass.data.leakage`).

Geographic (reBEN): each Sentinel-2 tile is cut into concentric square zones around its centre by patch
centroid; the outer zone (half of the tile area) is ``train``, the middle ring (a quarter) ``validation``,
the centre (a quarter) ``test``. With Chebyshev distance d from the tile centre and tile side L, the
centre zone is d <= L/4 ((1/2)^2 = 1/4 of the area) and the middle ring L/4 < d <= L/(2*sqrt 2)
(area 1/2 - 1/4). Tile bounds: the official 109.8 km MGRS extent for reBEN names, else the bounding box
of the tile's patches (+ half a patch).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from worldclass.data.bigearthnet import naming
from worldclass.data.bigearthnet.table import SPLITS, normalize_split
from worldclass.data.leakage import CONTACT_M, Contacts
from worldclass.data.sensors import PATCH_EXTENT_M
from worldclass.errors import ConfigError, DataError, MissingFileError
from worldclass.io import atomic_path

TILE_EXTENT_M = 109_800.0


def zone_of(dx: npt.ArrayLike, dy: npt.ArrayLike, side: float) -> npt.NDArray[np.str_]:
    """Split of points at offsets (dx, dy) in m from their tile centre, tile side ``side`` m."""
    d = np.maximum(np.abs(np.asarray(dx, float)), np.abs(np.asarray(dy, float)))
    out = np.full(d.shape, "train", dtype=object)
    out[d <= side / (2 * math.sqrt(2))] = "validation"
    out[d <= side / 4] = "test"
    return out.astype(str)


def grid_coordinates(patch_ids: Sequence[str]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Patch centres (m) within the tile from the ``_<h>_<v>`` grid indices of BigEarthNet names."""
    hv = np.array([naming.grid_position(p) for p in patch_ids], dtype=float).reshape(-1, 2)
    return (hv[:, 0] + 0.5) * PATCH_EXTENT_M, (hv[:, 1] + 0.5) * PATCH_EXTENT_M


def geographic_split(
    tiles: Sequence[str | None],
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    tile_extent: float | None = None,
) -> npt.NDArray[np.str_]:
    """reBEN concentric-zone split per tile. ``x``, ``y``: patch centres in m (any projected frame per
    tile). ``tile_extent``: side of every tile with origin at (0, 0), e.g. 109,800 m for grid coordinates;
    None = each tile's patch bounding box."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    out = np.empty(len(xs), dtype=object)
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, t in enumerate(tiles):
        groups[t].append(i)
    half = PATCH_EXTENT_M / 2
    for idx_list in groups.values():
        idx = np.array(idx_list)
        if tile_extent is not None:
            x0, x1, y0, y1 = 0.0, tile_extent, 0.0, tile_extent
        else:
            x0, x1 = xs[idx].min() - half, xs[idx].max() + half
            y0, y1 = ys[idx].min() - half, ys[idx].max() + half
        side = max(x1 - x0, y1 - y0)
        out[idx] = zone_of(xs[idx] - (x0 + x1) / 2, ys[idx] - (y0 + y1) / 2, side)
    return out.astype(str)


def random_split(
    n: int, fractions: tuple[float, float, float] = (0.5, 0.25, 0.25), seed: int = 0
) -> npt.NDArray[np.str_]:
    """Random assignment with the given train/validation/test fractions (deterministic per seed)."""
    if len(fractions) != 3 or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0):
        raise ConfigError(f"fractions={fractions}; give three non-negative numbers summing to 1")
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.round(np.cumsum(fractions)[:2] * n).astype(int)
    out = np.empty(n, dtype=object)
    out[order[: cuts[0]]] = "train"
    out[order[cuts[0] : cuts[1]]] = "validation"
    out[order[cuts[1] :]] = "test"
    return out.astype(str)


def country_split(
    countries: Sequence[str | None], validation: Sequence[str], test: Sequence[str]
) -> npt.NDArray[np.str_]:
    """Whole countries held out: those in ``validation``/``test`` go there, all others to train."""
    overlap = set(validation) & set(test)
    if overlap:
        raise ConfigError(f"countries {sorted(overlap)} are in both validation and test; choose one")
    present = {c for c in countries if c}
    unknown = sorted((set(validation) | set(test)) - present)
    if unknown:
        raise ConfigError(
            f"countries {unknown} hold no patch of this archive (it has {sorted(present) or 'no country column'}); "
            "an unknown code would leave its split empty"
        )
    if present <= set(validation) | set(test):
        raise ConfigError(f"every country ({sorted(present)}) is held out; leave at least one for training")
    out = ["validation" if c in validation else "test" if c in test else "train" for c in countries]
    return np.array(out, dtype=str)


def assign(
    table: pa.Table, method: str, *, seed: int = 0, validation: Sequence[str] = (), test: Sequence[str] = ()
) -> pa.Table:
    """Table with columns ``patch_id``, ``split`` for ``method`` in official|geographic|random|country."""
    ids = table.column("patch_id").to_pylist()
    if method == "official":
        split = np.array(table.column("split").to_pylist(), dtype=object)
    elif method == "geographic":
        split = geographic_for_table(table)
    elif method == "random":
        split = random_split(len(ids), seed=seed)
    elif method == "country":
        if not validation and not test:
            raise ConfigError("country split needs --validation and/or --test country codes (e.g. PT, AT)")
        split = country_split(table.column("country").to_pylist(), validation, test)
    else:
        raise ConfigError(f"unknown split method {method!r}; choose official, geographic, random or country")
    return pa.table({"patch_id": ids, "split": pa.array(list(split), pa.string())})


def geographic_for_table(table: pa.Table) -> npt.NDArray[np.str_]:
    """Geographic split from the tile + grid position of reBEN names, else from stored x/y coordinates."""
    ids = table.column("patch_id").to_pylist()
    tiles = table.column("tile").to_pylist()
    if all(t is not None for t in tiles):
        gx, gy = grid_coordinates(ids)
        return geographic_split(tiles, gx, gy, tile_extent=TILE_EXTENT_M)
    xs, ys = table.column("x").to_pylist(), table.column("y").to_pylist()
    if any(v is None for v in xs):
        raise DataError(
            "geographic split needs tile ids in the patch names or patch coordinates; "
            "encode the archive first (`worldclass encode`), which records them"
        )
    return geographic_split(table.column("crs").to_pylist(), xs, ys)


def coordinates(table: pa.Table) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str | None]]:
    """Patch centres (x, y, crs): stored coordinates, else tile-grid positions (crs = tile id)."""
    xs = table.column("x").to_pylist()
    if xs and all(v is not None for v in xs):
        return (
            np.array(xs, float),
            np.array(table.column("y").to_pylist(), float),
            table.column("crs").to_pylist(),
        )
    gx, gy = grid_coordinates(table.column("patch_id").to_pylist())
    return gx, gy, table.column("tile").to_pylist()


def read_split_file(path: Path) -> pa.Table:
    """Read ``patch_id,split`` from parquet or CSV (with header); splits normalised (``val`` accepted)."""
    if not path.is_file():
        raise DataError(
            f"{path}: split file not found; create one with `worldclass splits SOURCE --out {path}`"
        )
    t = pq.read_table(path) if path.suffix == ".parquet" else pcsv.read_csv(path)
    missing = [c for c in ("patch_id", "split") if c not in t.column_names]
    if missing:
        raise DataError(f"{path}: column(s) {missing} missing; a split file needs patch_id and split columns")
    split = [normalize_split(str(s)) for s in t.column("split").to_pylist()]
    bad = sorted(set(split) - set(SPLITS))
    if bad:
        raise DataError(f"{path}: split values {bad} invalid; use train, validation, test")
    return pa.table({"patch_id": pc.cast(t.column("patch_id"), pa.string()), "split": split})


def make_splits(
    source: Path | str,
    method: str,
    *,
    out: Path | None = None,
    seed: int = 0,
    validation: Sequence[str] = (),
    test: Sequence[str] = (),
    leak_distance: float = CONTACT_M,
    buffer: bool = False,
) -> dict[str, Any]:
    """Assign splits with ``method``, optionally drop the patches that touch another split (``buffer``,
    see :meth:`~worldclass.data.leakage.Contacts.buffer`), write them, and report sizes and the contact
    between every pair of splits (:meth:`~worldclass.data.leakage.Contacts.report`)."""
    from worldclass.data.bigearthnet.table import conform
    from worldclass.data.open import open_source

    table = conform(open_source(source).table())
    result = assign(table, method, seed=seed, validation=validation, test=test)
    split = [s or "" for s in result.column("split").to_pylist()]
    if method == "official" and not any(split):
        raise ConfigError(f"{source}: has no official split; use --method geographic, random or country")
    contacts = Contacts.of(*coordinates(table), leak_distance)
    report: dict[str, Any] = {"method": method}
    if buffer:
        report["leak_before_buffer"] = contacts.report(split)
        kept = contacts.buffer(split)
        report["dropped_by_buffer"] = int(sum(1 for a, b in zip(split, kept, strict=True) if a and not b))
        split = kept.tolist()
        result = result.filter(pa.array([bool(v) for v in split]))
    if out is not None:
        with atomic_path(out) as tmp:  # a full disk or Ctrl-C leaves the previous file untouched
            (pcsv.write_csv if out.suffix == ".csv" else pq.write_table)(result, str(tmp))
    report["sizes"] = {s: int(np.sum(np.asarray(split) == s)) for s in SPLITS}
    report["leak"] = contacts.report(split)
    report["out"] = str(out) if out else None
    return report


def read_ids(path: str | Path) -> list[str]:
    """Ids in a subset file (one per line; blank lines and ``#`` comments skipped)."""
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"{p}: subset file missing; give a file of training ids, one per line")
    return [t for line in p.read_text().splitlines() if (t := line.split("#")[0].strip())]


def keep_subset(items: list[Any], path: str | Path, names: list[str]) -> list[Any]:
    """``items`` whose name is listed in the subset file ``path``; an unknown id is refused."""
    ids = read_ids(path)
    known = set(names)
    unknown = [i for i in ids if i not in known]
    if unknown or not ids:
        raise DataError(
            f"{path}: {len(unknown)} id(s) not in the training split (first: {unknown[0] if unknown else 'none'}"
            "); list training ids only"
        )
    wanted = set(ids)
    return [x for x, n in zip(items, names, strict=True) if n in wanted]
