"""Whole-scene mapping: Mpx/s end to end (GeoTIFF in -> COG out) and peak RSS vs scene size.

Each scene size runs in a fresh process (so peak RSS is per size and the mapping's alone): a synthetic RGB
scene (uint8, tiled, uncompressed) is written block by block by a helper process, then mapped by ``worldclass.mapping.map_scenes`` (windowed reads,
batched tiles, Hann blending, windowed writes, COG finalisation). The naive way -- read the whole scene,
predict tiles into a full-size probability array, write it at once -- runs on the smallest size in the
same run. ``--model tiny`` (3x3 conv net) isolates the engine on a CPU; ``unet-resnet34`` is the real
model (GPU goal >= 100 Mpx/s). Prints one JSON object.

    python benchmarks/map_scene.py --gpx 0.1 0.5 2.5 --model tiny
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from torch import nn

from worldclass.mapping.predictor import Predictor, pick_device
from worldclass.mapping.tiling import Grid
from worldclass.mapping.whole_scene import map_scenes


def predictor(model: str, device: str) -> Predictor:
    torch.manual_seed(0)
    if model == "tiny":
        net: nn.Module = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 2, 1))
    else:
        from worldclass.models.segmenter import SegmentationNet

        net = SegmentationNet("unet", "resnet34", 3, 2)
    dev = pick_device(device)
    return Predictor(
        net=net,
        bands=["red", "green", "blue"],
        classes=["not building", "building"],
        scale=1 / 255,
        mean=np.full(3, 0.45, np.float32),
        std=np.full(3, 0.2, np.float32),
        dtype="uint8",
        device=dev,
        bf16=dev.type == "cuda",
    )


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def naive_map(pred: Predictor, scene: Path, out: Path, tile: int, overlap: int) -> float:
    """Whole scene in memory, full-size probability and weight arrays, one write."""
    t0 = time.perf_counter()
    with rasterio.open(scene) as src:
        image, prof = src.read(), src.profile
    h, w = image.shape[1:]
    g = Grid(h, w, tile, overlap, "hann")
    acc = np.zeros((len(pred.classes), h, w), np.float32)
    wsum = np.zeros((h, w), np.float32)
    for r, y in enumerate(g.ys):
        for c, x in enumerate(g.xs):
            p = pred(image[None, :, y : y + g.th, x : x + g.tw])[0]
            wt = g.weight(r, c)
            acc[:, y : y + g.th, x : x + g.tw] += p * wt
            wsum[y : y + g.th, x : x + g.tw] += wt
    classes = (acc / wsum).argmax(0).astype(np.uint8)
    prof.update(count=1, dtype="uint8", nodata=255, compress="deflate")
    with rasterio.open(out, "w", **prof) as dst:
        dst.write(classes, 1)
    return time.perf_counter() - t0


def child(args: argparse.Namespace) -> None:
    side = round((args.child_gpx * 1e9) ** 0.5)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        scene = Path(tmp) / "scene.tif"
        t0 = time.perf_counter()
        # written by another process, so this process's peak RSS is the mapping's alone
        code = f"from worldclass.data.synth.aerial import write_scene as w; w({str(scene)!r}, {side}, {side}, seed=1, compress=None)"
        subprocess.run([sys.executable, "-c", code], check=True)
        gen_s = time.perf_counter() - t0
        base_rss = rss_mb()
        pred = predictor(args.model, args.device)
        t0 = time.perf_counter()
        if args.naive:
            secs = naive_map(pred, scene, Path(tmp) / "naive.tif", args.tile, args.overlap)
        else:
            [r] = map_scenes(
                pred,
                [scene],
                Path(tmp) / "map.tif",
                tile=args.tile,
                overlap=args.overlap,
                batch_size=args.batch,
            )
            secs = r.seconds
        print(
            json.dumps(
                {
                    "gpx": args.child_gpx,
                    "side": side,
                    "naive": args.naive,
                    "seconds": round(secs, 2),
                    "mpx_per_s": round(side * side / 1e6 / secs, 2),
                    "peak_rss_mb": round(rss_mb()),
                    "rss_before_mapping_mb": round(base_rss),
                    "scene_write_s": round(gen_s, 1),
                }
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gpx", type=float, nargs="+", default=[0.1, 0.5, 2.5])
    ap.add_argument("--model", choices=["tiny", "unet-resnet34"], default="tiny")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument(
        "--naive-gpx", type=float, default=None, help="size for the naive run (default: smallest)"
    )
    ap.add_argument("--tmp", default=None, help="folder for the temporary scenes (needs ~3 bytes/px)")
    ap.add_argument("--child-gpx", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--naive", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_gpx is not None:
        child(args)
        return
    common = [
        "--model",
        args.model,
        "--device",
        args.device,
        "--tile",
        str(args.tile),
        "--overlap",
        str(args.overlap),
        "--batch",
        str(args.batch),
    ] + (["--tmp", args.tmp] if args.tmp else [])
    runs = [(g, False) for g in args.gpx] + [(args.naive_gpx or min(args.gpx), True)]
    results = []
    for gpx, naive in runs:
        cmd = [sys.executable, __file__, "--child-gpx", str(gpx), *common] + (["--naive"] if naive else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr)
    ours = [r for r in results if not r["naive"]]
    nv = next(r for r in results if r["naive"])
    same = next((r for r in ours if r["gpx"] == nv["gpx"]), ours[0])
    print(
        json.dumps(
            {
                "model": args.model,
                "device": str(pick_device(args.device)),
                "tile": args.tile,
                "overlap": args.overlap,
                "batch": args.batch,
                "worldclass": ours,
                "naive": nv,
                "speedup_vs_naive": round(same["mpx_per_s"] / nv["mpx_per_s"], 2),
                "rss_ratio_naive_vs_worldclass": round(nv["peak_rss_mb"] / same["peak_rss_mb"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
