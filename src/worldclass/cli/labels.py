"""Label commands: labels noisy (a label view with synthetic noise, for robustness studies) and labels
check (suspicious label entries ranked with cleanlab)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldclass.cli.app import app

labels_app = typer.Typer(help="Label views (synthetic noise) and label checks.", no_args_is_help=True)
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


@labels_app.command(
    "check",
    epilog="Example: worldclass labels check /data/reben.store --set data.labels=noisy30.parquet --out check/ "
    "(or a classification config instead of the store)",
)
def check(
    source: Annotated[
        Path, typer.Argument(help="Archive/store (default classification recipe) or a classification config.")
    ],
    out: Annotated[Path, typer.Option(help="Folder for label_issues.csv, summary.json, index.html.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set data.labels=noisy.parquet")
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="Use this model's probabilities instead of K-fold training (in-sample if it saw them)."
        ),
    ] = None,
    folds: Annotated[int, typer.Option(help="K of the out-of-sample cross-fitting.")] = 5,
    split: Annotated[str, typer.Option(help="Split whose labels are checked.")] = "train",
    top: Annotated[int, typer.Option(help="Entries shown in index.html.")] = 200,
) -> None:
    """Rank the (patch, class) labels most likely wrong (cleanlab, out-of-sample probabilities)."""
    from worldclass.tasks import load_config
    from worldclass.training.label_check import check_labels

    if source.is_dir():  # an archive or store: the default classification recipe on it
        cfg = load_config(None, [f"data.root={source}", f"trainer.out={out / 'folds'}", *(set_ or [])])
    else:
        cfg = load_config(source, set_)
    summary = check_labels(
        cfg,
        out,
        checkpoint=checkpoint,
        folds=folds,
        split=split,
        top=top,
        log=lambda s: typer.echo(s, err=True),
    )
    typer.echo(json.dumps({"out": str(out), **summary}))
