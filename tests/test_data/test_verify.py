"""`worldclass verify`: finds a patch whose bytes changed on disk, --repair drops it, encode re-encodes it."""

from __future__ import annotations

import shutil
from pathlib import Path

import lmdb
import pytest

from worldclass.data import BigEarthNet
from worldclass.data.bigearthnet.sources import lmdb_forget, lmdb_open
from worldclass.data.encode import encode
from worldclass.data.store import patch_key, read_info
from worldclass.data.verify import verify_store
from worldclass.errors import CorruptFileError, IncompleteStoreError


def test_verify_repair_then_encode_restores_the_store(v2_store: Path, v2_root: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(v2_store, store)
    clean = verify_store(store)
    assert clean.checksums and clean.patches == 48 and not clean.damaged
    pid = BigEarthNet(store, split="all", include_snow_cloud=True).patch_ids[7]
    lmdb_forget(store)
    env = lmdb.open(str(store), map_size=1 << 32)
    with env.begin(write=True) as txn:
        value = bytearray(txn.get(patch_key(pid)))
        value[-10] ^= 0x01  # one bit of pixel data: the value still decodes
        txn.put(patch_key(pid), bytes(value))
    env.close()
    with pytest.raises(CorruptFileError, match=f"1 of 48 patch.*{pid}: fails its checksum"):
        verify_store(store)
    with pytest.raises(IncompleteStoreError, match="dropped them"):
        verify_store(store, repair=True)
    info = read_info(store)
    assert not info["complete"] and info["missing"] == [pid]
    result = encode(v2_root, store)
    assert result.complete and result.encoded == 1  # only the dropped patch is encoded again
    lmdb_forget(store)  # this process's handle from before the re-encode
    with lmdb_open(store).begin() as ta, lmdb_open(v2_store).begin() as tb:
        assert bytes(ta.get(patch_key(pid))) == bytes(tb.get(patch_key(pid)))
    assert not verify_store(store).damaged
