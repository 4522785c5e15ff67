"""``worldclass verify``: check every patch of a store (BigEarthNet or SEN12MS/DFC2020 triplets) against
its checksum and decode it completely.

Readers check a patch's CRC-32 the first time a process reads it; this checks all of them at once (e.g.
after copying a store). ``repair`` drops the damaged patches and marks the store incomplete, so the next
``worldclass encode SOURCE STORE`` re-encodes exactly those from the archive.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import lmdb

from worldclass.data.bigearthnet.sources import MAP_KEY, lmdb_forget, lmdb_open
from worldclass.data.encode import DEFAULT_MAP_SIZE, verify_value
from worldclass.data.store import INFO_KEY, StoreSource, crc_key, crc_matches, patch_key
from worldclass.errors import CorruptFileError, IncompleteStoreError


@dataclass
class VerifyResult:
    """``patches`` checked, ``damaged`` {patch id: problem}, ``checksums`` (False: a store written
    before checksums, only decoded), ``repaired`` (damaged patches dropped, store marked incomplete)."""

    store: Path
    patches: int
    checksums: bool
    damaged: dict[str, str] = field(default_factory=dict)
    repaired: bool = False


def verify_store(
    path: str | Path, *, repair: bool = False, progress: Callable[[int, int], None] | None = None
) -> VerifyResult:
    """Check every patch of the store at ``path``; raises :class:`CorruptFileError` naming the damaged
    patches (or, with ``repair``, :class:`IncompleteStoreError` after dropping them)."""
    root = Path(path)
    from worldclass.data.triplet_store import is_triplet_store, verify_triplet_value

    decode: Callable[[memoryview], str | None]
    if is_triplet_store(root):  # SEN12MS / DFC2020: every triplet has a checksum
        from worldclass.data.triplet_store import store_info, stored_triplets

        info = store_info(root)
        ids = [t.id for t in stored_triplets(root, info["dataset"])]
        env, checksums, decode = lmdb_open(root), True, verify_triplet_value
    else:
        source = StoreSource(root)
        info = source.info
        ids = source.table().column("patch_id").to_pylist()
        bands = set(source.info["bands"]) | ({MAP_KEY} if source.has_mask else set())
        env, checksums = source.env(), source.checksums

        def decode(value: memoryview) -> str | None:
            return verify_value(value, bands)

    result = VerifyResult(root, len(ids), checksums)
    with env.begin(buffers=True) as txn:
        for n, pid in enumerate(ids, 1):
            value = txn.get(patch_key(pid))
            if value is None:
                result.damaged[pid] = "missing from the store"
            elif checksums and not crc_matches(txn, pid, value):
                result.damaged[pid] = "fails its checksum"
            else:
                problem = decode(value)
                if problem:
                    result.damaged[pid] = problem
            if progress and (n % 256 == 0 or n == len(ids)):
                progress(n, len(ids))
    if not result.damaged:
        return result
    first = min(result.damaged)
    summary = (
        f"{len(result.damaged)} of {len(ids)} patch(es) damaged (first: {first}: {result.damaged[first]})"
    )
    if not repair:
        raise CorruptFileError(
            f"{root}: {summary}; run `worldclass verify {root} --repair`, then `worldclass encode SOURCE "
            f"{root}` re-encodes them from the archive"
        )
    lmdb_forget(root)
    env = lmdb.open(str(root), subdir=True, max_dbs=0, map_size=DEFAULT_MAP_SIZE)  # room for the write
    try:
        with env.begin(write=True) as txn:
            info = json.loads(txn.get(INFO_KEY) or b"{}")
            for pid in result.damaged:
                txn.delete(patch_key(pid))
                txn.delete(crc_key(pid))
            info.update(complete=False, missing=sorted(result.damaged))
            txn.put(INFO_KEY, json.dumps(info).encode())
        env.sync(True)
    finally:
        env.close()
    result.repaired = True
    raise IncompleteStoreError(
        f"{root}: {summary}; dropped them and marked the store incomplete: re-run `worldclass encode "
        f"{info.get('source', 'SOURCE')} {root}` to re-encode them"
    )
