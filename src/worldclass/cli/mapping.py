"""Mapping commands: synth aerial, map, polygonize, polygon-metrics, inria-submission, benchmark-submission."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldclass.cli.app import app, synth_app
from worldclass.cli.options import Address, Executor, RayWorkers
from worldclass.cli.progress import progress_bar


def _ints(text: str | None) -> list[int] | None:
    return [int(v) for v in text.split(",")] if text else None


@synth_app.command("aerial", epilog="Example: worldclass synth aerial /tmp/inria --size 1000 --tiles 6")
def synth_aerial(
    out: Annotated[Path, typer.Argument(help="Folder to write into.")],
    size: Annotated[int, typer.Option(help="Tile/scene side in pixels (0.3 m).")] = 1000,
    tiles: Annotated[int, typer.Option(help="Inria: tiles per training city; scenes: number of scenes.")] = 6,
    layout: Annotated[
        str, typer.Option(help="inria (official layout, 0/255 gt) or scenes (images/, labels/, labels.gpkg).")
    ] = "inria",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    style: Annotated[
        str,
        typer.Option(
            help="scenes layout: plain, or hard (roofs in ground/road/vegetation-like materials, shadows, trees "
            "over roofs, road markings, illumination changes)."
        ),
    ] = "plain",
) -> None:
    """Synthetic aerial scenes: buildings (rotated, L shapes, shared walls), roads, trees, water + labels."""
    from worldclass.data.synth.aerial import synth_inria, synth_scenes

    if layout not in ("inria", "scenes"):
        from worldclass.errors import ConfigError

        raise ConfigError(f"--layout {layout!r}: choose inria or scenes")
    root = (
        synth_inria(out, size=size, tiles=tiles, seed=seed)
        if layout == "inria"
        else synth_scenes(out, size=size, scenes=tiles, seed=seed, style=style)
    )
    typer.echo(str(root))


@app.command(
    "map",
    epilog="Example: worldclass map runs/seg/checkpoints/best.ckpt city.tif --out city_map.tif --tile 512 --overlap 64",
)
def map_(
    checkpoint: Annotated[Path, typer.Argument(help="Segmentation checkpoint (.ckpt).")],
    scenes: Annotated[list[Path], typer.Argument(help="GeoTIFF/VRT scenes or folders of them.")],
    out: Annotated[Path, typer.Option(help="Output .tif (one scene) or folder (several).")],
    tile: Annotated[int, typer.Option(help="Tile side in pixels (multiple of 32).")] = 512,
    overlap: Annotated[int, typer.Option(help="Overlap between tiles in pixels.")] = 64,
    blend: Annotated[str, typer.Option(help="hann (weighted) or crop (keep tile centres).")] = "hann",
    batch_size: Annotated[int, typer.Option(help="Tiles per forward pass.")] = 8,
    probabilities: Annotated[
        bool, typer.Option(help="Also write <out>.probs.tif (uint8, scale 1/254).")
    ] = False,
    bands: Annotated[
        str | None, typer.Option(help="1-based scene bands in checkpoint order, e.g. 1,2,3.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = "auto",
    pixel_grid: Annotated[
        bool,
        typer.Option(help="Map scenes without a CRS (Vaihingen tiles, CrowdAI JPEGs) in pixel coordinates."),
    ] = False,
    strip_rows: Annotated[
        int,
        typer.Option(help="Split scenes taller than this into strips of rows, one work unit each (0: off)."),
    ] = 0,
    compile: Annotated[
        bool, typer.Option(help="torch.compile the network (pays off on large GPU runs).")
    ] = False,
    executor: Executor = "local",
    address: Address = None,
    ray_workers: RayWorkers = 2,
) -> None:
    """Whole-scene inference with bounded memory -> Cloud-Optimized GeoTIFF class maps (uint8, nodata 255).
    One work unit per scene (manifest beside the maps): a rerun maps only the scenes not finished."""
    import time

    from worldclass.mapping.job import MapJob
    from worldclass.training.executors import run_units

    job = MapJob(
        checkpoint,
        scenes,
        out,
        tile=tile,
        overlap=overlap,
        blend=blend,
        batch_size=batch_size,
        probabilities=probabilities,
        band_indexes=_ints(bands),
        device=device,
        pixel_grid=pixel_grid,
        compile=compile,
        strip_rows=strip_rows,
    )
    todo = job.prepare()
    gpus = 1.0 if job.predictor().device.type == "cuda" else 0.0
    start = time.perf_counter()
    with progress_bar("mapping tiles") as update:
        run_units(
            job,
            todo,
            executor=executor,
            address=address,
            workers=ray_workers,
            gpus_per_worker=gpus,
            progress=update,
        )
    job.finalize()  # split scenes: their strips into one map
    seconds = time.perf_counter() - start
    pending = {u.id for u in todo}
    maps: dict[str, tuple[str, bool]] = {}  # map -> (scene, any of its units run now); strips share a map
    for u in job.units():
        key = u.final or u.out
        maps[key] = (u.scene, maps.get(key, ("", False))[1] or u.id in pending)
    for out_map, (scene, now) in maps.items():
        pixels = _pixels(out_map)
        typer.echo(
            json.dumps(
                {
                    "scene": scene,
                    "map": out_map,
                    "mpx": round(pixels / 1e6, 3),
                    "mapped_now": now,
                    "seconds_all": round(seconds, 2),
                }
            )
        )


def _pixels(path: str) -> int:
    import rasterio

    with rasterio.open(path) as src:
        return int(src.width * src.height)


@app.command(
    epilog="Example: worldclass polygonize city_map.tif --out buildings.gpkg --min-area 4 --simplify 0.5 --regularize"
)
def polygonize(
    map_path: Annotated[Path, typer.Argument(metavar="MAP", help="Class map from `worldclass map`.")],
    out: Annotated[Path, typer.Option(help="Output .gpkg (default format), .fgb, .geojson (WGS84) or .shp.")],
    classes: Annotated[
        str | None, typer.Option(help="Comma-separated class names or ids; default all but class 0.")
    ] = None,
    min_area: Annotated[
        float, typer.Option(help="Drop (sieve) regions smaller than this, map units².")
    ] = 0.0,
    simplify: Annotated[
        float, typer.Option(help="Topology-preserving simplification tolerance, map units.")
    ] = 0.0,
    regularize: Annotated[
        bool,
        typer.Option(
            help="Square building outlines to right angles (neighbours follow; land cover only simplified)."
        ),
    ] = False,
    regularize_classes: Annotated[
        str | None,
        typer.Option(help="Classes to square (comma-separated); default: names with building/house/roof."),
    ] = None,
    frame_field: Annotated[
        Path | None,
        typer.Option(
            help="MAP.field.tif written by `worldclass map` with a frame-field model: building walls follow "
            "the learned directions (implies --regularize)."
        ),
    ] = None,
    chunk: Annotated[int, typer.Option(help="Chunk side in pixels (memory bound).")] = 2048,
    workers: Annotated[int, typer.Option(help="Processes vectorising chunks (0 = in this process).")] = 2,
) -> None:
    """Class map -> polygons with class id/name, area, perimeter; chunked, seams merged, shared edges kept."""
    from worldclass.mapping.polygonize import polygonize as run

    with progress_bar("polygonizing chunks") as update:
        r = run(
            map_path,
            out,
            classes=classes.split(",") if classes else None,
            min_area=min_area,
            simplify=simplify,
            regularize=regularize_classes.split(",") if regularize_classes else regularize,
            frame_field=frame_field,
            chunk=chunk,
            workers=workers,
            progress=update,
        )
    typer.echo(
        json.dumps(
            {
                "out": str(r.out),
                "polygons": r.polygons,
                "seconds": round(r.seconds, 2),
                "mpx_per_s": round(r.pixels / 1e6 / r.seconds, 2),
            }
        )
    )


@app.command("polygon-metrics", epilog="Example: worldclass polygon-metrics buildings.gpkg reference.gpkg")
def polygon_metrics(
    predicted: Annotated[Path, typer.Argument(help="Predicted polygons (any vector format).")],
    reference: Annotated[
        Path, typer.Argument(help="Reference polygons (reprojected to the prediction's CRS).")
    ],
    step: Annotated[
        float, typer.Option(help="Contour sampling step for the tangent-angle error, map units.")
    ] = 1.0,
    classes: Annotated[
        str | None,
        typer.Option(help="Predicted classes to compare (names or ids, comma-separated); default all."),
    ] = None,
    reference_classes: Annotated[
        str | None,
        typer.Option(help="Reference classes (values of its class column); default: the predicted ones."),
    ] = None,
    reference_column: Annotated[
        str | None,
        typer.Option(help="Class column of the reference (default: class_name, class or class_id)."),
    ] = None,
    boundary_width: Annotated[
        float, typer.Option(help="Width of the boundary region for boundary IoU, map units.")
    ] = 1.0,
    max_detections: Annotated[
        int | None, typer.Option(help="COCO maxDets: best-scored predictions kept (default: all).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """COCO AP/AR, one-to-one matches (IoU >= 0.5), boundary IoU, C-IoU, N-ratio, PoLiS and max tangent
    angle error of predicted vs reference polygons of the same classes, in a projected CRS."""
    from worldclass.cli.tables import print_table
    from worldclass.mapping.polygon_evaluation import compare_polygon_files

    result = compare_polygon_files(
        predicted,
        reference,
        classes=classes.split(",") if classes else None,
        reference_classes=reference_classes.split(",") if reference_classes else None,
        reference_column=reference_column,
        step=step,
        boundary_width=boundary_width,
        max_detections=max_detections,
    )
    if as_json:
        typer.echo(json.dumps(result))
        return
    rows = [[k, f"{v:.4f}" if isinstance(v, float) else v] for k, v in result.items()]
    print_table(["metric", "value"], rows, title=f"{predicted} vs {reference}")


@app.command("inria-submission", epilog="Example: worldclass inria-submission maps/ --out submission/")
def inria_submission(
    maps: Annotated[
        list[Path], typer.Argument(help="Class maps named like the test tiles (or their folder).")
    ],
    out: Annotated[Path, typer.Option(help="Folder for the 0/255 tiles and submission.zip.")],
    building_class: Annotated[
        int | None, typer.Option(help="Class index of 'building' (default: the maps' 'building' class).")
    ] = None,
) -> None:
    """Write the Inria leaderboard format: uint8 0/255 single-band GeoTIFF per tile, official names, zipped."""
    from worldclass.mapping.inria_submission import write_inria_submission

    tiles = write_inria_submission(maps, out, building_class=building_class)
    typer.echo(json.dumps({"tiles": len(tiles), "zip": str(Path(out) / "submission.zip")}))


@app.command(
    "benchmark-submission",
    epilog="Example: worldclass benchmark-submission vaihingen maps/ --out submission/",
)
def benchmark_submission(
    dataset: Annotated[str, typer.Argument(help="Registered dataset: inria, vaihingen, potsdam or crowdai.")],
    maps: Annotated[list[Path], typer.Argument(help="Class maps of the test tiles (or their folder).")],
    out: Annotated[Path, typer.Option(help="Folder for the submission files.")],
) -> None:
    """Write a benchmark's official submission: Inria 0/255 tiles, ISPRS colour-coded label images (both
    zipped), CrowdAI COCO results JSON."""
    from worldclass.mapping.submission import benchmark_submission as write

    files = write(dataset, maps, out)
    typer.echo(json.dumps({"dataset": dataset, "files": len(files), "out": str(out)}))


@app.command("crowdai-leakage", epilog="Example: worldclass crowdai-leakage /data/crowdai --out leakage.json")
def crowdai_leakage(
    root: Annotated[Path, typer.Argument(help="CrowdAI root (train/images, val/images).")],
    max_distance: Annotated[int, typer.Option(help="pHash bits that may differ (0: identical images).")] = 0,
    out: Annotated[Path | None, typer.Option(help="Also write the report (JSON) here.")] = None,
) -> None:
    """How many val tiles are train tiles again (perceptual hash): read val scores with that in mind."""
    from worldclass.data.crowdai import crowdai_leakage as report_leakage
    from worldclass.io import write_json_atomic

    with progress_bar("hashing images") as update:
        report = report_leakage(root, max_distance=max_distance, progress=update)
    if out is not None:
        write_json_atomic(out, report)
    typer.echo(
        json.dumps(
            {k: {"count": v["count"], "share": round(v["share"], 4)} for k, v in report["pairs"].items()}
        )
    )


@app.command(
    epilog="Example: worldclass align city.tif osm_buildings.gpkg --checkpoint runs/align/checkpoints/best.ckpt "
    "--out aligned.gpkg"
)
def align(
    scene: Annotated[Path, typer.Argument(help="Image GeoTIFF/VRT the map should fit.")],
    labels: Annotated[Path, typer.Argument(help="Polygon layer to move (any vector format, any CRS).")],
    checkpoint: Annotated[Path, typer.Option(help="Alignment checkpoint (task: alignment).")],
    out: Annotated[
        Path, typer.Option(help="Aligned layer (.gpkg, .fgb, .geojson, .shp); same attributes and CRS.")
    ],
    class_column: Annotated[
        str | None, typer.Option(help="Column naming each polygon's map class; default: all are --class.")
    ] = None,
    map_class: Annotated[
        str | None, typer.Option("--class", help="Map class of every polygon (default: the model's first).")
    ] = None,
    tile: Annotated[int, typer.Option(help="Core window side in pixels.")] = 512,
    margin: Annotated[int, typer.Option(help="Context around each window in pixels.")] = 128,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = "auto",
) -> None:
    """Move a map layer's vertices onto the image with a learned displacement field (windowed, CRS kept)."""
    from worldclass.mapping.align import align_vectors

    with progress_bar("aligning windows") as update:
        summary = align_vectors(
            checkpoint,
            scene,
            labels,
            out,
            class_column=class_column,
            map_class=map_class,
            tile=tile,
            margin=margin,
            device=device,
            progress=update,
        )
    typer.echo(json.dumps(summary))
