"""Loading throughput: S2+S1, 14 bands, 120x120 float32 normalised samples per second.

(a) naive: per sample, open every band GeoTIFF with rasterio and read it resampled to 120x120 (bilinear),
    stack and normalise -- what torchgeo's BigEarthNet does; (b) worldclass store via BigEarthNet (image +
    label, as (a); ``store_with_masks`` also decodes the reference maps to class-index masks).
Same synthetic v2 archive, same run, DataLoader with 0 and 2 workers. Prints one JSON object.

    python benchmarks/loading.py --patches 512 --batch-size 64
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import rasterio
import torch
from rasterio.enums import Resampling
from torch.utils.data import DataLoader, Dataset

from worldclass.data import BigEarthNet
from worldclass.data.bigearthnet import naming
from worldclass.data.collate import collate
from worldclass.data.encode import encode
from worldclass.data.sensors import S1_NAMES, S2_NAMES, band_statistics
from worldclass.data.synth.bigearthnet import synth_bigearthnet

BANDS = S2_NAMES + S1_NAMES


class NaiveBigEarthNet(Dataset[dict[str, torch.Tensor]]):
    """torchgeo-style: one rasterio open + resampled read per band per sample."""

    def __init__(self, root: Path) -> None:
        t = pq.read_table(root / naming.V2_METADATA).to_pydict()
        self.root, self.ids, self.s1 = root, t["patch_id"], t["s1_name"]
        mean, std = band_statistics(BANDS)
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        arrays = []
        for b in BANDS:
            path = (
                naming.v2_band_path(self.root, self.ids[i], b)
                if b in S2_NAMES
                else naming.v2_s1_band_path(self.root, self.s1[i], b)
            )
            with rasterio.open(path) as ds:
                arrays.append(
                    ds.read(1, out_shape=(120, 120), out_dtype="float32", resampling=Resampling.bilinear)
                )
        image = (torch.from_numpy(np.stack(arrays)) - self.mean) / self.std
        return {"image": image}


def rate(
    ds: Dataset, workers: int, batch_size: int, limit: int, collate_fn: Any = None, repeats: int = 3
) -> float:
    """Median of ``repeats`` runs of samples/s over ``limit`` samples (several epochs if needed), each after
    one warm-up batch (worker start, environment open, first compile excluded)."""
    runs = sorted(_rate(ds, workers, batch_size, limit, collate_fn) for _ in range(repeats))
    return runs[len(runs) // 2]


def _rate(ds: Dataset, workers: int, batch_size: int, limit: int, collate_fn: Any) -> float:
    loader = DataLoader(
        ds,
        batch_size=batch_size,
        num_workers=workers,
        shuffle=True,
        collate_fn=collate_fn,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(0),
    )
    it = iter(loader)
    next(it)  # warm-up (worker start, environment open) excluded from timing
    n = 0
    t0 = time.perf_counter()
    while n < limit:
        for batch in it:
            batch["image"].view(-1)[::1024].sum()  # the consumer touches every page, as training does
            n += len(batch["image"])
            if n >= limit:
                break
        it = iter(loader)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--patches", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--naive-limit", type=int, default=256)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--resampling", choices=["bilinear", "nearest"], default="bilinear")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="wc-bench-"))
    archive, store = work / "archive", work / "store"
    if not (archive / naming.V2_METADATA).is_file():
        synth_bigearthnet(archive, version=2, patches=args.patches, seed=0, workers=os.cpu_count() or 1)
    encode(archive, store, workers=os.cpu_count() or 1)
    naive = NaiveBigEarthNet(archive)
    kw: dict[str, Any] = {"split": "all", "sensors": ("s2", "s1"), "include_snow_cloud": True}
    fast = BigEarthNet(store, resampling=args.resampling, return_mask=False, **kw)
    masked = BigEarthNet(store, resampling=args.resampling, return_mask=True, **kw)
    out: dict[str, object] = {
        "patches": len(fast),
        "bands": len(fast.bands),
        "batch_size": args.batch_size,
        "resampling": args.resampling,
        "torch_threads": torch.get_num_threads(),
    }
    for w in (0, 2):
        a = rate(naive, w, args.batch_size, args.naive_limit)
        b = rate(fast, w, args.batch_size, 5 * len(fast), collate)
        out[f"naive_samples_per_s_workers{w}"] = round(a, 1)
        out[f"store_samples_per_s_workers{w}"] = round(b, 1)
        out[f"speedup_workers{w}"] = round(b / a, 1)
        out[f"store_with_masks_samples_per_s_workers{w}"] = round(
            rate(masked, w, args.batch_size, 5 * len(fast), collate), 1
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
