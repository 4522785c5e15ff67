"""Compressed-archive throughput and size: ``worldclass compress`` / ``decompress`` against storing the same
bands with GDAL's Deflate (lossless) and JPEG2000 (lossy, at the codec's size), in the same run.

A generated reBEN store (``--patches``), the 10 m-grid S2 bands of the 10 bands set (uint16, 120 px);
a small codec trained briefly on it (speed does not depend on how well it is trained; the sizes do, so
bytes per patch are reported for that codec). Compression: patches/s of the whole job (read, encode,
entropy-code, hash, write LMDB) in one process; decompression: patches/s of decode + synthesis + GeoTIFF
write (no quality comparison). Baselines: the bands of every patch through GDAL in memory (encode and
decode timed separately). Prints JSON.

    python benchmarks/compress.py [--patches 200] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from worldclass.data.dataset import BigEarthNet
from worldclass.data.encode import encode
from worldclass.data.synth.bigearthnet import synth_bigearthnet
from worldclass.retrieval.archive import Archive, CompressJob
from worldclass.retrieval.decompress import decompress
from worldclass.training.rate_retrieval import _gdal_round_trip


def _codec(store: Path, out: Path, epochs: int) -> Path:
    from worldclass.tasks import load_config
    from worldclass.training import train

    cfg = load_config(
        None,
        [
            "task=codec",
            f"data.root={store}",
            "data.sensors=[s2]",
            "data.bands=s2-10",
            "data.batch_size=16",
            "data.num_workers=0",
            f"optim.max_epochs={epochs}",
            "optim.warmup_steps=2",
            "optim.lr=0.005",
            "codec.target_bpp=0.5",
            "trainer.progress=false",
            f"trainer.out={out}",
        ],
    )
    return train(cfg).best_checkpoint


def _gdal(store: Path, bands: list[str], driver: str, options: dict[str, str]) -> dict[str, float]:
    ds = BigEarthNet(store, split="all", sensors=("s2",), bands=bands, normalize="none", return_mask=False)
    patches = [np.clip(np.round(ds[i]["image"].numpy()), 0, 65535).astype(np.uint16) for i in range(len(ds))]
    size, t_enc, t_all = 0, 0.0, 0.0
    from rasterio.io import MemoryFile

    for p in patches:
        t0 = time.perf_counter()
        with MemoryFile() as mem:
            with mem.open(
                driver=driver,
                height=p.shape[1],
                width=p.shape[2],
                count=p.shape[0],
                dtype="uint16",
                **options,
            ) as dst:
                dst.write(p)
            t_enc += time.perf_counter() - t0
        t0 = time.perf_counter()
        _, n = _gdal_round_trip(p, driver, options)
        t_all += time.perf_counter() - t0
        size += n
    n = len(patches)
    return {
        "bytes_per_patch": round(size / n, 1),
        "bpp": round(8 * size / (n * 120 * 120), 3),
        "encode_patches_per_s": round(n / t_enc, 1),
        "decode_patches_per_s": round(n / max(t_all - t_enc, 1e-9), 1),
    }


def main() -> None:
    from rasterio.errors import NotGeoreferencedWarning

    warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)  # patches are stored as pixel grids
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = synth_bigearthnet(work / "reBEN", version=2, patches=args.patches, seed=0)
        store = work / "store"
        encode(root, store, workers=0)
        ckpt = _codec(store, work / "codec", args.epochs)
        t0 = time.perf_counter()
        with CompressJob(store, ckpt, work / "archive") as job:
            job.run_local(job.prepare(), 0)
            job.finalize()
        t_compress = time.perf_counter() - t0
        archive = Archive(work / "archive")
        n = len(archive.ids)
        t0 = time.perf_counter()
        decompress(work / "archive", work / "decoded", compare=False)
        t_decompress = time.perf_counter() - t0
        info = archive.info
        stored = info["bytes"]["bitstreams"] + info["bytes"]["codes"]
        codec = {
            "bytes_per_patch": round(stored / n, 1),
            "bitstream_bytes_per_patch": round(info["bytes"]["bitstreams"] / n, 1),
            "hash_bytes_per_patch": info["bits"] // 8,
            "bpp": round(info["bpp"], 3),
            "compress_patches_per_s": round(n / t_compress, 1),
            "decompress_patches_per_s": round(n / t_decompress, 1),
        }
        bands = list(info["bands"])
        ratio = 100 * 8 * info["bytes"]["bitstreams"] / n / (len(bands) * 120 * 120 * 16)
        result = {
            "patches": n,
            "bands": bands,
            "store_bytes_per_patch": round(info["source_bytes"] / n, 1),
            "raw_uint16_bytes_per_patch": len(bands) * 120 * 120 * 2,
            "learned_codec": codec,
            "deflate": _gdal(store, bands, "GTiff", {"compress": "deflate", "predictor": "2"}),
            f"jpeg2000_{ratio:.2f}pct": _gdal(
                store, bands, "JP2OpenJPEG", {"QUALITY": f"{max(ratio, 0.1):.2f}", "REVERSIBLE": "NO"}
            ),
        }
        result["store_over_codec"] = round(result["store_bytes_per_patch"] / codec["bytes_per_patch"], 1)
        result["deflate_over_codec"] = round(
            result["deflate"]["bytes_per_patch"] / codec["bytes_per_patch"], 1
        )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
