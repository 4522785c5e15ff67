"""The worldclass store: one LMDB environment folder holding every patch and its metadata table.

Format (``format_version`` 2)::

    OUT/data.mdb, OUT/lock.mdb        an LMDB environment (subdir layout)
    key  b"p/<patch_id>"            -> safetensors bytes: {band name: native array, ...,
                                       "reference_map": uint16 raw CLC codes (v2 only)}
                                       S2 uint16 at 120/60/20 px, S1 float32 dB at 120 px (bit-identical
                                       to the GeoTIFFs; no resampling, no normalisation). No per-patch
                                       header metadata, so every patch of a store has the same header
                                       and its layout is parsed once per process.
    key  b"m/<patch_id>"            -> JSON: labels43, tile, x, y (patch centre, m), crs
    key  b"c/<patch_id>"            -> CRC-32 of the patch value, 4 bytes little-endian (stores written
                                       with ``info.checksums == "crc32"``; checked the first time a
                                       process reads the patch, and for all patches by `worldclass verify`)
    key  b"__meta__/info"           -> JSON: format, format_version, source_version (1|2), source_kind,
                                       bands, has_mask, complete (bool), n_patches, missing (names)
    key  b"__meta__/table"          -> parquet bytes of the patch table (worldclass.data.bigearthnet.table)

A store is usable only when ``info.complete`` is true; it is set in the very last transaction of
``worldclass encode`` after verification, so an interrupted run never looks complete and re-running
resumes (patches already present are skipped). One LMDB read returns all bands of a patch.
Format 1 (metadata inside each safetensors header) is still read, with one header parse per patch.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from worldclass.data.bigearthnet.sources import MAP_KEY, Arrays, Source, lmdb_open
from worldclass.data.kernels import KIND_F32, KIND_U16
from worldclass.data.native import NativeBatch
from worldclass.data.sensors import BANDS, S1_NAMES, S2_NAMES
from worldclass.errors import CorruptFileError, DataError, IncompleteStoreError, MissingFileError

FORMAT = "worldclass-store"
FORMAT_VERSION = 2
INFO_KEY = b"__meta__/info"
TABLE_KEY = b"__meta__/table"
PATCH_PREFIX = b"p/"
META_PREFIX = b"m/"
CRC_PREFIX = b"c/"
CHECKSUM = "crc32"
_DTYPES = {
    "U16": np.uint16,
    "F32": np.float32,
    "U8": np.uint8,
    "I16": np.int16,
    "F64": np.float64,
    "I32": np.int32,
}
T = TypeVar("T")


def safetensors_header(value: memoryview | bytes) -> dict[str, Any]:
    """The JSON header of a safetensors buffer: {name: {dtype, shape, data_offsets}, "__metadata__": {...}}."""
    (n,) = struct.unpack_from("<Q", value, 0)
    result: dict[str, Any] = json.loads(bytes(value[8 : 8 + n]))
    return result


def safetensors_views(value: memoryview | bytes) -> dict[str, Any]:
    """Zero-copy numpy views of every tensor in a safetensors buffer (valid while ``value`` is).

    Format: 8-byte little-endian header length n, n bytes of JSON {name: {dtype, shape, data_offsets}},
    then the raw little-endian data. Equivalent to ``safetensors.numpy.load`` without copying.
    """
    head = safetensors_header(value)
    base = 8 + struct.unpack_from("<Q", value, 0)[0]
    out: dict[str, Any] = {}
    for name, spec in head.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        dtype = np.dtype(_DTYPES[spec["dtype"]]).newbyteorder("<")
        out[name] = np.frombuffer(
            value, dtype=dtype, count=(end - start) // dtype.itemsize, offset=base + start
        ).reshape(spec["shape"])
    return out


def patch_key(patch_id: str) -> bytes:
    return PATCH_PREFIX + patch_id.encode()


def meta_key(patch_id: str) -> bytes:
    return META_PREFIX + patch_id.encode()


def crc_key(patch_id: str) -> bytes:
    return CRC_PREFIX + patch_id.encode()


def crc_bytes(value: memoryview | bytes) -> bytes:
    """The stored checksum of a patch value: CRC-32, 4 bytes little-endian."""
    return struct.pack("<I", zlib.crc32(value))


def crc_matches(txn: Any, patch_id: str, value: memoryview | bytes) -> bool:
    """Whether ``value`` equals the CRC-32 stored for ``patch_id`` in ``txn`` (False when none is stored)."""
    return bool(txn.get(crc_key(patch_id)) == crc_bytes(value))


def damaged(root: Path, patch_id: str) -> CorruptFileError:
    return CorruptFileError(
        f"{root}: patch {patch_id} fails its checksum (the store file is damaged); run "
        f"`worldclass verify {root} --repair`, then `worldclass encode SOURCE {root}` re-encodes it"
    )


@dataclass(frozen=True)
class _Layout:
    """Byte offsets (from the value start) and kinds of the requested bands in one safetensors header."""

    offsets: npt.NDArray[np.int64]
    kinds: npt.NDArray[np.int64]
    mask_offset: int
    size: int  # bytes the value must hold


_KIND = {"U16": KIND_U16, "F32": KIND_F32}


@lru_cache(maxsize=64)
def _layout(header: bytes, bands: tuple[str, ...], mask: bool) -> _Layout:
    spec = json.loads(header)
    base = 8 + len(header)
    offsets, kinds, end = [], [], base
    for name in (*bands, MAP_KEY) if mask else bands:
        t = spec.get(name)
        if t is None:
            stored = sorted(k for k in spec if k != "__metadata__")
            raise DataError(f"store has no {name!r} (stored: {stored}); re-encode the store with it")
        size = 120 if name == MAP_KEY else BANDS[name].size
        kind = _KIND.get(t["dtype"])
        if kind is None or list(t["shape"]) != [size, size] or (name == MAP_KEY and kind != KIND_U16):
            raise DataError(f"store value {name!r} is {t['dtype']} {t['shape']}; re-encode the store")
        start, stop = t["data_offsets"]
        if stop - start != size * size * (2 if kind == KIND_U16 else 4):
            raise DataError(f"store value {name!r} has a corrupt header; re-encode the store")
        offsets.append(base + start)
        kinds.append(kind)
        end = max(end, base + stop)
    mask_offset = offsets.pop() if mask else -1
    if mask:
        kinds.pop()
    return _Layout(np.array(offsets, np.int64), np.array(kinds, np.int64), mask_offset, end)


def table_to_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def table_from_bytes(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def lmdb_format(path: Path | str) -> str | None:
    """The ``format`` named in a worldclass LMDB folder's info (store, triplet store, compressed archive;
    stores written before the key had one: :data:`FORMAT`), None for anything else."""
    path = Path(path)
    if not (path / "data.mdb").is_file():
        return None
    with lmdb_open(path).begin() as txn:
        raw = txn.get(INFO_KEY)
    return None if raw is None else str(json.loads(raw).get("format", FORMAT))


def is_store(path: Path) -> bool:
    """True if ``path`` is an LMDB folder of BigEarthNet patches written by worldclass (complete or not;
    a SEN12MS/DFC2020 triplet store is not one)."""
    return lmdb_format(path) == FORMAT


def read_info(path: Path) -> dict[str, Any]:
    with lmdb_open(path).begin() as txn:
        raw = txn.get(INFO_KEY)
    if raw is None:
        raise DataError(f"{path}: not a worldclass store (no {INFO_KEY.decode()} key)")
    info: dict[str, Any] = json.loads(raw)
    return info


class StoreSource(Source):
    """Reads a complete worldclass store. Thread/process-safe: each process opens its own environment."""

    kind = "store"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        if not (self.root / "data.mdb").is_file():
            raise MissingFileError(
                f"{root}: no data.mdb; create the store with `worldclass encode SOURCE {root}`"
            )
        self.info = read_info(self.root)
        if self.info.get("format", FORMAT) != FORMAT:
            raise DataError(
                f"{root}: a {self.info['format']} folder, not a BigEarthNet store; use the command made for it "
                "(triplet stores: data.root of sen12ms/dfc2020 runs; compressed archives: search, "
                "retrieval-eval, decompress)"
            )
        if int(self.info.get("format_version", 0)) > FORMAT_VERSION:
            raise DataError(
                f"{root}: unsupported store format {self.info.get('format_version')}; upgrade worldclass"
            )
        if not self.info.get("complete"):
            raise IncompleteStoreError(
                f"{root}: store is incomplete (interrupted or failed verification); "
                f"re-run `worldclass encode SOURCE {root}` to resume"
            )
        self.version = int(self.info["source_version"])
        self.has_mask = bool(self.info["has_mask"])
        stored = set(self.info["bands"])
        self.sensors = tuple(
            s for s, names in (("s2", S2_NAMES), ("s1", S1_NAMES)) if stored.issuperset(names)
        )
        self._env: Any = None
        self._pid = -1
        self.checksums = self.info.get("checksums") == CHECKSUM
        self._verified: set[str] = set()  # patches this process has checked against their CRC

    def __getstate__(self) -> dict[str, Any]:  # the LMDB handle never travels to worker processes
        return {**self.__dict__, "_env": None, "_pid": -1, "_verified": set()}

    def _check(self, txn: Any, patch_id: str, value: memoryview) -> None:
        """Compare ``value`` with its stored CRC once per process and patch (~0.2 ms for 12 bands)."""
        if not self.checksums or patch_id in self._verified:
            return
        if not crc_matches(txn, patch_id, value):
            raise damaged(self.root, patch_id)
        self._verified.add(patch_id)

    def env(self) -> Any:
        """This process's read-only environment (reopened after fork, e.g. in DataLoader workers)."""
        if self._pid != os.getpid():
            self._env, self._pid = lmdb_open(self.root), os.getpid()
        return self._env

    def table(self) -> pa.Table:
        with lmdb_open(self.root).begin() as txn:
            raw = txn.get(TABLE_KEY)
        if raw is None:
            raise IncompleteStoreError(
                f"{self.root}: store has no metadata table; re-run `worldclass encode`"
            )
        return table_from_bytes(raw)

    def read(
        self,
        patch_id: str,
        s1_name: str | None,
        bands: tuple[str, ...],
        mask: bool,
        georef: dict[str, Any] | None = None,
    ) -> Arrays:
        return self.read_many(
            [(patch_id, s1_name)], bands, mask, lambda arrays: [{k: v.copy() for k, v in arrays[0].items()}]
        )[0]

    def read_many(
        self,
        requests: Sequence[tuple[str, str | None]],
        bands: tuple[str, ...],
        mask: bool,
        consume: Callable[[list[Arrays]], T],
    ) -> T:
        """One read transaction for the whole batch; ``consume`` gets zero-copy views of the memory map."""
        with self.env().begin(buffers=True) as txn:
            batch: list[Arrays] = []
            for patch_id, _ in requests:
                value = txn.get(patch_key(patch_id))
                if value is None:
                    raise MissingFileError(
                        f"{self.root}: patch {patch_id} not in the store; re-encode with it"
                    )
                self._check(txn, patch_id, value)
                d = safetensors_views(value)
                missing = [b for b in bands if b not in d]
                if missing:
                    raise DataError(f"{self.root}: store has no band(s) {missing}; stored: {sorted(d)}")
                out = {b: d[b] for b in bands}
                if mask:
                    out[MAP_KEY] = d[MAP_KEY]
                batch.append(out)
            return consume(batch)

    def read_native(
        self,
        requests: Sequence[tuple[str, str | None]],
        bands: tuple[str, ...],
        mask: bool,
        consume: Callable[[NativeBatch], T],
    ) -> T:
        """Zero-copy: addresses inside the memory-mapped values, from a cached per-header layout."""
        n = len(requests)
        addresses = np.empty((n, len(bands)), np.int64)
        kinds = np.empty((n, len(bands)), np.int64)
        masks = np.empty(n, np.int64) if mask else None
        keep: list[Any] = []
        with self.env().begin(buffers=True) as txn:
            for i, (patch_id, _) in enumerate(requests):
                value = txn.get(patch_key(patch_id))
                if value is None:
                    raise MissingFileError(
                        f"{self.root}: patch {patch_id} not in the store; re-encode with it"
                    )
                self._check(txn, patch_id, value)
                (n_header,) = struct.unpack_from("<Q", value, 0)
                try:
                    layout = _layout(bytes(value[8 : 8 + n_header]), bands, mask)
                except (ValueError, KeyError, TypeError) as exc:
                    raise DataError(f"{self.root}: patch {patch_id} is corrupt ({exc}); re-encode") from None
                except DataError as exc:
                    raise DataError(f"{self.root}: patch {patch_id}: {exc}") from None
                if len(value) < layout.size:
                    raise DataError(f"{self.root}: patch {patch_id} is truncated; re-encode the store")
                array = np.frombuffer(value, np.uint8)
                keep.append(array)
                address = array.__array_interface__["data"][0]
                addresses[i] = layout.offsets + address
                kinds[i] = layout.kinds
                if masks is not None:
                    masks[i] = address + layout.mask_offset
            return consume(NativeBatch(addresses, kinds, masks, None, keep))

    def read_all(self, patch_id: str) -> Arrays:
        """Every array stored for a patch (bands and reference map)."""
        return self.read(patch_id, None, tuple(b for b in self.info["bands"] if b in BANDS), self.has_mask)
