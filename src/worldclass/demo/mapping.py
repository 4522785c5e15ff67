"""Mapping part of the demo: train a small segmenter on synthetic aerial scenes (vector labels), map a
larger unseen scene to a COG, evaluate it, polygonize the buildings and preview everything in the report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely

from worldclass.data.scenes import Scene
from worldclass.data.synth.aerial import AERIAL_CLASSES, synth_scenes, write_scene, write_vector_labels
from worldclass.report import Report

#: CPU-sized segmentation run (the full recipe is configs/inria-unet.yaml).
DEMO_SEGMENTATION = [
    "task=segmentation",
    "data.dataset=scenes",
    f"data.classes={AERIAL_CLASSES}",
    "data.vector=labels.gpkg",
    "data.patch_size=128",
    "data.samples_per_epoch=320",
    "data.batch_size=16",
    "data.num_workers=0",
    "model.arch=unet",
    "model.encoder=resnet18",
    "model.frame_field=true",
    "optim.lr=0.003",
    "optim.patience=10",
    "trainer.progress=false",
]


def run_mapping_demo(
    report: Report, out: Path, *, epochs: int = 6, scene_size: int = 1536, log: Callable[[str], None] = print
) -> dict[str, Any]:
    from worldclass.data.vector import read_polygons
    from worldclass.mapping.frame_field import field_path_for
    from worldclass.mapping.polygonize import polygonize
    from worldclass.mapping.predictor import load_predictor
    from worldclass.mapping.whole_scene import map_scenes
    from worldclass.metrics.polygons import polygon_metrics
    from worldclass.tasks import get_task, load_config
    from worldclass.tasks.segmentation.evaluate import evaluate_scenes
    from worldclass.training import train

    root = out / "archives" / "aerial"
    log(f"  aerial training scenes (vector labels) -> {root}")
    if not (root / "labels.gpkg").is_file():
        synth_scenes(root, size=768, scenes=2, seed=7)
    cfg = load_config(
        None,
        [
            f"data.root={root}",
            f"trainer.out={out / 'runs' / 'unet'}",
            f"optim.max_epochs={epochs}",
            *DEMO_SEGMENTATION,
        ],
    )
    log(f"  train U-Net/ResNet18 + frame-field head for {epochs} epochs (CE + soft IoU + frame field)")
    result = train(cfg, overwrite=True)  # the demo owns its output folder
    scene = out / "archives" / "aerial-unseen" / "scene.tif"
    labels = scene.with_name("labels.tif")
    if not scene.is_file():
        write_scene(scene, scene_size, scene_size, seed=4242, labels=labels, origin=(501000.0, 5000000.0))
    predictor = load_predictor(result.best_checkpoint)
    log(f"  map an unseen {scene_size} x {scene_size} scene -> COG")
    [mapped] = map_scenes(
        predictor, [scene], out / "maps" / "scene_classes.tif", tile=256, overlap=32, batch_size=8
    )
    metrics = evaluate_scenes(
        predictor, [Scene(scene, labels=labels, group="unseen scene")], tile=256, overlap=32
    )
    log("  polygonize buildings (sieve 4 m², simplify 0.5 m, regularize)")
    poly = polygonize(
        mapped.out,
        out / "maps" / "buildings.gpkg",
        classes=["building"],
        min_area=4.0,
        simplify=0.5,
        regularize=True,
    )
    with rasterio.open(scene) as src:
        transform, crs = src.transform, src.crs.to_string()
    ref_path = scene.with_name("reference.gpkg")
    write_vector_labels(ref_path, 4242, scene_size, scene_size, transform=transform, crs=crs)
    ref, cols, _ = read_polygons(ref_path)
    pred, _, _ = read_polygons(poly.out)
    ref_b = ref[cols["class"] == 1]
    pm = polygon_metrics(pred, ref_b, step=1.0)
    variants: dict[str, dict[str, Any]] = {
        "raw outline": {},
        "simplified 0.5 m": {"simplify": 0.5},
        "right-angle rule": {"regularize": True},
        "learned frame field": {"frame_field": field_path_for(str(mapped.out))},
    }
    compared = {}
    for name, opts in variants.items():
        v = polygonize(
            mapped.out,
            out / "maps" / f"buildings-{name.split()[0]}.gpkg",
            classes=["building"],
            min_area=4.0,
            **opts,
        )
        compared[name] = polygon_metrics(read_polygons(v.out)[0], ref_b, step=1.0)
    report.heading("Mapping: segmentation -> whole-scene COG -> polygons")
    report.text(
        f"U-Net/ResNet18 trained {result.epochs} epochs on two 768 px synthetic aerial scenes (0.3 m, labels "
        f"rasterized on the fly from a GeoPackage). Unseen {scene_size} x {scene_size} px scene mapped in "
        f"{mapped.seconds:.1f} s ({mapped.pixels / 1e6 / mapped.seconds:.2f} Mpx/s on this CPU, tiles 256 px, "
        f"overlap 32, Hann blending) to {mapped.out.name}; {poly.polygons} building polygons in "
        f"{poly.seconds:.2f} s -> {poly.out.name}. The U-Net also learns building edges and a frame field "
        "(two wall directions per pixel), written beside the map as .field.tif; the table compares the "
        "polygons of the same class map: raw pixel outlines, simplified, squared by the right-angle rule, "
        "and walls fitted to the learned field (polygonize --frame-field)."
    )
    get_task(cfg.task).report_section(report, metrics)
    keys = (
        "iou",
        "ap",
        "ap50",
        "ar",
        "boundary_iou",
        "c_iou",
        "n_ratio",
        "polis",
        "mta",
        "matched",
        "predicted",
    )
    report.table(
        ["polygon metric (buildings vs reference)", *compared],
        [[k, *(f"{m[k]:.3f}" if isinstance(m[k], float) else m[k] for m in compared.values())] for k in keys],
    )
    report.figure(_preview(scene, labels, mapped.out, pred), "map preview")
    return {"iou": metrics["overall"]["iou"], "polygons": poly.polygons, "polygon_iou": pm["iou"]}


def _preview(scene: Path, labels: Path, classes: Path, polygons: np.ndarray, size: int = 512) -> Any:
    from rasterio.windows import Window
    from rasterio.windows import bounds as wbounds

    from worldclass.report.map_plots import map_preview

    win = Window(0, 0, size, size)
    with rasterio.open(scene) as s, rasterio.open(classes) as c, rasterio.open(labels) as lab:
        rgb, cls, ref = s.read(window=win), c.read(1, window=win), lab.read(1, window=win)
        left, bottom, right, top = wbounds(win, s.transform)
    box = shapely.box(left, bottom, right, top)
    inside = [g for g in polygons if g.intersects(box)]
    return map_preview(rgb, cls, inside, (left, right, bottom, top), AERIAL_CLASSES, reference=ref)
