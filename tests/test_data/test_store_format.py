"""Store format 2 (layout parsed once per header), reading format 1 stores, and corrupt values."""

import json
import shutil
from pathlib import Path

import lmdb
import pytest
import torch
from safetensors.numpy import load, save

from worldclass.data import BigEarthNet
from worldclass.data.bigearthnet.sources import lmdb_forget
from worldclass.data.encode import encode
from worldclass.data.store import CRC_PREFIX, INFO_KEY, META_PREFIX, PATCH_PREFIX, patch_key
from worldclass.errors import ConfigError, CorruptFileError, DataError, IncompleteStoreError

KW = {"split": "all", "sensors": ("s2", "s1"), "include_snow_cloud": True}


def _rewrite_as_format1(store: Path) -> None:
    """What worldclass 0.1 wrote: metadata inside each safetensors header, no m/ or c/ keys."""
    env = lmdb.open(str(store), map_size=1 << 32)
    with env.begin(write=True) as txn:
        for key in [k for k, _ in txn.cursor() if k.startswith(CRC_PREFIX)]:
            txn.delete(key)
        patches = [(k, bytes(v)) for k, v in txn.cursor() if k.startswith(PATCH_PREFIX)]
        for key, value in patches:
            meta_key = META_PREFIX + key[len(PATCH_PREFIX) :]
            meta = json.loads(txn.get(meta_key))
            txn.put(key, save(load(value), metadata={k: str(v) for k, v in meta.items()}))
            txn.delete(meta_key)
        info = json.loads(txn.get(INFO_KEY))
        info.pop("checksums", None)
        txn.put(INFO_KEY, json.dumps({**info, "format_version": 1}).encode())
    env.close()


def test_format1_store_reads_the_same_and_is_not_resumed(
    v2_store: Path, v2_root: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    shutil.copytree(v2_store, old)
    _rewrite_as_format1(old)
    a, b = BigEarthNet(v2_store, **KW), BigEarthNet(old, **KW)
    batch_a, batch_b = a.__getitems__(list(range(8))), b.__getitems__(list(range(8)))
    for sa, sb in zip(batch_a, batch_b, strict=True):
        for key in ("image", "label", "mask"):
            assert torch.equal(sa[key], sb[key]), key
    with pytest.raises(ConfigError, match="format 1"):
        encode(v2_root, old)


def test_corrupt_values_give_one_clear_error(v2_store: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(v2_store, bad)
    ds = BigEarthNet(bad, **KW)
    first, second = ds.patch_ids[0], ds.patch_ids[1]
    lmdb_forget(bad)  # this process's read-only handle, before writing
    env = lmdb.open(str(bad), map_size=1 << 32)
    with env.begin(write=True) as txn:
        txn.put(patch_key(first), bytes(txn.get(patch_key(first)))[:-100])  # truncated
        txn.put(patch_key(second), b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    env.close()
    ds = BigEarthNet(bad, **KW)
    for i, pid in enumerate((first, second)):  # the stored CRC-32 catches both before decoding
        with pytest.raises(CorruptFileError, match=f"patch {pid} fails its checksum.*verify"):
            ds[i]
    assert ds[2]["image"].shape == (14, 120, 120)
    lmdb_forget(bad)
    env = lmdb.open(str(bad), map_size=1 << 32)
    with env.begin(write=True) as txn:  # a store written before checksums: the decoder's own checks
        info = json.loads(txn.get(INFO_KEY))
        info.pop("checksums")
        txn.put(INFO_KEY, json.dumps(info).encode())
    env.close()
    ds = BigEarthNet(bad, **KW)
    with pytest.raises(DataError, match=f"{first} is truncated"):
        ds[0]
    with pytest.raises(DataError, match=f"patch {second} is corrupt"):
        ds[1]


def test_patch_without_metadata_is_reported(v2_store: Path, v2_root: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(v2_store, store)
    pid = BigEarthNet(store, **KW).patch_ids[0]
    lmdb_forget(store)
    env = lmdb.open(str(store), map_size=1 << 32)
    with env.begin(write=True) as txn:
        txn.delete(META_PREFIX + pid.encode())
        info = json.loads(txn.get(INFO_KEY))
        txn.put(INFO_KEY, json.dumps({**info, "complete": False}).encode())
    env.close()
    with pytest.raises(IncompleteStoreError, match=f"{pid}: stored metadata missing"):
        encode(v2_root, store)
    result = encode(v2_root, store)  # the failed patch is re-encoded from its intact source
    assert result.complete and result.encoded == 1 and pid in BigEarthNet(store, **KW).patch_ids


def test_a_truncated_store_is_one_clear_error_not_sigbus(v2_store: Path, tmp_path: Path) -> None:
    """A store cut short (an interrupted copy) still says "complete" in its info record; readers used to
    map past the end of data.mdb and die of SIGBUS. The LMDB's own page count is checked at open."""
    import subprocess
    import sys

    from worldclass.errors import IncompleteStoreError

    copy = tmp_path / "cut.store"
    shutil.copytree(v2_store, copy)
    data = copy / "data.mdb"
    with data.open("r+b") as f:
        f.truncate(data.stat().st_size // 2)
    with pytest.raises(IncompleteStoreError, match=r"data\.mdb: truncated"):
        BigEarthNet(copy, split="train").labels()
    r = subprocess.run(
        [sys.executable, "-m", "worldclass", "stats", str(copy)], capture_output=True, text=True
    )
    assert r.returncode > 0 and r.stderr.startswith("error: ") and "truncated" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    data.write_bytes(b"\0" * 100)  # not an LMDB at all
    lmdb_forget(copy)
    r = subprocess.run(
        [sys.executable, "-m", "worldclass", "stats", str(copy)], capture_output=True, text=True
    )
    assert r.returncode > 0 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
