"""Label commands: labels noisy (a label view with synthetic noise, for robustness studies)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldclass.cli.app import app

labels_app = typer.Typer(help="Label views of an archive (synthetic noise).", no_args_is_help=True)
app.add_typer(labels_app, name="labels")


@labels_app.command(
    "noisy",
    epilog="Example: worldclass labels noisy /data/reben.store --mode mixed --rate 0.3 --out noisy30.parquet",
)
def noisy(
    root: Annotated[Path, typer.Argument(help="BigEarthNet archive or worldclass store.")],
    out: Annotated[Path, typer.Option(help="Label view to write (.parquet; report beside it).")],
    mode: Annotated[str, typer.Option(help="flip, subtractive, additive, mixed or substitute.")] = "mixed",
    rate: Annotated[float, typer.Option(help="Noise rate (see worldclass.data.noise).")] = 0.3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    splits: Annotated[
        str, typer.Option(help="Comma-separated splits made noisy (others stay clean).")
    ] = "train",
    num_classes: Annotated[int, typer.Option(help="19 or 43 classes.")] = 19,
) -> None:
    """Write a label view with injected noise (no pixel copied); train with --set data.labels=OUT."""
    from worldclass.data.label_view import write_noisy_view

    report = write_noisy_view(
        root, out, mode=mode, rate=rate, seed=seed, splits=splits.split(","), num_classes=num_classes
    )
    keys = ("mode", "rate", "patches", "removed", "added_per_present", "noisy_samples", "emptied_samples")
    typer.echo(json.dumps({"out": str(out), **{k: report[k] for k in keys}}))
