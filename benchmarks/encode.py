"""Encoding throughput: S1/S2 pairs (15 GeoTIFFs each incl. the reference map) per second into the store.

Compares (a) the naive way -- one process, each band opened with rasterio and the patch pickled into
LMDB, one transaction per patch -- with (b) ``worldclass encode`` (worker processes, safetensors,
batched transactions), on the same synthetic reBEN archive in the same run. Prints one JSON object.

    python benchmarks/encode.py --patches 1000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path

import lmdb
import pyarrow.parquet as pq
import rasterio

from worldclass.data.bigearthnet import naming
from worldclass.data.encode import encode
from worldclass.data.sensors import S1_NAMES, S2_NAMES
from worldclass.data.synth.bigearthnet import synth_bigearthnet


def naive_encode(root: Path, out: Path, limit: int) -> float:
    t = pq.read_table(root / naming.V2_METADATA).to_pydict()
    env = lmdb.open(str(out), map_size=1 << 36)
    start = time.perf_counter()
    n = 0
    for pid, s1 in list(zip(t["patch_id"], t["s1_name"], strict=True))[:limit]:
        d = {}
        for b in S2_NAMES:
            with rasterio.open(naming.v2_band_path(root, pid, b)) as ds:
                d[b] = ds.read(1)
        for b in S1_NAMES:
            with rasterio.open(naming.v2_s1_band_path(root, s1, b)) as ds:
                d[b] = ds.read(1)
        with rasterio.open(naming.v2_map_path(root, pid)) as ds:
            d["reference_map"] = ds.read(1)
        with env.begin(write=True) as txn:
            txn.put(pid.encode(), pickle.dumps(d))
        n += 1
    dt = time.perf_counter() - start
    env.close()
    return n / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--patches", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="wc-enc-"))
    archive = work / "archive"
    if not (archive / naming.V2_METADATA).is_file():
        synth_bigearthnet(archive, version=2, patches=args.patches, seed=0, workers=args.workers)
    n_main = pq.read_metadata(archive / naming.V2_METADATA).num_rows
    for p in (work / "naive", work / "store"):
        shutil.rmtree(p, ignore_errors=True)
    naive = naive_encode(archive, work / "naive", limit=min(n_main, 300))
    stamps: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    res = encode(
        archive,
        work / "store",
        workers=args.workers,
        progress=lambda d, n: stamps.append((time.perf_counter(), d)),
    )
    dt = time.perf_counter() - t0
    ours = res.encoded / dt
    first = next(s for s in stamps if s[1] > 0)  # steady state: after the worker pool has started
    steady = (stamps[-1][1] - first[1]) / (stamps[-1][0] - first[0])
    size = sum(f.stat().st_size for f in (work / "store").iterdir())
    print(
        json.dumps(
            {
                "patches": res.encoded,
                "workers": args.workers,
                "naive_pairs_per_s": round(naive, 1),
                "encode_pairs_per_s": round(ours, 1),
                "encode_steady_pairs_per_s": round(steady, 1),
                "speedup": round(ours / naive, 2),
                "steady_speedup": round(steady / naive, 2),
                "store_mb": round(size / 2**20, 1),
                "est_full_reben_min": round(549_488 / steady / 60, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
