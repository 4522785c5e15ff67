"""Rule-based vs learned (frame-field) building polygons on the same predicted maps, over seeds.

Per seed: a synthetic footprint archive (:mod:`worldclass.data.synth.footprints`, all five kinds,
``--scenes`` training scenes of ``--size`` px) -> ``worldclass train`` (segmentation task, U-Net/ResNet18,
``model.frame_field=true``) -> ``map`` of two held-out scenes, one of right-angle buildings (rectangles,
L shapes) and one of buildings whose walls meet at other angles (parallelograms, trapezoids, chamfered)
-> polygons of the same class map by: raw pixel outlines; coverage simplification (0.5 m); the
right-angle rule (``--regularize``); the learned field (``--frame-field``); and the outline-only ablation
(:func:`frame_regularize` with no field: each wall keeps the direction of its simplified outline) ->
``polygon_metrics`` against the exact footprints. Prints JSON (mean ± std over seeds per family and
method, sample std) and writes it with the archive seeds and held-out scene seeds to ``--out``.

    python benchmarks/frame_field.py --seeds 0 1 2 --out results/frame-field-footprints
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from rasterio.transform import from_origin

from worldclass.data.synth.footprints import FOOTPRINT_CLASSES, footprint_scene, synth_footprints
from worldclass.data.synth.footprints import write_footprint_rasters as write_rasters
from worldclass.data.vector import pixel_to_map, read_polygons
from worldclass.mapping.frame_field import field_path_for, frame_regularize
from worldclass.mapping.polygonize import polygonize
from worldclass.mapping.predictor import load_predictor
from worldclass.mapping.regularize import regularize
from worldclass.mapping.vectorize import chunk_polygons
from worldclass.mapping.whole_scene import map_scenes
from worldclass.metrics.polygons import polygon_metrics
from worldclass.tasks import load_config
from worldclass.training import train

FAMILIES = {
    "right angles": ("rectangle", "l_shape"),
    "other angles": ("parallelogram", "trapezoid", "chamfered"),
}
KEYS = ("iou", "ap", "ap50", "c_iou", "n_ratio", "polis", "mta", "boundary_iou")
GSD = 0.3


def _train(root: Path, out: Path, seed: int, epochs: int) -> Path:
    cfg = load_config(
        None,
        [
            "task=segmentation",
            f"data.root={root}",
            "data.dataset=scenes",
            f"data.classes={FOOTPRINT_CLASSES}",
            "data.vector=labels.gpkg",
            "data.patch_size=96",
            "data.samples_per_epoch=320",
            "data.batch_size=16",
            "data.num_workers=0",
            "model.encoder=resnet18",
            "model.frame_field=true",
            "optim.lr=0.003",
            f"optim.max_epochs={epochs}",
            "optim.patience=20",
            f"trainer.seed={seed}",
            f"trainer.out={out}",
            "trainer.progress=false",
        ],
    )
    return Path(train(cfg, overwrite=True).best_checkpoint)


def _outline_only(map_path: Path, transform: Any) -> np.ndarray:
    """The ablation: walls from the outline's own directions (no field), on the same class map."""
    import rasterio

    with rasterio.open(map_path) as src:
        data = src.read(1)
    geoms, values = chunk_polygons(data, 0, 0, 0.0)
    b = geoms[(values == 1) & (shapely.area(geoms) >= 4 / GSD**2)]
    out = np.array([frame_regularize(g, None) or regularize(g) for g in b], dtype=object)
    return pixel_to_map(out, transform)


def run_seed(seed: int, work: Path, *, size: int, scenes: int, epochs: int) -> dict[str, Any]:
    root = synth_footprints(work / "archive", size=size, scenes=scenes, seed=seed)
    t0 = time.perf_counter()
    ckpt = _train(root, work / "run", seed, epochs)
    train_s = time.perf_counter() - t0
    predictor = load_predictor(ckpt, device="cpu")
    rows: dict[str, Any] = {"train_seconds": round(train_s, 1), "families": {}}
    for k, (family, kinds) in enumerate(FAMILIES.items()):
        scene_seed = 10_000 + 100 * seed + k
        rgb, labels, polys = footprint_scene(scene_seed, size, 64, kinds)
        transform = from_origin(600000.0, 5000000.0, GSD, GSD)
        held = work / "held"
        image = write_rasters(held, f"test{k}.tif", rgb, labels, transform, 32633)
        [mapped] = map_scenes(predictor, [image], work / "maps" / f"test{k}.tif", tile=256, overlap=64)
        ref = pixel_to_map(np.array(polys, dtype=object), transform)
        variants: dict[str, dict[str, Any]] = {
            "raw outline": {},
            "simplified 0.5 m": {"simplify": 0.5},
            "right-angle rule": {"regularize": True},
            "learned frame field": {"frame_field": field_path_for(str(mapped.out))},
        }
        metrics: dict[str, dict[str, float]] = {}
        for name, opts in variants.items():
            out = work / "maps" / f"test{k}-{name.split()[0]}.gpkg"
            polygonize(mapped.out, out, classes=["building"], min_area=4.0, workers=2, **opts)
            metrics[name] = polygon_metrics(read_polygons(out)[0], ref, step=GSD)
        metrics["outline only (ablation)"] = polygon_metrics(
            _outline_only(mapped.out, transform), ref, step=GSD
        )
        rows["families"][family] = {
            "scene_seed": scene_seed,
            "buildings": len(polys),
            "metrics": {m: {key: float(v[key]) for key in KEYS} for m, v in metrics.items()},
        }
    return rows


def summarise(per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    first = next(iter(per_seed.values()))
    for family, block in first["families"].items():
        out[family] = {}
        for method in block["metrics"]:
            vals = {
                k: [per_seed[s]["families"][family]["metrics"][method][k] for s in per_seed] for k in KEYS
            }
            out[family][method] = {k: f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" for k, v in vals.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--scenes", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    per_seed = {}
    with tempfile.TemporaryDirectory() as tmp:
        for s in args.seeds:
            per_seed[s] = run_seed(
                s, Path(tmp) / f"seed{s}", size=args.size, scenes=args.scenes, epochs=args.epochs
            )
    result = {
        "setup": {
            "archive": f"synth_footprints(size={args.size}, scenes={args.scenes}, seed=<seed>), all kinds",
            "model": "U-Net/ResNet18 + frame-field head, 96 px windows, 320 per epoch",
            "epochs": args.epochs,
            "held_out": "footprint_scene(10000 + 100 * seed + family index), one scene per family",
            "seeds": args.seeds,
        },
        "summary": summarise(per_seed),
        "per_seed": per_seed,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
