"""``worldclass encode``: official BigEarthNet tree (v1 or v2) -> worldclass store (see :mod:`.store`).

Parallel (worker processes or Ray actors read and serialise chunks of patches, the driver alone writes),
bounded memory (a few chunks in flight), resumable (patches already in the store are skipped), verified
(every patch of the metadata table must be present and decodable before the store is marked complete).
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import lmdb
import numpy as np
import pyarrow as pa

from worldclass.data.bigearthnet.sources import MAP_KEY, Source, available_bands, lmdb_forget
from worldclass.data.nomenclature import codes_to_names43, names43_to_19
from worldclass.data.open import open_source
from worldclass.data.sensors import BANDS, PATCH_SIZE
from worldclass.data.store import (
    CHECKSUM,
    FORMAT,
    FORMAT_VERSION,
    INFO_KEY,
    TABLE_KEY,
    crc_bytes,
    crc_key,
    meta_key,
    patch_key,
    table_to_bytes,
)
from worldclass.data.workers import process_pool
from worldclass.errors import ConfigError, DataError, IncompleteStoreError, OutputError
from worldclass.io import write_text_atomic

CHUNK = 32
DEFAULT_MAP_SIZE = 1 << 40  # 1 TiB of address space; the file grows only as needed


@dataclass
class EncodeResult:
    """Outcome of one encode run: counts and the names of patches that could not be encoded."""

    store: Path
    total: int
    encoded: int
    skipped: int
    problems: dict[str, str] = field(default_factory=dict)
    complete: bool = False


def encode_patch(source: Source, patch_id: str, s1_name: str | None) -> tuple[bytes, bytes]:
    """Serialise one patch: (safetensors bytes of all bands of the source + reference map, JSON bytes of
    its metadata: labels43, tile, patch centre x/y in m, crs)."""
    from safetensors.numpy import save

    bands = available_bands(source)
    geo: dict[str, Any] = {}
    arrays = source.read(patch_id, s1_name, bands, source.has_mask, georef=geo)
    meta: dict[str, str] = {"patch_id": patch_id}
    if source.version == 1:
        labels43 = source.read_labels43(patch_id) or []
    else:
        labels43 = codes_to_names43(np.flatnonzero(np.bincount(arrays[MAP_KEY].ravel(), minlength=1000)))
    meta["labels43"] = json.dumps(labels43)
    tile = source.read_tile(patch_id)
    if tile:
        meta["tile"] = tile
    meta.update({k: str(v) for k, v in geo.items() if v is not None})
    value = save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    return value, json.dumps(meta).encode()


Encoded = tuple[str, tuple[bytes, bytes] | None, str | None]
Progress = Callable[[int, int], None]


def _encode_chunk(root: str, rows: list[tuple[str, str | None]]) -> list[Encoded]:
    source = open_source(Path(root))
    out: list[Encoded] = []
    for patch_id, s1_name in rows:
        try:
            out.append((patch_id, encode_patch(source, patch_id, s1_name), None))
        except DataError as exc:
            out.append((patch_id, None, str(exc)))
    return out


@dataclass(frozen=True)
class EncodeUnit:
    """One row of encode's work manifest: patches ``lo:hi`` of this run's count, ``rows`` = (patch id, S1
    name) still to encode. The store itself records what is done (a patch key is written last)."""

    id: str
    lo: int
    hi: int
    rows: tuple[tuple[str, str | None], ...]


def chunk_units(todo: Sequence[tuple[Any, ...]], done: int, chunk: int) -> list[EncodeUnit]:
    """The work manifest of an encode run: the ``done`` patches already stored as one finished unit,
    then ``todo`` rows in units of ``chunk``."""
    units = [EncodeUnit("done", 0, done, ())] if done else []
    for n, k in enumerate(range(0, len(todo), chunk)):
        rows = tuple(todo[k : k + chunk])
        units.append(EncodeUnit(f"chunk-{n:06d}", done + k, done + k + len(rows), rows))
    return units


class StoreJob:
    """Shared part of the store writers run as units by an executor (``worldclass.training.executors``):
    LMDB errors become one line (:class:`OutputError`), the store is closed on exit, and the local
    executor (``run_local``: reader processes, a few units in flight, the driver alone writes). Subclasses
    set ``out``, ``map_size``, ``result`` (:class:`EncodeResult`), ``_env`` and ``_units`` in ``prepare``,
    and define ``run_unit`` (read + serialise, no writes) and ``record`` (driver: one transaction)."""

    out: Path
    map_size: int
    result: EncodeResult
    _env: Any
    _units: list[Any]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        env, self._env = self._env, None
        if env is not None:
            env.close()
        if isinstance(exc, lmdb.MapFullError):
            raise OutputError(
                f"{self.out}: the store outgrew its map size ({self.map_size:,} bytes); re-run with a larger "
                "map_size (encoded patches are kept)"
            ) from None
        if isinstance(exc, lmdb.Error):  # a failed write: full disk (LMDB reports EIO or ENOSPC), quota
            free = shutil.disk_usage(self.out).free
            raise OutputError(
                f"{self.out}: cannot write the store ({exc}; {free:,} bytes free on its disk); free space or "
                "choose another location, then re-run the same command: the patches encoded so far are kept"
            ) from None

    def units(self) -> list[Any]:
        """Every unit of this run (the patches already in the store as one finished unit)."""
        return self._units

    def run_unit(self, unit: Any) -> list[Encoded]:
        raise NotImplementedError

    def record(self, unit: Any, result: list[Encoded]) -> None:
        raise NotImplementedError

    def run_local(self, todo: list[Any], workers: int, progress: Progress | None = None) -> None:
        """The local executor: ``workers`` reader processes (0 = this process), a few units in flight."""
        if workers < 0:
            raise ConfigError(f"--workers {workers}: use 0 (this process) or a positive number of processes")
        total = self.result.total

        def record(unit: Any, result: list[Encoded]) -> None:
            self.record(unit, result)
            if progress:
                progress(self.result.skipped + self.result.encoded + len(self.result.problems), total)

        if progress:
            progress(self.result.skipped, total)
        if workers <= 0:
            for unit in todo:
                record(unit, self.run_unit(unit))
            return
        with process_pool(workers) as pool:
            pending: dict[Future[list[Encoded]], Any] = {}
            for unit in todo:
                pending[pool.submit(self.run_unit, unit)] = unit  # the job travels by __getstate__
                if len(pending) >= 4 * workers:  # bounded memory: a few units in flight
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        record(pending.pop(f), f.result())
            for f, unit in pending.items():
                record(unit, f.result())


class EncodeJob(StoreJob):
    """Official v1/v2 root -> store, as units for an executor.

    ``prepare()`` opens (or resumes) the store and returns the chunks still to encode; ``run_unit``
    reads and serialises one chunk (any process or Ray actor; nothing is written there); ``record``, on
    the driver only, writes the chunk to LMDB (one writer, so the store does not depend on the
    executor); ``finalize()`` verifies every patch and marks the store complete. Use as a context manager.
    """

    def __init__(
        self,
        source_root: Path | str,
        out: Path | str,
        *,
        allow_missing: bool = False,
        map_size: int = DEFAULT_MAP_SIZE,
        chunk: int = CHUNK,
    ) -> None:
        if chunk < 1:
            raise ConfigError(f"--chunk {chunk}: use 1 or more patches per unit")
        self.root = str(Path(source_root))
        self.out = Path(out)
        self.allow_missing = allow_missing
        self.map_size = map_size
        self.chunk = chunk
        self._env: Any = None
        self._units: list[EncodeUnit] = []

    def __getstate__(self) -> dict[str, Any]:  # to executor processes: the settings, no store or table
        keep = ("root", "out", "allow_missing", "map_size", "chunk")
        return {**{k: self.__dict__[k] for k in keep}, "_env": None, "_units": []}

    def prepare(self) -> list[EncodeUnit]:
        """Check the source and an existing store, write the store's info, return the units to run."""
        source = open_source(Path(self.root))
        if source.kind not in ("v1", "v2"):
            raise ConfigError(
                f"{self.root}: encode reads official v1/v2 roots; this is a {source.kind} source"
            )
        self.table = source.table()
        ids: list[str] = self.table.column("patch_id").to_pylist()
        s1s: list[str | None] = self.table.column("s1_name").to_pylist()
        if len(set(ids)) != len(ids):
            raise DataError(f"{self.root}: duplicate patch ids in the metadata; fix the split/metadata files")
        self.info = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "source_version": source.version,
            "source_kind": source.kind,
            "source": str(Path(self.root).resolve()),
            "bands": list(available_bands(source)),
            "has_mask": source.has_mask,
            "complete": False,
            "n_patches": len(ids),
            "checksums": CHECKSUM,
        }
        self.out.mkdir(parents=True, exist_ok=True)
        lmdb_forget(self.out)
        # sync=False during the bulk load: LMDB stays consistent, a crash can only lose the last
        # transactions, which a resumed run re-encodes; finalize syncs before the store is marked complete.
        self._env = lmdb.open(str(self.out), map_size=self.map_size, subdir=True, max_dbs=0, sync=False)
        with self._env.begin(write=True) as txn:
            old = txn.get(INFO_KEY)
            if old is not None:
                self._check_existing(json.loads(old))
            txn.put(INFO_KEY, json.dumps(self.info).encode())
            done = {i for i in ids if txn.get(patch_key(i)) is not None}
        todo = [(i, s) for i, s in zip(ids, s1s, strict=True) if i not in done]
        self.result = EncodeResult(store=self.out, total=len(ids), encoded=0, skipped=len(done))
        self._units = chunk_units(todo, len(done), self.chunk)
        return [u for u in self._units if u.rows]

    def _check_existing(self, prev: dict[str, Any]) -> None:
        if prev.get("format_version") != FORMAT_VERSION:
            raise ConfigError(
                f"{self.out}: holds a store of format {prev.get('format_version')} (this worldclass writes "
                f"{FORMAT_VERSION}); it stays readable, encode into a new folder"
            )
        if prev.get("source") not in (None, self.info["source"]):
            raise ConfigError(
                f"{self.out}: holds (part of) a store of {prev['source']}; resume it from that archive or "
                "choose an empty folder (one store never mixes two archives)"
            )
        if (
            prev.get("bands") != self.info["bands"]
            or prev.get("source_version") != self.info["source_version"]
        ):
            raise ConfigError(
                f"{self.out}: holds a store of another source (v{prev.get('source_version')}, "
                f"bands {prev.get('bands')}); choose an empty folder"
            )

    def run_unit(self, unit: EncodeUnit) -> list[Encoded]:
        """Read and serialise one chunk (no writes): (patch id, (value, metadata) or None, problem)."""
        return _encode_chunk(self.root, list(unit.rows))

    def record(self, unit: EncodeUnit, result: list[Encoded]) -> None:
        """Driver only: write one finished chunk in one transaction (metadata first, the patch key last)."""
        with self._env.begin(write=True) as txn:
            for pid, value, err in result:
                if value is not None:
                    txn.put(meta_key(pid), value[1])
                    txn.put(crc_key(pid), crc_bytes(value[0]))
                    txn.put(patch_key(pid), value[0])
                    self.result.encoded += 1
                else:
                    self.result.problems[pid] = err or "unknown error"

    def finalize(self) -> EncodeResult:
        """Verify every patch against the table, write the table and mark the store complete."""
        _finalize(self._env, self.table, self.info, self.result, self.allow_missing)
        return self.result


def encode(
    source_root: Path | str,
    out: Path | str,
    *,
    workers: int = 0,
    allow_missing: bool = False,
    map_size: int = DEFAULT_MAP_SIZE,
    progress: Progress | None = None,
) -> EncodeResult:
    """Encode an official v1/v2 root into a store at ``out``; resumes an interrupted store.

    ``workers`` = 0 runs in this process. ``progress(done, total)`` is called after each chunk.
    Raises :class:`IncompleteStoreError` listing problem patches unless ``allow_missing``.
    """
    with EncodeJob(source_root, out, allow_missing=allow_missing, map_size=map_size) as job:
        job.run_local(job.prepare(), workers, progress)
        return job.finalize()


def verify_value(value: memoryview | bytes, bands: set[str]) -> str | None:
    """Decode a stored patch completely: every tensor parsed (offsets, lengths), every expected band
    present with its native shape and dtype (``sensors.BANDS``; the reference map 120 x 120 uint16).
    Returns the problem, or None when the value is sound."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        arrays = load(bytes(value))
    except (SafetensorError, ValueError, struct.error, OverflowError) as exc:
        return f"stored value is corrupt ({exc})"
    missing = sorted(bands - set(arrays))
    if missing:
        return f"stored bands incomplete: {missing} missing"
    for name in sorted(bands):
        a = arrays[name]
        size, dtype = (PATCH_SIZE, "uint16") if name == MAP_KEY else (BANDS[name].size, BANDS[name].dtype)
        if a.shape != (size, size):
            return f"stored {name} is {a.shape}, expected {(size, size)}"
        if a.dtype != np.dtype(dtype):
            return f"stored {name} has dtype {a.dtype}, expected {dtype}"
    return None


def _finalize(
    env: Any, table: pa.Table, info: dict[str, Any], result: EncodeResult, allow_missing: bool
) -> None:
    """Verify every patch against the table, then write the table and mark the store complete."""
    ids = table.column("patch_id").to_pylist()
    bands = set(info["bands"]) | ({MAP_KEY} if info["has_mask"] else set())
    meta: dict[str, dict[str, str]] = {}
    unsummed: list[str] = []
    with env.begin(buffers=True) as txn:
        for pid in ids:
            value = txn.get(patch_key(pid))
            if value is None:
                result.problems.setdefault(pid, "not encoded")
                continue
            raw = txn.get(meta_key(pid))
            try:
                m = json.loads(bytes(raw)) if raw is not None else None
            except ValueError:
                m = None
            problem = verify_value(value, bands)
            stored_crc = txn.get(crc_key(pid))
            if problem is None and stored_crc is None:  # written by a worldclass without checksums
                unsummed.append(pid)
            elif problem is None and bytes(stored_crc) != crc_bytes(value):
                problem = "stored value fails its checksum (damaged on disk)"
            if problem:
                result.problems[pid] = problem
            elif m is None:
                result.problems[pid] = "stored metadata missing or corrupt"
            else:
                meta[pid] = m
    if result.problems and not allow_missing:
        info["missing"] = sorted(result.problems)
        with env.begin(write=True) as txn:
            txn.put(INFO_KEY, json.dumps(info).encode())
            for pid in result.problems:  # a stored value that failed verification is re-encoded next run
                txn.delete(patch_key(pid))
        write_text_atomic(
            Path(env.path()) / "encode-problems.txt",
            "".join(f"{k}\t{v}\n" for k, v in sorted(result.problems.items())),
        )
        raise IncompleteStoreError(
            f"{env.path()}: {len(result.problems)} patch(es) could not be encoded "
            f"(first: {next(iter(sorted(result.problems)))}: {result.problems[min(result.problems)]}); "
            f"full list in {Path(env.path()) / 'encode-problems.txt'}; fix them and re-run to resume, "
            "or pass --allow-missing"
        )
    keep = [i for i, pid in enumerate(ids) if pid in meta]
    table = table.take(pa.array(keep, type=pa.int64()))
    kept_ids = table.column("patch_id").to_pylist()
    labels43 = [json.loads(meta[p].get("labels43", "[]")) for p in kept_ids]
    cols = {name: table.column(name) for name in table.column_names}
    cols["labels43"] = pa.array(labels43, type=pa.list_(pa.string()))
    if info["source_version"] == 1:
        cols["labels"] = pa.array([names43_to_19(x) for x in labels43], type=pa.list_(pa.string()))
    for key in ("x", "y"):
        cols[key] = pa.array(
            [float(meta[p][key]) if key in meta[p] else None for p in kept_ids], pa.float64()
        )
    cols["crs"] = pa.array([meta[p].get("crs") for p in kept_ids], pa.string())
    cols["tile"] = pa.array([meta[p].get("tile") for p in kept_ids], pa.string())
    final = pa.table(cols, schema=table.schema)
    info.update(complete=True, n_patches=len(kept_ids), missing=sorted(result.problems))
    with env.begin(write=True) as txn:
        for pid in unsummed:
            txn.put(crc_key(pid), crc_bytes(txn.get(patch_key(pid))))
        txn.put(TABLE_KEY, table_to_bytes(final))
        txn.put(INFO_KEY, json.dumps(info).encode())
    env.sync(True)
    result.complete = True
