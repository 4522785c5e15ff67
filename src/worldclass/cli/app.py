"""Typer application and the data commands (encode, stats, splits, synth, demo)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldclass.cli.progress import progress_bar

app = typer.Typer(
    name="worldclass",
    help="Deep learning on Earth-observation archives: BigEarthNet v1/v2 data, stores, splits, statistics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
synth_app = typer.Typer(help="Write synthetic archives in official layouts.", no_args_is_help=True)
app.add_typer(synth_app, name="synth")


@app.command(epilog="Example: worldclass encode /data/reBEN /data/reben.store --workers 8")
def encode(
    source: Annotated[Path, typer.Argument(help="Official BigEarthNet v1 or v2 root folder.")],
    out: Annotated[Path, typer.Argument(help="Store folder to create or resume.")],
    workers: Annotated[int, typer.Option(help="Reader processes (0 = in this process).")] = 2,
    allow_missing: Annotated[
        bool, typer.Option(help="Complete the store without unreadable patches.")
    ] = False,
) -> None:
    """Convert an official archive into a worldclass store (resumable, verified)."""
    from worldclass.data.encode import encode as run

    with progress_bar("encoding") as update:
        result = run(source, out, workers=workers, allow_missing=allow_missing, progress=update)
    typer.echo(
        json.dumps(
            {
                "store": str(result.store),
                "patches": result.total,
                "encoded": result.encoded,
                "skipped_existing": result.skipped,
                "missing": sorted(result.problems),
                "complete": result.complete,
            }
        )
    )


@app.command(epilog="Example: worldclass stats /data/reben.store --split train --json")
def stats(
    source: Annotated[Path, typer.Argument(help="Archive root or store.")],
    split: Annotated[
        str | None, typer.Option(help="One split (train/validation/test); default all three.")
    ] = None,
    num_classes: Annotated[int, typer.Option(help="19 or 43.")] = 19,
    include_snow_cloud: Annotated[bool, typer.Option(help="Count snow/cloud patches too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Per-class counts and imbalance statistics (IRLbl, MeanIR, MaxIR, CVIR, SCUMBLE, cardinality)."""
    from worldclass.data.summary import split_statistics

    result = split_statistics(
        source,
        splits=[split] if split else None,
        num_classes=num_classes,
        include_snow_cloud=include_snow_cloud,
    )
    if as_json:
        typer.echo(json.dumps(result, indent=1))
        return
    from worldclass.cli.tables import print_stats

    print_stats(result)


@app.command(epilog="Example: worldclass splits /data/v1.store --method geographic --out splits.parquet")
def splits(
    source: Annotated[Path, typer.Argument(help="Archive root or store.")],
    method: Annotated[str, typer.Option(help="official, geographic, random or country.")] = "geographic",
    out: Annotated[Path | None, typer.Option(help="Write patch_id,split (parquet or .csv).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for random splits.")] = 0,
    validation: Annotated[list[str] | None, typer.Option(help="Country codes for validation.")] = None,
    test: Annotated[list[str] | None, typer.Option(help="Country codes for test.")] = None,
    leak_distance: Annotated[float, typer.Option(help="Leak report distance in m.")] = 1200.0,
) -> None:
    """Assign splits and report spatial leakage between test and train patches."""
    from worldclass.data.summary import make_splits

    report = make_splits(
        source,
        method,
        out=out,
        seed=seed,
        validation=validation or [],
        test=test or [],
        leak_distance=leak_distance,
    )
    typer.echo(json.dumps(report))


@synth_app.command(
    "bigearthnet", epilog="Example: worldclass synth bigearthnet /tmp/ben2 --version 2 --patches 500"
)
def synth_bigearthnet(
    out: Annotated[Path, typer.Argument(help="Folder to write the archive into.")],
    version: Annotated[int, typer.Option(help="1 (BigEarthNet v1.0) or 2 (reBEN).")] = 2,
    patches: Annotated[int, typer.Option(help="Number of S1/S2 pairs.")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    workers: Annotated[int, typer.Option(help="Writer processes.")] = 0,
) -> None:
    """Write a synthetic BigEarthNet archive in the official layout (learnable, reBEN-like imbalance)."""
    from worldclass.data.synth.bigearthnet import synth_bigearthnet as run

    with progress_bar("writing patches") as update:
        run(out, version=version, patches=patches, seed=seed, workers=workers, progress=update)
    typer.echo(str(out))


@app.command(epilog="Example: worldclass demo --out demo-out")
def demo(
    out: Annotated[Path, typer.Option(help="Output folder (archives, stores, report).")] = Path("demo-out"),
    patches: Annotated[int, typer.Option(help="Synthetic v2 patches.")] = 400,
    workers: Annotated[int, typer.Option(help="Processes for synth/encode.")] = 2,
) -> None:
    """The main job on the embedded default: synth + real patches -> stores -> stats -> HTML report."""
    from worldclass.demo import run_demo

    report = run_demo(out, patches=patches, workers=workers, log=typer.echo)
    typer.echo(f"report: {report}")


experiment_app = typer.Typer(help="Multi-run experiments.", no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


@app.command(epilog="Example: worldclass train configs/reben-resnet50.yaml --set optim.max_epochs=5 --resume")
def train(
    config: Annotated[Path, typer.Argument(help="YAML experiment config (see configs/).")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set optim.lr=3e-4.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue exactly from OUT/checkpoints/last.ckpt.")] = False,
) -> None:
    """Train a multi-label classifier (early stopping on val macro AP) or a segmenter (on val IoU): config task."""
    from worldclass.config import load_config
    from worldclass.training.train import train as run

    cfg = load_config(config, set_)
    result = run(cfg, resume=resume)
    typer.echo(
        json.dumps(
            {
                "best_checkpoint": str(result.best_checkpoint),
                {"segmentation": "val_iou", "ssl": "val_loss"}.get(
                    cfg.task, "val_map_macro"
                ): result.best_score,
                "epochs": result.epochs,
                "out": str(result.out),
            }
        )
    )


@app.command(
    epilog="Example: worldclass evaluate runs/x/checkpoints/best.ckpt --split test --out runs/x/eval"
)
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="A worldclass checkpoint (.ckpt).")],
    data: Annotated[
        Path | None, typer.Option(help="Store/archive/scenes root; default: the training data.")
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            help="train, validation/val or test; default test (classification), val (segmentation)."
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Folder for metrics.json, per-class/per-group CSV, report.html.")
    ] = Path("eval"),
    tune_thresholds: Annotated[bool, typer.Option(help="Per-class thresholds tuned on validation.")] = False,
    bands: Annotated[str | None, typer.Option(help="Comma-separated bands of the data (checked).")] = None,
    workers: Annotated[int, typer.Option(help="DataLoader workers.")] = 0,
    tile: Annotated[int, typer.Option(help="Segmentation: tile side for whole-scene inference.")] = 512,
    overlap: Annotated[int, typer.Option(help="Segmentation: tile overlap.")] = 64,
) -> None:
    """Evaluate a checkpoint. Classification: micro/macro/minor F1, P, R, BAcc, mAP. Segmentation: IoU and
    accuracy per group (Inria: city) and overall, over whole stitched scenes."""
    from worldclass.models.checkpoint import read_checkpoint

    task = read_checkpoint(checkpoint)["hyper_parameters"]["meta"]["task"]
    if task == "ssl":
        from worldclass.errors import ConfigError

        raise ConfigError(
            f"{checkpoint}: a self-supervised encoder has no classes; evaluate it with `worldclass embed` "
            "and `worldclass retrieval-eval`"
        )
    if task == "segmentation":
        from worldclass.training.seg_evaluate import evaluate_segmentation

        with progress_bar("evaluating scenes") as update:
            seg = evaluate_segmentation(checkpoint, data=data, split=split or "val", out=out, tile=tile,
                                        overlap=overlap, progress=update)  # fmt: skip
        o = seg["overall"]
        typer.echo(json.dumps({"iou": round(o["iou"], 4), "accuracy": round(o["accuracy"], 4),
                               "miou": round(o["miou"], 4), "out": str(out)}))  # fmt: skip
        return
    from worldclass.training.evaluate import evaluate as run

    result = run(
        checkpoint,
        data=data,
        split=split or "test",
        out=out,
        tune=tune_thresholds,
        num_workers=workers,
        bands=bands.split(",") if bands else None,
    )
    keys = ("f1_micro", "f1_macro", "f1_minor", "map_macro", "map_micro")
    typer.echo(json.dumps({k: round(result[k], 4) for k in keys} | {"out": str(out)}))


@experiment_app.command(
    "imbalance", epilog="Example: worldclass experiment imbalance configs/imbalance-ablation.yaml"
)
def experiment_imbalance(
    config: Annotated[Path, typer.Argument(help="YAML config shared by all variants.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set data.root=...")
    ] = None,
) -> None:
    """Seed ablation: Base, CW, MROS+DCW (+ pretrained) on the same data and seed; one results table."""
    from worldclass.config import load_config
    from worldclass.training.experiment import run_imbalance

    result = run_imbalance(load_config(config, set_), log=typer.echo)
    typer.echo(result["table"])
