"""`worldclass align`: Mpx/s and peak RSS against scene size, windowed vs the naive whole-scene field.

Each size runs in a fresh process (peak RSS per size): a synthetic aerial scene (uint8 RGB, 0.3 m) with
its building layer is generated, the layer is shifted, and ``worldclass.mapping.align.align_vectors``
moves it back with an alignment model (random weights: speed does not depend on them) window by window.
The naive way -- rasterise the whole layer, predict the field of the whole scene in one forward pass,
move the vertices -- runs on the same sizes while it fits (its memory grows with the scene). Prints one
JSON object; ``--device cuda`` times the GPU path.

    python benchmarks/align.py --sizes 1024 2048 4096
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
import torch


def checkpoint(path: Path) -> Path:
    from worldclass.models.align import AlignmentNet, save_alignment_checkpoint

    torch.manual_seed(0)
    pre = {"scale": 1 / 255, "mean": [0.5] * 3, "std": [0.2] * 3, "dtype": "uint8"}
    net = AlignmentNet(3, 1, scales=(4, 2), width=32)
    return save_alignment_checkpoint(
        path, net, bands=["red", "green", "blue"], map_classes=["building"], preprocessing=pre
    )


def prepare(folder: Path, size: int) -> tuple[Path, Path]:
    """Scene + its building layer shifted by (2, -1) px."""
    import shapely

    from worldclass.data.synth.aerial import synth_scenes
    from worldclass.data.vector import read_polygons, write_polygons

    root = synth_scenes(folder / f"s{size}", size=size, scenes=1, seed=size)
    geoms, cols, crs = read_polygons(root / "labels.gpkg")
    keep = cols["class"] == 1
    moved = shapely.transform(geoms[keep], lambda xy: xy + np.array([0.6, 0.3]))
    out = folder / f"osm{size}.gpkg"
    write_polygons(out, moved, {"class": cols["class"][keep]}, crs=crs)
    return root / "images" / "scene1.tif", out


def naive(ckpt: Path, scene: Path, layer: Path, device: str) -> dict[str, float]:
    """Whole-scene field in one pass (no windows)."""
    import rasterio
    import shapely
    from rasterio.features import rasterize

    from worldclass.data.misalign import invert_points
    from worldclass.data.vector import pixel_to_map, read_polygons
    from worldclass.mapping.align import load_field_model

    t0 = time.perf_counter()
    fm = load_field_model(ckpt, device)
    geoms, _, _ = read_polygons(layer)
    with rasterio.open(scene) as src:
        raw = src.read()
        px = pixel_to_map(geoms, ~src.transform)  # map -> scene pixels
        maps = rasterize(px, out_shape=raw.shape[1:], default_value=1, dtype="uint8")[None]
    fld = fm.field(raw, maps)
    invert_points(fld, shapely.get_coordinates(px))
    return {"seconds": time.perf_counter() - t0}


def one(size: int, device: str, way: str) -> dict[str, float]:
    from worldclass.mapping.align import align_vectors

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scene, layer = prepare(folder, size)
        ckpt = checkpoint(folder / "align.ckpt")
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if way == "windowed":
            s = align_vectors(ckpt, scene, layer, folder / "out.gpkg", device=device)
            seconds = s["seconds"]
        else:
            seconds = naive(ckpt, scene, layer, device)["seconds"]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "mpx_per_s": size * size / 1e6 / seconds,
        "seconds": seconds,
        "peak_rss_mb": peak,
        "rss_before_mb": base,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--naive-up-to", type=int, default=4096, help="largest size the naive way runs on")
    ap.add_argument("--child", nargs=2, metavar=("SIZE", "WAY"))
    a = ap.parse_args()
    if a.child:
        print(json.dumps(one(int(a.child[0]), a.device, a.child[1])))
        return
    rows = []
    for size in a.sizes:
        for way in ("windowed", "naive"):
            if way == "naive" and size > a.naive_up_to:
                continue
            cmd = [sys.executable, __file__, "--device", a.device, "--child", str(size), way]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append({"size_px": size, "way": way, **json.loads(out.strip().splitlines()[-1])})
    by = {(r["size_px"], r["way"]): r for r in rows}
    ratios = {
        str(s): {
            "speed_windowed_over_naive": round(
                by[(s, "windowed")]["mpx_per_s"] / by[(s, "naive")]["mpx_per_s"], 3
            ),
            "peak_rss_naive_over_windowed": round(
                by[(s, "naive")]["peak_rss_mb"] / by[(s, "windowed")]["peak_rss_mb"], 3
            ),
        }
        for s in a.sizes
        if (s, "naive") in by
    }
    import platform

    print(
        json.dumps(
            {
                "benchmark": "align",
                "device": a.device,
                "torch_threads": torch.get_num_threads(),
                "machine": platform.processor() or platform.machine(),
                "runs": rows,
                "ratios": ratios,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
