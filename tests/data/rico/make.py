"""Write a rico-hdl-style LMDB from an official reBEN root (the layout rico-hdl produces).

Keys: S2 ``patch_id`` -> safetensors {B01..B12, B8A: uint16 native size}; ``s1_name`` -> {VH, VV:
float32}; ``<patch_id>_reference_map`` -> {"Data": uint16 map}. rico-hdl's dict order (S2:
B02,B03,B04,B08,B05,B06,B07,B8A,B11,B12,B01,B09; S1: VH,VV) is kept; readers must index by name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import lmdb
import pyarrow.parquet as pq
import rasterio
from safetensors.numpy import save

from worldclass.data.bigearthnet import naming

RICO_S2_ORDER = ("B02", "B03", "B04", "B08", "B05", "B06", "B07", "B8A", "B11", "B12", "B01", "B09")


def make_rico_lmdb(v2_root: Path, out: Path, *, s1: bool = True, maps: bool = True) -> Path:
    """Write ``out/`` (LMDB) and copy ``metadata.parquet`` next to it (``out.parent``). ``s1``/``maps``
    False: the LMDB rico-hdl writes when it is not given the S1 / reference-map folders."""
    t = pq.read_table(v2_root / naming.V2_METADATA).to_pydict()
    env = lmdb.open(str(out), map_size=1 << 30)

    def read(p: Path):  # type: ignore[no-untyped-def]
        with rasterio.open(p) as ds:
            return ds.read(1)

    with env.begin(write=True) as txn:
        for pid, s1_name in zip(t["patch_id"], t["s1_name"], strict=True):
            s2 = {b: read(naming.v2_band_path(v2_root, pid, b)) for b in RICO_S2_ORDER}
            txn.put(pid.encode(), save(s2))
            if s1:
                s1d = {b: read(naming.v2_s1_band_path(v2_root, s1_name, b)) for b in ("VH", "VV")}
                txn.put(s1_name.encode(), save(s1d))
            if maps:
                ref = {"Data": read(naming.v2_map_path(v2_root, pid))}
                txn.put(f"{pid}_reference_map".encode(), save(ref))
    env.close()
    shutil.copy(v2_root / naming.V2_METADATA, out.parent / naming.V2_METADATA)
    return out
