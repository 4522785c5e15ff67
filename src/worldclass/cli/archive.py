"""``worldclass compress`` / ``decompress``: compressed archives searchable by their hash codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldclass.cli.app import app
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
