"""``worldclass compress`` / ``decompress``: compressed archives searchable by their hash codes; ``experiment
rate-retrieval``: bits per pixel against mAP@k, codec vs Deflate/JPEG2000 + post-hoc hashing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldclass.cli.app import _seeds, app, experiment_app
from worldclass.cli.options import Address, Executor, RayWorkers
from worldclass.cli.progress import progress_bar


@app.command(
    epilog="Example: worldclass compress /data/reben.store --checkpoint runs/codec/checkpoints/best.ckpt --out /data/reben.wca"
)
def compress(
    store: Annotated[Path, typer.Argument(help="A worldclass store (BigEarthNet).")],
    checkpoint: Annotated[Path, typer.Option(help="A codec checkpoint (task: codec).")],
    out: Annotated[Path, typer.Option(help="Archive folder to create or resume.")],
    workers: Annotated[int, typer.Option(help="Encoder processes (0 = in this process).")] = 0,
    chunk: Annotated[int, typer.Option(help="Patches per work unit (one transaction).")] = 256,
    batch_size: Annotated[int, typer.Option(help="Patches per encoder batch.")] = 64,
    executor: Executor = "local",
    address: Address = None,
    ray_workers: RayWorkers = 2,
) -> None:
    """Compress every patch into a bitstream and a hash code (resumable, also across executors; every
    record checksummed and verified); the archive is searchable without decoding."""
    from worldclass.errors import ConfigError
    from worldclass.retrieval.archive import CompressJob
    from worldclass.training.executors import check_executor, run_units

    check_executor(executor)
    if workers < 0:
        raise ConfigError(f"--workers {workers}: use 0 (this process) or a positive number of processes")
    with CompressJob(store, checkpoint, out, chunk=chunk, batch_size=batch_size) as job:
        todo = job.prepare()
        with progress_bar("compressing") as update:
            if executor == "local":
                job.run_local(todo, workers, update)
            else:
                run_units(job, todo, executor=executor, address=address, workers=ray_workers, progress=update)
        result = job.finalize()
    info = job.info
    n = max(info["n_patches"], 1)
    typer.echo(
        json.dumps(
            {
                "archive": str(result.store),
                "patches": result.total,
                "encoded": result.encoded,
                "skipped_existing": result.skipped,
                "bpp": round(info["bpp"], 4),
                "bytes_per_patch": round((info["bytes"]["bitstreams"] + info["bytes"]["codes"]) / n, 1),
                "source_bytes_per_patch": round(info["source_bytes"] / n, 1),
                "ratio": round(
                    info["source_bytes"] / max(info["bytes"]["bitstreams"] + info["bytes"]["codes"], 1), 2
                ),
                "complete": result.complete,
            }
        )
    )


@app.command(epilog="Example: worldclass decompress /data/reben.wca --out decoded/ --ids ids.txt")
def decompress(
    archive: Annotated[Path, typer.Argument(help="A compressed archive (from `worldclass compress`).")],
    out: Annotated[Path, typer.Option(help="Folder for <patch_id>.tif files and quality.json.")],
    ids: Annotated[Path | None, typer.Option(help="File of patch ids, one per line (default: all).")] = None,
    compare: Annotated[
        bool, typer.Option(help="Report PSNR/SSIM per band against the source store (when reachable).")
    ] = True,
) -> None:
    """Restore patches as GeoTIFFs (the codec's bands at 10 m) and report the loss per band."""
    from worldclass.errors import MissingFileError
    from worldclass.retrieval.decompress import decompress as run

    wanted = None
    if ids is not None:
        if not ids.is_file():
            raise MissingFileError(f"{ids}: id file not found")
        wanted = [line.strip() for line in ids.read_text().splitlines() if line.strip()]
    with progress_bar("decoding") as update:
        result = run(archive, out, ids=wanted, compare=compare, progress=update)
    typer.echo(json.dumps(result))


@experiment_app.command(
    "rate-retrieval",
    epilog=(
        "Example: worldclass experiment rate-retrieval configs/codec-reben.yaml --bpp 0.25,0.5,1,2 "
        "--features runs/reben-s2/checkpoints/best.ckpt --jpeg2000 2,5,10 --seeds 0,1,2"
    ),
)
def experiment_rate_retrieval(
    config: Annotated[Path, typer.Argument(help="A codec config (task: codec) on a BigEarthNet store.")],
    bpp: Annotated[str, typer.Option(help="Target bits per pixel of the codec runs, comma-separated.")],
    features: Annotated[
        Path | None,
        typer.Option(help="Classifier checkpoint (same S2 bands) for the Deflate/JPEG2000 baselines."),
    ] = None,
    jpeg2000: Annotated[
        str, typer.Option(help="JPEG2000 compressed sizes in % of the raw bands, comma-separated.")
    ] = "2,5,10",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds of the codec runs.")] = "0,1,2",
    k: Annotated[int, typer.Option(help="Retrieved images per query.")] = 10,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set data.root=...")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print results.json's summary and baselines instead of the table.")
    ] = False,
) -> None:
    """Bits per pixel vs mAP@k: the codec's hash codes (no decoding) against Deflate/JPEG2000 storage with
    post-hoc hashing of decoded features; table, curve and every point under trainer.out (resumable)."""
    from worldclass.errors import ConfigError
    from worldclass.tasks import load_config
    from worldclass.training.rate_retrieval import run_rate_retrieval

    try:
        targets = [float(v) for v in bpp.split(",") if v.strip()]
        ratios = [float(v) for v in jpeg2000.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--bpp {bpp!r} / --jpeg2000 {jpeg2000!r}: give comma-separated numbers") from None
    if not targets or min(targets) <= 0 or any(not 0 < r < 100 for r in ratios):
        raise ConfigError("--bpp values must be > 0 and --jpeg2000 sizes in (0, 100) %")
    if features is not None and not features.is_file():
        raise ConfigError(f"--features {features}: checkpoint not found")
    result = run_rate_retrieval(
        load_config(config, set_),
        bpps=targets,
        seeds=_seeds(seeds) or [0, 1, 2],
        features=features,
        ratios=ratios,
        k=k,
        log=(lambda line: typer.echo(line, err=True)) if as_json else typer.echo,
    )
    if as_json:
        typer.echo(json.dumps({"summary": result["summary"], "baselines": result["baselines"]}))
    else:
        typer.echo(result["table"])
