"""Patch sources: one reader per kind of BigEarthNet root, all with the same small interface.

A source yields a canonical patch table (:mod:`.table`) and, per patch, the **native** band arrays
(no resampling; S2 uint16 at 120/60/20 px, S1 float32 dB at 120 px) plus, for v2, the raw CLC-code
reference map (uint16, nodata 0). Resampling and normalisation happen once, later, in
:mod:`worldclass.data.transforms`, so every source yields the same tensors.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from worldclass.data.bigearthnet import naming
from worldclass.data.bigearthnet.geotiff import read_band
from worldclass.data.bigearthnet.table import conform, make_table, normalize_split
from worldclass.data.native import NativeBatch, pack
from worldclass.data.nomenclature import CLASSES19, names43_to_19
from worldclass.data.sensors import BANDS, S1_NAMES, S2_NAMES
from worldclass.errors import (
    CorruptFileError,
    DataError,
    IncompleteStoreError,
    LabelError,
    MissingFileError,
)

Arrays = dict[str, npt.NDArray[Any]]
T = TypeVar("T")
MAP_KEY = "reference_map"


class Source(ABC):
    """A BigEarthNet source. ``version`` is 1 or 2; ``sensors`` are those present ('s2', 's1')."""

    kind: ClassVar[str]
    version: int
    sensors: tuple[str, ...]
    has_mask: bool

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @abstractmethod
    def table(self) -> pa.Table:
        """Canonical patch table (labels may be null for v1 raw roots until read)."""

    @abstractmethod
    def read(
        self,
        patch_id: str,
        s1_name: str | None,
        bands: tuple[str, ...],
        mask: bool,
        georef: dict[str, Any] | None = None,
    ) -> Arrays:
        """Native arrays of ``bands`` (+ ``reference_map`` when ``mask``) of one patch. File sources fill
        ``georef`` (when given) with the patch centre ``x``, ``y`` (m) and ``crs`` of the first band read."""

    def read_many(
        self,
        requests: Sequence[tuple[str, str | None]],
        bands: tuple[str, ...],
        mask: bool,
        consume: Callable[[list[Arrays]], T],
    ) -> T:
        """Read several patches and pass them to ``consume``; returns its result.

        The arrays may be views that are valid only during ``consume`` (the store hands out zero-copy views
        of its memory map), so ``consume`` must copy whatever it keeps.
        """
        return consume([self.read(pid, s1, bands, mask) for pid, s1 in requests])

    def read_native(
        self,
        requests: Sequence[tuple[str, str | None]],
        bands: tuple[str, ...],
        mask: bool,
        consume: Callable[[NativeBatch], T],
    ) -> T:
        """Like :meth:`read_many`, but ``consume`` gets a checked :class:`NativeBatch` (valid during the
        call) for :class:`~worldclass.data.transforms.PatchTransform`; the dicts are in its ``arrays``."""
        names = [f"{self.root}: patch {pid}" for pid, _ in requests]
        return self.read_many(requests, bands, mask, lambda raw: consume(pack(raw, bands, mask, names)))

    def read_labels43(self, patch_id: str) -> list[str] | None:
        """43-class labels of a patch when the source stores them (v1 JSON), else None."""
        return None

    def read_tile(self, patch_id: str) -> str | None:
        """Sentinel-2 tile id of a patch (v2: from the name; v1: from the label JSON's tile_source)."""
        return naming.tile_id(patch_id)


class FileSource(Source):
    """An official tree of single-band GeoTIFFs; subclasses say where each file lives."""

    @abstractmethod
    def band_path(self, patch_id: str, s1_name: str | None, band: str) -> Path:
        """Path of one band file of a patch."""

    def map_path(self, patch_id: str) -> Path:
        """Path of the reference map of a patch (v2 only)."""
        raise DataError(f"{self.root}: this archive has no reference maps")

    def read(
        self,
        patch_id: str,
        s1_name: str | None,
        bands: tuple[str, ...],
        mask: bool,
        georef: dict[str, Any] | None = None,
    ) -> Arrays:
        out: Arrays = {}
        crs: dict[str, str | None] = {}  # sensor -> CRS of its first band (encode checks the others)
        for b in bands:
            spec = BANDS[b]
            path = self.band_path(patch_id, s1_name, b)
            want_geo = georef is not None and (not georef or spec.sensor not in crs)
            out[b], geo = read_band(
                path, spec.size, spec.dtype, what=f"band {b}", georef=want_geo, crs=crs.get(spec.sensor)
            )
            if geo is not None:
                crs[spec.sensor] = geo.get("crs") if str(geo.get("crs", "")).startswith("EPSG:") else None
                if georef is not None and not georef:  # the patch is located from its first band
                    georef.update(geo)
        if mask:
            out[MAP_KEY], _ = read_band(self.map_path(patch_id), 120, "uint16", what="reference map")
        return out


def _read_parquet(path: Path, required: tuple[str, ...]) -> pa.Table:
    try:
        t = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise CorruptFileError(f"{path}: not a readable parquet file ({exc})") from None
    missing = [c for c in required if c not in t.column_names]
    if missing:
        raise DataError(
            f"{path}: required column(s) {missing} missing (has {t.column_names}); "
            "use the official reBEN metadata.parquet"
        )
    return t


class V2Source(FileSource):
    """Official reBEN / BigEarthNet v2.0 root with ``metadata.parquet``."""

    kind = "v2"
    version = 2
    has_mask = True

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.sensors = tuple(
            s for s, d in (("s2", naming.V2_S2_DIR), ("s1", naming.V2_S1_DIR)) if (self.root / d).is_dir()
        )
        self.has_mask = (self.root / naming.V2_MAPS_DIR).is_dir()

    def table(self) -> pa.Table:
        required = ("patch_id", "labels", "split", "s1_name")
        main = _read_parquet(self.root / naming.V2_METADATA, required)
        if main.num_rows == 0:
            raise DataError(
                f"{self.root / naming.V2_METADATA}: has no rows; use the official reBEN metadata.parquet"
            )
        _check_labels(main, self.root / naming.V2_METADATA)
        parts = [self._conform(main, snow_cloud=False)]
        extra = self.root / naming.V2_SNOW_CLOUD_METADATA
        if extra.is_file():
            flagged = _read_parquet(extra, required)
            flags = ("contains_seasonal_snow", "contains_cloud_or_shadow")
            if not any(f in flagged.column_names for f in flags):
                raise DataError(
                    f"{extra}: has neither {flags[0]} nor {flags[1]}, so no patch can be told snow or cloud; "
                    "use the official file (or add the flag columns)"
                )
            _check_labels(flagged, extra)
            parts.append(self._conform(flagged, snow_cloud=True))
        return pa.concat_tables(parts)

    @staticmethod
    def _conform(t: pa.Table, snow_cloud: bool) -> pa.Table:
        d = t.to_pydict()
        n = t.num_rows
        cols: dict[str, Any] = {
            "patch_id": d["patch_id"],
            "s1_name": d["s1_name"],
            "split": [normalize_split(s) for s in d["split"]],
            "labels": d["labels"],
            "country": d.get("country", [None] * n),
            "tile": [naming.tile_id(p) for p in d["patch_id"]],
            "snow": d.get("contains_seasonal_snow", [False] * n),
            "cloud": d.get("contains_cloud_or_shadow", [False] * n),
        }
        return make_table(cols)

    def band_path(self, patch_id: str, s1_name: str | None, band: str) -> Path:
        if BANDS[band].sensor == "s2":
            return naming.v2_band_path(self.root, patch_id, band)
        if s1_name is None:
            raise DataError(f"{patch_id}: no paired S1 patch (s1_name) in metadata.parquet")
        return naming.v2_s1_band_path(self.root, s1_name, band)

    def map_path(self, patch_id: str) -> Path:
        return naming.v2_map_path(self.root, patch_id)


def _check_labels(t: pa.Table, path: Path) -> None:
    """The v2 ``labels`` column is a list of 19-class names per patch (the official layout)."""
    column = t.column("labels")
    if not pa.types.is_list(column.type) and not pa.types.is_large_list(column.type):
        raise DataError(
            f"{path}: column 'labels' is {column.type}, expected a list of class names per patch "
            "(list<string>); use the official reBEN metadata.parquet"
        )
    known = set(CLASSES19)
    names = pc.unique(pc.list_flatten(column.combine_chunks())).to_pylist()
    unknown = sorted(str(n) for n in names if n not in known)
    if unknown:
        raise LabelError(
            f"{path}: unknown class name(s) {unknown[:3]} in column 'labels'; the 19 BigEarthNet classes "
            f"are {list(CLASSES19)}"
        )


def _read_name_csv(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text().splitlines():
        fields = [f.strip() for f in line.split(",") if f.strip()]
        if fields:
            rows.append(fields)
    return rows


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise MissingFileError(f"{path}: label file is missing; restore it from the official v1 archive")
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path}: invalid JSON ({exc}); re-extract it") from None
    if "labels" not in data:
        raise CorruptFileError(f"{path}: no 'labels' key; not a BigEarthNet label file")
    return data


class V1Source(FileSource):
    """Official BigEarthNet v1.0 root: ``BigEarthNet-v1.0/`` and/or ``BigEarthNet-S1-v1.0/``.

    Splits come from ``{train,val,test}.csv`` or ``bigearthnet-{train,val,test}.csv`` in the root (one S2
    name, or ``s2,s1`` pairs, per line). Snow/cloud lists: ``patches_with_seasonal_snow.csv``,
    ``patches_with_cloud_and_shadow.csv``. S1↔S2 pairs come from pair CSVs or the S1 JSONs'
    ``corresponding_s2_patch`` (scanned once when needed). In an S1-only root the patches are the S1
    names; the S2-named splits and lists reach them through those pairs.
    """

    kind = "v1"
    version = 1
    has_mask = False

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.sensors = tuple(
            s for s, d in (("s2", naming.V1_S2_DIR), ("s1", naming.V1_S1_DIR)) if (self.root / d).is_dir()
        )

    def _split_csvs(self) -> dict[str, Path]:
        found = {}
        for split, stems in (
            ("train", ("train",)),
            ("validation", ("val", "validation")),
            ("test", ("test",)),
        ):
            for stem in stems:
                for name in (f"{stem}.csv", f"bigearthnet-{stem}.csv"):
                    if (self.root / name).is_file():
                        found[split] = self.root / name
        return found

    def _s1_pairs(self) -> dict[str, str]:
        s1_dir = self.root / naming.V1_S1_DIR
        pairs = {}
        if s1_dir.is_dir():
            for entry in sorted(s1_dir.iterdir()):
                if entry.is_dir():
                    data = _read_json(naming.v1_json_path(self.root, entry.name, s1=True))
                    s2 = data.get("corresponding_s2_patch")
                    if s2:
                        pairs[s2] = entry.name
        return pairs

    def table(self) -> pa.Table:
        base = self.root / (naming.V1_S2_DIR if "s2" in self.sensors else naming.V1_S1_DIR)
        if not base.is_dir():
            raise DataError(
                f"{self.root}: neither {naming.V1_S2_DIR}/ nor {naming.V1_S1_DIR}/ found; "
                "point to the folder that contains the extracted v1 archives"
            )
        ids = sorted(e.name for e in base.iterdir() if e.is_dir())
        split: dict[str, str] = {}
        pairs: dict[str, str] = {}  # S2 name -> S1 name
        csvs = self._split_csvs()
        for name, path in csvs.items():
            for row in _read_name_csv(path):
                split[row[0]] = name
                if len(row) > 1:
                    pairs[row[0]] = row[1]
        if "s2" not in self.sensors:
            # S1-only root: the split CSVs and snow/cloud lists name S2 patches; apply them through the pairs
            s2_of = {s1: s2 for s2, s1 in pairs.items()}
            if any(i not in s2_of for i in ids):
                s2_of.update({s1: s2 for s2, s1 in self._s1_pairs().items()})
            keys = [s2_of.get(i, i) for i in ids]
            pairs = {i: i for i in ids}
        else:
            keys = ids
            if "s1" in self.sensors and any(i not in pairs for i in ids):
                pairs.update(self._s1_pairs())
        if csvs and not any(k in split for k in keys):
            raise DataError(
                f"{self.root}: the split CSVs ({', '.join(p.name for p in csvs.values())}) name none of the "
                f"patches in {base.name}/; use the official CSVs of this archive or pass splits="
            )
        if csvs and len(csvs) < 3:
            absent = [name for name in ("train", "validation", "test") if name not in csvs]
            raise DataError(
                f"{self.root}: split CSV(s) for {absent} missing (found {sorted(p.name for p in csvs.values())}); "
                "restore train.csv, val.csv and test.csv from the official archive, or remove them all and "
                "make splits with `worldclass splits`"
            )
        snow = self._name_set(naming.V1_SNOW_CSV)
        cloud = self._name_set(naming.V1_CLOUD_CSV)
        return make_table(
            {
                "patch_id": ids,
                "s1_name": [pairs.get(i) for i in ids],
                "split": [split.get(k) for k in keys],
                "snow": [k in snow for k in keys],
                "cloud": [k in cloud for k in keys],
            }
        )

    def _name_set(self, file: str) -> set[str]:
        path = self.root / file
        return {row[0] for row in _read_name_csv(path)} if path.is_file() else set()

    def _json(self, patch_id: str) -> tuple[Path, dict[str, Any]]:
        path = naming.v1_json_path(self.root, patch_id, s1="s2" not in self.sensors)
        return path, _read_json(path)

    def read_labels43(self, patch_id: str) -> list[str]:
        path, data = self._json(patch_id)
        labels: list[str] = data["labels"]
        names43_to_19(labels, source=str(path))  # validates every name
        return labels

    def read_tile(self, patch_id: str) -> str | None:
        data = self._json(patch_id)[1]
        return naming.tile_id(str(data.get("tile_source") or data.get("scene_source") or patch_id))

    def band_path(self, patch_id: str, s1_name: str | None, band: str) -> Path:
        if BANDS[band].sensor == "s2":
            return naming.v1_band_path(self.root, patch_id, band)
        return naming.v1_s1_band_path(self.root, s1_name if s1_name is not None else patch_id, band)


def available_bands(source: Source) -> tuple[str, ...]:
    names: tuple[str, ...] = ()
    if "s2" in source.sensors:
        names += S2_NAMES
    if "s1" in source.sensors:
        names += S1_NAMES
    return names


_ENVS: dict[tuple[int, str], Any] = {}


def lmdb_open(path: Path) -> Any:
    """Read-only, lock-free LMDB environment, opened once per process and path (LMDB forbids opening the
    same environment twice in one process; keyed by pid so DataLoader workers open their own)."""
    import os

    import lmdb

    key = (os.getpid(), str(Path(path).resolve()))
    env = _ENVS.get(key)
    if env is None:
        for other in [k for k in _ENVS if k[1] == key[1]]:  # inherited through fork: release the mapping
            _ENVS.pop(other).close()
        try:
            env = lmdb.open(
                str(path), readonly=True, lock=False, readahead=False, max_readers=512, subdir=True
            )
        except lmdb.Error as exc:
            raise CorruptFileError(f"{path}: not a readable LMDB ({exc}); copy or re-create it") from None
        _check_not_truncated(Path(path), env)
        _ENVS[key] = env
    return env


def _check_not_truncated(path: Path, env: Any) -> None:
    """Refuse a ``data.mdb`` shorter than the pages its own meta page says are in use: reading such a
    file through the memory map kills the process with SIGBUS instead of raising."""
    data = path / "data.mdb"
    need = (int(env.info()["last_pgno"]) + 1) * int(env.stat()["psize"])
    size = data.stat().st_size
    if size < need:
        env.close()
        raise IncompleteStoreError(
            f"{data}: truncated ({size:,} bytes, but the LMDB uses {need:,}); the copy was cut short: copy "
            "it again (a worldclass store can also be rebuilt: delete its folder, re-run `worldclass encode`)"
        )


def lmdb_forget(path: Path) -> None:
    """Close this process's cached read-only environment of ``path`` (before writing to it)."""
    import os

    env = _ENVS.pop((os.getpid(), str(Path(path).resolve())), None)
    if env is not None:
        env.close()


class RicoSource(Source):
    """LMDB written by rico-hdl: key = patch name (S2 ``patch_id``, S1 ``s1_name``) or
    ``<patch_id>_reference_map``; value = safetensors dict {band: native array} (``Data`` for maps).
    The reBEN ``metadata.parquet`` is read from ``metadata`` (default: next to or inside the LMDB folder)."""

    kind = "rico"
    version = 2

    def __init__(self, root: Path, metadata: Path | None = None) -> None:
        super().__init__(root)
        candidates = [metadata] if metadata else [root / naming.V2_METADATA, root.parent / naming.V2_METADATA]
        found = [p for p in candidates if p is not None and p.is_file()]
        if not found:
            raise MissingFileError(
                f"{root}: rico-hdl LMDB found but no {naming.V2_METADATA} beside it; pass metadata=PATH"
            )
        self.metadata = found[0]
        self.sensors, self.has_mask = self._contents()

    def _contents(self, probe: int = 8) -> tuple[tuple[str, ...], bool]:
        """What the LMDB holds, from its keys: rico-hdl writes S1 patches and reference maps only when it
        was given their folders. Probes the first ``probe`` patches of the metadata."""
        ids = pq.read_table(self.metadata, columns=["patch_id", "s1_name"]).slice(0, probe).to_pydict()
        with lmdb_open(self.root).begin() as txn:

            def has(key: str | None) -> bool:
                return key is not None and txn.get(key.encode()) is not None

            s2 = any(has(p) for p in ids["patch_id"])
            s1 = any(has(p) for p in ids["s1_name"])
            maps = any(has(f"{p}_reference_map") for p in ids["patch_id"])
        sensors = tuple(name for name, present in (("s2", s2), ("s1", s1)) if present)
        if not sensors:
            raise DataError(
                f"{self.root}: none of the first patches of {self.metadata} is in this LMDB; give the "
                "metadata.parquet the LMDB was written from"
            )
        return sensors, maps

    def table(self) -> pa.Table:
        return (
            V2Source(self.metadata.parent).table()
            if self.metadata.name == naming.V2_METADATA
            else conform(pq.read_table(self.metadata))
        )

    def _get(self, key: str) -> Arrays:
        from safetensors.numpy import load

        with lmdb_open(self.root).begin() as txn:
            value = txn.get(key.encode())
        if value is None:
            raise MissingFileError(f"{self.root}: key {key!r} missing from the LMDB; re-run rico-hdl for it")
        return load(value)

    def read(
        self,
        patch_id: str,
        s1_name: str | None,
        bands: tuple[str, ...],
        mask: bool,
        georef: dict[str, Any] | None = None,
    ) -> Arrays:
        out: Arrays = {}
        s2 = [b for b in bands if BANDS[b].sensor == "s2"]
        s1 = [b for b in bands if BANDS[b].sensor == "s1"]
        if s2:
            d = self._get(patch_id)
            out.update({b: d[b] for b in s2})
        if s1:
            if s1_name is None:
                raise DataError(f"{patch_id}: no paired S1 patch (s1_name) in {self.metadata}")
            d = self._get(s1_name)
            out.update({b: d[b] for b in s1})
        if mask:
            out[MAP_KEY] = self._get(f"{patch_id}_reference_map")["Data"]
        return out
