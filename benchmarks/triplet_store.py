"""SEN12MS/DFC2020 training reads: the GeoTIFF archive (through its Float32 VRT stacks, as training
reads it by default) vs the triplet store (``worldclass encode ROOT STORE``), same windows.

Writes a generated DFC2020 archive (``--patches`` in the validation release), encodes it, then reads
``--samples`` random 256 px training windows (all 15 bands, normalised, D4-augmented) through the
dataset of each path in one process, and a full pass of the grid (validation) windows. Prints JSON:
samples/s per path and the ratio, encode time, bytes on disk (archive vs store), and whether the two
paths gave identical samples.

    python benchmarks/triplet_store.py [--patches 120] [--samples 400]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from worldclass.config import DataConfig
from worldclass.data.synth.sen12ms import synth_dfc2020
from worldclass.data.triplet_store import TripletEncodeJob
from worldclass.datasets import get_dataset


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _rate(root: Path, samples: int) -> tuple[float, float, list[Any]]:
    """(random windows/s, grid windows/s, the first samples) of the training/validation datasets."""
    ds = get_dataset("dfc2020")
    data = DataConfig(root=str(root), dataset="dfc2020", patch_size=256, samples_per_epoch=samples)
    pre = ds.preprocessing(data)
    train = ds.open(data, "train", preprocessing=pre)
    val = ds.open(data, "val", preprocessing=pre)
    train[0], val[0]  # warm: open handles / the LMDB map, write the VRT stacks
    torch.manual_seed(0)
    t0 = time.perf_counter()
    first = [train[i] for i in range(samples)]
    t1 = time.perf_counter()
    for i in range(len(val)):
        val[i]
    t2 = time.perf_counter()
    return samples / (t1 - t0), len(val) / (t2 - t1), first[:20]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=120)
    ap.add_argument("--samples", type=int, default=400)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, store = Path(tmp) / "DFC2020", Path(tmp) / "dfc.store"
        synth_dfc2020(root, validation=args.patches, test=4, seed=0)
        t0 = time.perf_counter()
        with TripletEncodeJob(root, store) as job:
            job.run_local(job.prepare(), 0)
            job.finalize()
        encode_s = time.perf_counter() - t0
        files_rate, files_grid, a = _rate(root, args.samples)
        store_rate, store_grid, b = _rate(store, args.samples)
        same = all(
            torch.equal(x["image"], y["image"]) and torch.equal(x["mask"], y["mask"])
            for x, y in zip(a, b, strict=True)
        )
        result = {
            "patches": args.patches + 4,
            "window_px": 256,
            "bands": 15,
            "encode_s": round(encode_s, 2),
            "archive_bytes": _bytes(root),
            "store_bytes": _bytes(store),
            "train_windows_per_s": {"geotiff_vrt": round(files_rate, 1), "store": round(store_rate, 1)},
            "train_ratio": round(store_rate / files_rate, 2),
            "val_windows_per_s": {"geotiff_vrt": round(files_grid, 1), "store": round(store_grid, 1)},
            "val_ratio": round(store_grid / files_grid, 2),
            "identical_samples": same,
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
