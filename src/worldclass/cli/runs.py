"""Run commands: report (learning curves of a run folder) and predict (classification scores)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldclass.cli.app import app
from worldclass.cli.progress import progress_bar


@app.command(epilog="Example: worldclass report runs/reben-resnet50 --json")
def report(
    run: Annotated[Path, typer.Argument(help="A run folder of `worldclass train` (holds curves.csv).")],
    out: Annotated[Path | None, typer.Option(help="HTML file to write (default: RUN/report.html).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Also print every epoch's row in the JSON summary.")
    ] = False,
) -> None:
    """HTML run report: loss and monitored-metric curves per epoch (continuous across --resume), every
    logged metric, the learning rate, best epoch. Prints a JSON summary."""
    from worldclass.training.run_report import run_report

    path, summary = run_report(run, out)
    rows = summary.pop("rows")
    if as_json:
        summary["rows"] = rows
    typer.echo(json.dumps(summary | {"report": str(path)}))


@app.command(
    epilog="Example: worldclass predict runs/x/checkpoints/best.ckpt my_patches/ --out predictions.parquet"
)
def predict(
    checkpoint: Annotated[Path, typer.Argument(help="A classification checkpoint (.ckpt).")],
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Multi-band GeoTIFFs, patch folders (single-band *_B02.tif files), folders of either, "
            "or an archive/store."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Parquet file to write.")] = Path("predictions.parquet"),
    thresholds: Annotated[
        str | None,
        typer.Option(
            help="A probability, 'tuned' (on the training data's validation split) or a thresholds.json "
            "of `evaluate --tune-thresholds`; default: tuned if the run set trainer.threshold_tuning, else 0.5."
        ),
    ] = None,
    split: Annotated[
        str, typer.Option(help="Archive/store inputs: split to score (all, train, ...).")
    ] = "all",
    data: Annotated[
        Path | None, typer.Option(help="Training data for --thresholds tuned (default: the run's).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Patches per forward pass.")] = 64,
    workers: Annotated[int, typer.Option(help="DataLoader workers (archive/store inputs).")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Class scores of every patch -> parquet (patch_id, source, labels, top_label, top_score, one score
    column per class). Prints a JSON summary."""
    from worldclass.models.checkpoint import checkpoint_meta
    from worldclass.tasks import get_task

    task = get_task(checkpoint_meta(checkpoint).task)
    with progress_bar("predicting") as update:
        result = task.predict(
            checkpoint,
            inputs,
            out,
            thresholds=thresholds,
            split=split,
            data=data,
            batch_size=batch_size,
            num_workers=workers,
            device=device,
            progress=update,
        )
    typer.echo(json.dumps(result))
