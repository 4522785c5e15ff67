"""The triplet store: a SEN12MS or DFC2020 archive in one LMDB folder, read without GDAL in training.

Format (``format`` ``worldclass-triplet-store``, ``format_version`` 1)::

    OUT/data.mdb, OUT/lock.mdb     an LMDB environment (subdir layout)
    key b"p/<S2 file name>"      -> safetensors bytes {"s2": (13, 256, 256) B01..B12 incl. B8A and B10,
                                    "s1": (2, 256, 256) VV, VH, "label": (256, 256) raw label values
                                    (SEN12MS: ``lc`` band 1, IGBP; DFC2020: the ``dfc`` band)}, each in
                                    its file's own dtype (uint16 / float32 dB / the label's), bit-identical
                                    to the GeoTIFFs; the SEN12MS LCCS bands 2-4 are not kept
    key b"m/<S2 file name>"      -> JSON {"crs": WKT, "transform": [a, b, c, d, e, f]} of the S2 file
    key b"c/<S2 file name>"      -> CRC-32 of the patch value (checked the first time a process reads it)
    key b"__meta__/info"         -> JSON {format, format_version, dataset, source, complete, n_patches,
                                    checksums, missing, notes}
    key b"__meta__/table"        -> parquet (id, group, release): SEN12MS release = the official list
                                    naming the triplet (train / test / ""), DFC2020 = validation / test

Labels are stored raw, so the label scheme (``data.label_scheme``) is still chosen at training time and
values outside it are refused when read, exactly as from the files. ``data.root`` = the store folder
gives the same splits (same rule, from the table), windows and statistics as the archive root, bit for
bit (a triplet's stacked bands are float32 in both paths).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import lmdb
import numpy as np
import pyarrow as pa
from rasterio.windows import Window

from worldclass.data.bigearthnet.sources import lmdb_forget, lmdb_open
from worldclass.data.encode import Encoded, EncodeJob, EncodeResult, EncodeUnit, chunk_units
from worldclass.data.rasters import open_raster
from worldclass.data.sen12ms import (
    DFC_FOLDERS,
    S1_BANDS,
    S2_BANDS,
    SIZE,
    Triplet,
    archive_kind,
    check_patch_file,
    dfc2020_triplets,
    sen12ms_listed,
    sen12ms_triplets,
)
from worldclass.data.store import (
    CHECKSUM,
    INFO_KEY,
    TABLE_KEY,
    crc_bytes,
    crc_key,
    lmdb_format,
    meta_key,
    patch_key,
    safetensors_views,
    table_from_bytes,
    table_to_bytes,
)
from worldclass.errors import (
    ConfigError,
    CorruptFileError,
    DataError,
    IncompleteStoreError,
    MissingFileError,
)
from worldclass.io import write_text_atomic

FORMAT = "worldclass-triplet-store"
FORMAT_VERSION = 1
#: What each stored tensor holds: (band count or None for 2-D, what the file is called in messages).
TENSORS = {"s2": (len(S2_BANDS), "S2"), "s1": (len(S1_BANDS), "S1"), "label": (None, "label")}


def is_triplet_store(path: Path | str) -> bool:
    """True if ``path`` is an LMDB folder written by :class:`TripletEncodeJob` (complete or not)."""
    return lmdb_format(path) == FORMAT


def _read_file(path: Path, count: int | None, what: str) -> tuple[np.ndarray, Any, Any]:
    """Pixels of one file of a triplet (all ``count`` bands, or band 1 when ``count`` is None), checked
    for band count and the 256 x 256 grid; with its CRS and transform."""
    with open_raster(path) as src:
        check_patch_file(src, path, count, what)
        return (src.read() if count is not None else src.read(1)), src.crs, src.transform


def encode_triplet(t: Triplet) -> tuple[bytes, bytes]:
    """(safetensors bytes of s2, s1 and the raw label, JSON bytes of the S2 file's CRS and transform)."""
    from safetensors.numpy import save

    s2, crs, transform = _read_file(t.s2, len(S2_BANDS), "S2")
    s1, _, _ = _read_file(t.s1, len(S1_BANDS), "S1")
    label, _, _ = _read_file(t.label, None, "label")
    value = save({"s2": s2, "s1": s1, "label": label})
    meta = {"crs": crs.to_wkt() if crs is not None else None, "transform": list(transform)[:6]}
    return value, json.dumps(meta).encode()


def _encode_rows(rows: Sequence[tuple[str, ...]]) -> list[Encoded]:
    out: list[Encoded] = []
    for pid, s2, s1, label, group, release in rows:
        t = Triplet(pid, Path(s2), Path(s1), Path(label), group, release)
        try:
            out.append((pid, encode_triplet(t), None))
        except DataError as exc:
            out.append((pid, None, str(exc)))
    return out


def verify_triplet_value(value: memoryview | bytes) -> str | None:
    """The problem of a stored triplet (missing tensor, wrong shape), or None when it decodes soundly."""
    from safetensors import SafetensorError

    try:
        arrays = safetensors_views(value)
    except (SafetensorError, ValueError, KeyError, TypeError) as exc:
        return f"stored value is corrupt ({exc})"
    for name, (count, _) in TENSORS.items():
        a = arrays.get(name)
        want = (SIZE, SIZE) if count is None else (count, SIZE, SIZE)
        if a is None or a.shape != want:
            return f"stored {name} is {None if a is None else a.shape}, expected {want}"
    return None


class TripletEncodeJob(EncodeJob):
    """SEN12MS / DFC2020 root -> triplet store, as units for an executor (the protocol and settings of
    :class:`worldclass.data.encode.EncodeJob`: resumable, one writer, verified before it is complete)."""

    notes: list[str]

    def _triplets(self) -> tuple[str, list[Triplet]]:
        root = Path(self.root)
        kind = archive_kind(root)
        self.notes = []
        if kind == "sen12ms":
            found, self.notes = sen12ms_triplets(root)
            return kind, sen12ms_listed(root, found)
        if kind == "dfc2020":
            releases = [
                r for r, (folder, token) in DFC_FOLDERS.items() if (root / folder / f"s2_{token}").is_dir()
            ]
            return kind, dfc2020_triplets(root, releases)
        raise MissingFileError(
            f"{root}: neither a SEN12MS root (ROIs1158_spring/ ...) nor a DFC2020 root (ROIs0000_validation/)"
        )

    def prepare(self) -> list[EncodeUnit]:
        """Check the source and an existing store, write the store's info, return the units to run."""
        dataset, triplets = self._triplets()
        self.table = pa.table(
            {
                "id": [t.id for t in triplets],
                "group": [t.group for t in triplets],
                "release": [t.release for t in triplets],
            }
        )
        self.info: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "dataset": dataset,
            "source": str(Path(self.root).resolve()),
            "complete": False,
            "n_patches": len(triplets),
            "checksums": CHECKSUM,
            "notes": self.notes,
        }
        self.out.mkdir(parents=True, exist_ok=True)
        lmdb_forget(self.out)
        self._env = lmdb.open(str(self.out), map_size=self.map_size, subdir=True, max_dbs=0, sync=False)
        with self._env.begin(write=True) as txn:
            old = txn.get(INFO_KEY)
            if old is not None:
                prev = json.loads(old)
                if (prev.get("format"), prev.get("source")) != (FORMAT, self.info["source"]):
                    raise ConfigError(
                        f"{self.out}: holds (part of) another store ({prev.get('format')} of "
                        f"{prev.get('source')}); resume it from that archive or choose an empty folder"
                    )
            txn.put(INFO_KEY, json.dumps(self.info).encode())
            done = {t.id for t in triplets if txn.get(patch_key(t.id)) is not None}
        todo = [
            (t.id, str(t.s2), str(t.s1), str(t.label), t.group, t.release)
            for t in triplets
            if t.id not in done
        ]
        self.result = EncodeResult(store=self.out, total=len(triplets), encoded=0, skipped=len(done))
        self._units = chunk_units(todo, len(done), self.chunk)
        return [u for u in self._units if u.rows]

    def run_unit(self, unit: EncodeUnit) -> list[Encoded]:
        """Read and serialise one chunk (no writes)."""
        return _encode_rows(unit.rows)  # type: ignore[arg-type]

    def record(self, unit: EncodeUnit, result: list[Encoded]) -> None:
        """Driver only: write one finished chunk in one transaction (the patch key last)."""
        with self._env.begin(write=True) as txn:
            for pid, value, err in result:
                if value is None:
                    self.result.problems[pid] = err or "unknown error"
                    continue
                txn.put(meta_key(pid), value[1])
                txn.put(crc_key(pid), crc_bytes(value[0]))
                txn.put(patch_key(pid), value[0])
                self.result.encoded += 1

    def finalize(self) -> EncodeResult:
        """Verify every patch (present, checksum, decodable), write the table, mark the store complete."""
        ids = self.table.column("id").to_pylist()
        problems = self.result.problems
        with self._env.begin(buffers=True) as txn:
            for pid in ids:
                value = txn.get(patch_key(pid))
                if value is None:
                    problems.setdefault(pid, "not encoded")
                elif bytes(txn.get(crc_key(pid)) or b"") != crc_bytes(value):
                    problems[pid] = "stored value fails its checksum (damaged on disk)"
                elif (problem := verify_triplet_value(value)) is not None:
                    problems[pid] = problem
        if problems and not self.allow_missing:
            with self._env.begin(write=True) as txn:
                for pid in problems:  # re-encoded by the next run
                    txn.delete(patch_key(pid))
            listing = self.out / "encode-problems.txt"
            write_text_atomic(listing, "".join(f"{k}\t{v}\n" for k, v in sorted(problems.items())))
            first = min(problems)
            raise IncompleteStoreError(
                f"{self.out}: {len(problems)} triplet(s) could not be encoded (first: {first}: "
                f"{problems[first]}); full list in {listing}; fix them and re-run to resume, or pass "
                "--allow-missing"
            )
        keep = [i for i, pid in enumerate(ids) if pid not in problems]
        table = self.table.take(pa.array(keep, type=pa.int64()))
        self.info.update(complete=True, n_patches=len(keep), missing=sorted(problems))
        with self._env.begin(write=True) as txn:
            txn.put(TABLE_KEY, table_to_bytes(table))
            txn.put(INFO_KEY, json.dumps(self.info).encode())
        self._env.sync(True)
        self.result.complete = True
        return self.result


def store_info(root: Path) -> dict[str, Any]:
    """The info of a complete triplet store (:class:`IncompleteStoreError` while it is not)."""
    with lmdb_open(root).begin() as txn:
        raw = txn.get(INFO_KEY)
    info: dict[str, Any] = json.loads(raw) if raw is not None else {}
    if info.get("format") != FORMAT:
        raise DataError(f"{root}: not a triplet store; create it with `worldclass encode ARCHIVE {root}`")
    if not info.get("complete"):
        raise IncompleteStoreError(
            f"{root}: the store is incomplete; re-run `worldclass encode {info.get('source', 'ARCHIVE')} {root}`"
        )
    return info


@lru_cache(maxsize=8)
def _table(root: Path, mtime: float) -> list[tuple[str, str, str]]:
    with lmdb_open(root).begin() as txn:
        raw = txn.get(TABLE_KEY)
    if raw is None:
        raise CorruptFileError(f"{root}: the store has no patch table; re-encode it")
    t = table_from_bytes(raw)
    return list(zip(*(t.column(c).to_pylist() for c in ("id", "group", "release")), strict=True))


def stored_triplets(root: Path, dataset: str) -> list[Triplet]:
    """The triplets of a complete store of ``dataset`` (``s2``/``s1``/``label`` all name ``root/<id>``)."""
    info = store_info(root)
    if info["dataset"] != dataset:
        raise ConfigError(
            f"{root}: a {info['dataset']} store; set data.dataset={info['dataset']} (or point data.root "
            f"at a {dataset} archive or store)"
        )
    rows = _table(root.resolve(), (root / "data.mdb").stat().st_mtime)
    return [Triplet(pid, root / pid, root / pid, root / pid, group, release) for pid, group, release in rows]


_VERIFIED: set[tuple[int, str, str]] = set()


class StoredPatch:
    """A triplet of a store as a :class:`worldclass.data.scenes.PatchSource`: the named ``bands`` stacked
    as float32 (C, h, w) in that order (as the Float32 VRT of the file path), the raw label."""

    dtype = "float32"
    height = width = SIZE

    def __init__(self, root: Path, patch_id: str, bands: Sequence[str]) -> None:
        self.root, self.id = Path(root), patch_id
        self.descriptions = tuple(bands)
        self.count = len(self.descriptions)
        self._where = [
            ("s2", S2_BANDS.index(b)) if b in S2_BANDS else ("s1", S1_BANDS.index(b)) for b in bands
        ]

    def _read(self, fill: Any) -> Any:
        key = (os.getpid(), str(self.root), self.id)
        with lmdb_open(self.root).begin(buffers=True) as txn:
            value = txn.get(patch_key(self.id))
            if value is None:
                raise MissingFileError(f"{self.root}: no triplet {self.id}; re-run `worldclass encode`")
            if key not in _VERIFIED:
                if bytes(txn.get(crc_key(self.id)) or b"") != crc_bytes(value):
                    raise CorruptFileError(
                        f"{self.root}: triplet {self.id} fails its checksum (the store file is damaged); "
                        "encode the archive into a new store"
                    )
                _VERIFIED.add(key)
            return fill(safetensors_views(value))

    def read(self, bands: Sequence[int] | None, window: Window) -> np.ndarray:
        """Bands (1-based into ``descriptions``, default all) of ``window``: float32 (C, h, w)."""
        (r0, r1), (c0, c1) = window.toranges()
        idx = [i - 1 for i in bands] if bands else list(range(self.count))

        def fill(arrays: dict[str, np.ndarray]) -> np.ndarray:
            out = np.empty((len(idx), r1 - r0, c1 - c0), np.float32)
            for k, i in enumerate(idx):
                name, band = self._where[i]
                out[k] = arrays[name][band, r0:r1, c0:c1]
            return out

        return self._read(fill)  # type: ignore[no-any-return]

    def read_label(self, window: Window) -> np.ndarray:
        (r0, r1), (c0, c1) = window.toranges()
        return self._read(lambda a: np.array(a["label"][r0:r1, c0:c1]))  # type: ignore[no-any-return]

    def georef(self) -> dict[str, Any]:
        """``crs`` (WKT or None) and ``transform`` (6 affine coefficients) of the S2 file."""
        with lmdb_open(self.root).begin() as txn:
            raw = txn.get(meta_key(self.id))
        found: dict[str, Any] = json.loads(raw) if raw is not None else {"crs": None, "transform": None}
        return found
