"""Typer application and the data commands (encode, stats, splits, synth, demo)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldclass.cli.options import Address, Executor, RayWorkers
from worldclass.cli.progress import progress_bar

EXIT_CODES = (
    "Exit codes: 0 done; 1 output or OS error (permissions, full disk, busy port); 2 bad input or usage "
    "(missing/corrupt file, bad config, unknown option); 3 incomplete store (re-run encode); 70 a worldclass "
    "bug (traceback saved to a file); 130 Ctrl-C; 143 SIGTERM. Errors are one line on stderr naming the file "
    "and the fix (--debug shows the traceback). Results are JSON on stdout (--json where a table is the default)."
)

app = typer.Typer(
    name="worldclass",
    help="Deep learning on Earth-observation archives: BigEarthNet v1/v2 data, stores, splits, statistics.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
synth_app = typer.Typer(help="Write synthetic archives in official layouts.", no_args_is_help=True)
app.add_typer(synth_app, name="synth")


@app.command(epilog="Example: worldclass encode /data/reBEN /data/reben.store --workers 8")
def encode(
    source: Annotated[
        Path, typer.Argument(help="Official BigEarthNet v1 or v2 root, or a SEN12MS / DFC2020 root.")
    ],
    out: Annotated[Path, typer.Argument(help="Store folder to create or resume.")],
    workers: Annotated[int, typer.Option(help="Reader processes (0 = in this process).")] = 2,
    allow_missing: Annotated[
        bool, typer.Option(help="Complete the store without unreadable patches.")
    ] = False,
    executor: Executor = "local",
    address: Address = None,
    ray_workers: RayWorkers = 2,
    chunk: Annotated[int, typer.Option(help="Patches per work unit (one LMDB transaction).")] = 32,
) -> None:
    """Convert an official archive into a worldclass store (resumable, also across executors; verified).
    A SEN12MS or DFC2020 root becomes a triplet store (use it as data.root)."""
    from worldclass.data.encode import EncodeJob, StoreJob
    from worldclass.data.sen12ms import archive_kind
    from worldclass.data.triplet_store import TripletEncodeJob
    from worldclass.errors import ConfigError
    from worldclass.training.executors import check_executor, run_units

    check_executor(executor)  # bad options are refused before the store folder is touched
    if workers < 0:
        raise ConfigError(f"--workers {workers}: use 0 (this process) or a positive number of processes")
    kind = TripletEncodeJob if archive_kind(source) else EncodeJob
    job: StoreJob
    with kind(source, out, allow_missing=allow_missing, chunk=chunk) as job:
        todo = job.prepare()
        with progress_bar("encoding") as update:
            if executor == "local":
                job.run_local(todo, workers, update)
            else:
                run_units(job, todo, executor=executor, address=address, workers=ray_workers, progress=update)
        result = job.finalize()
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


@app.command(epilog="Example: worldclass verify /data/reben.store --repair")
def verify(
    store: Annotated[Path, typer.Argument(help="A worldclass store (from `worldclass encode`).")],
    repair: Annotated[
        bool, typer.Option(help="Drop damaged patches and mark the store incomplete (encode resumes).")
    ] = False,
) -> None:
    """Check every patch against its checksum and decode it completely (e.g. after copying a store)."""
    from worldclass.data.verify import verify_store

    with progress_bar("verifying") as update:
        result = verify_store(store, repair=repair, progress=update)
    typer.echo(json.dumps({"store": str(result.store), "patches": result.patches, "damaged": 0}))


@app.command(epilog="Example: worldclass stats /data/reben.store --split train --json")
def stats(
    source: Annotated[Path, typer.Argument(help="Archive root or store.")],
    split: Annotated[
        str | None, typer.Option(help="One split (train/validation/test); default all three.")
    ] = None,
    num_classes: Annotated[int, typer.Option(help="19 or 43.")] = 19,
    include_snow_cloud: Annotated[bool, typer.Option(help="Count snow/cloud patches too.")] = False,
    label_scheme: Annotated[str, typer.Option(help="SEN12MS/DFC2020: dfc or dfc-no-savanna.")] = "dfc",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Per-class counts and imbalance statistics (IRLbl, MeanIR, MaxIR, CVIR, SCUMBLE, cardinality);
    SEN12MS/DFC2020: class pixel shares per split and the training split's per-band mean/std (the
    --json output is a data.statistics file)."""
    from worldclass.data.imbalance import split_statistics
    from worldclass.data.landcover_stats import landcover_kind, landcover_statistics

    if source.exists() and landcover_kind(source):
        with progress_bar("reading patches") as update:
            found = landcover_statistics(
                source, splits=[split] if split else None, label_scheme=label_scheme, progress=update
            )
        if as_json:
            typer.echo(json.dumps(found, indent=1))
        else:
            from worldclass.cli.tables import print_landcover_stats

            print_landcover_stats(found)
        return

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
    leak_distance: Annotated[
        float | None,
        typer.Option(help="Contact distance between patch centres in m (default: 8 neighbours, 1,698 m)."),
    ] = None,
    buffer: Annotated[
        bool, typer.Option(help="Drop patches touching a higher split (test > validation > train).")
    ] = False,
) -> None:
    """Assign splits and report the contact between every pair of splits (edge + diagonal neighbours,
    across tiles in one frame); --buffer removes it."""
    from worldclass.data.leakage import CONTACT_M
    from worldclass.data.splits import make_splits

    report = make_splits(
        source,
        method,
        out=out,
        seed=seed,
        validation=validation or [],
        test=test or [],
        leak_distance=CONTACT_M if leak_distance is None else leak_distance,
        buffer=buffer,
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
    domains: Annotated[
        bool, typer.Option(help="Countries differ (band gains, label priors); tiles seen in two seasons.")
    ] = False,
) -> None:
    """Write a synthetic BigEarthNet archive in the official layout (learnable, reBEN-like imbalance)."""
    from worldclass.data.synth.bigearthnet import synth_bigearthnet as run

    with progress_bar("writing patches") as update:
        run(
            out,
            version=version,
            patches=patches,
            seed=seed,
            workers=workers,
            progress=update,
            domains=domains,
        )
    typer.echo(str(out))


@app.command(epilog="Example: worldclass demo --out demo-out")
def demo(
    out: Annotated[Path, typer.Option(help="Output folder (archives, stores, report).")] = Path("demo-out"),
    patches: Annotated[int, typer.Option(help="Synthetic v2 patches.")] = 400,
    workers: Annotated[int, typer.Option(help="Processes for synth/encode.")] = 2,
    real_samples: Annotated[
        Path | None,
        typer.Option(
            help="Folder of real BigEarthNet v1 patches to include (default: the samples shipped in the package)."
        ),
    ] = None,
) -> None:
    """The main job on the embedded default: synth + real patches -> stores -> stats -> HTML report."""
    from worldclass.demo import run_demo

    report = run_demo(out, patches=patches, workers=workers, real=real_samples, log=typer.echo)
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
    overwrite: Annotated[
        bool, typer.Option(help="Replace the checkpoints of an earlier run in OUT.")
    ] = False,
    smoke: Annotated[
        bool,
        typer.Option(
            help="Shrink the recipe to a 1-2 minute CPU run (small model, few batches) in OUT-smoke."
        ),
    ] = False,
) -> None:
    """Train the config's task (`worldclass tasks` lists them); early stopping on its monitored metric.
    Writes OUT/checkpoints, OUT/curves.csv (see `worldclass report OUT`); prints a JSON summary."""
    from worldclass.tasks import load_config
    from worldclass.training import train as run

    cfg = load_config(config, set_, smoke=smoke)
    result = run(cfg, resume=resume, overwrite=overwrite)
    typer.echo(
        json.dumps(
            {
                "best_checkpoint": str(result.best_checkpoint),
                result.monitor.replace("/", "_"): result.best_score,
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
        typer.Option(help="Split to evaluate; default: the task's (classification test, segmentation val)."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Folder for metrics.json, per-class/per-group CSV, report.html.")
    ] = Path("eval"),
    tune_thresholds: Annotated[
        bool | None,
        typer.Option(
            "--tune-thresholds/--no-tune-thresholds",
            help="Per-class thresholds tuned on validation (default: the run's trainer.threshold_tuning).",
        ),
    ] = None,
    bands: Annotated[str | None, typer.Option(help="Comma-separated bands of the data (checked).")] = None,
    workers: Annotated[int, typer.Option(help="DataLoader workers.")] = 0,
    tile: Annotated[
        int | None, typer.Option(help="Segmentation: tile side (default: the checkpoint's patch size).")
    ] = None,
    overlap: Annotated[int | None, typer.Option(help="Segmentation: tile overlap (default 0).")] = None,
) -> None:
    """Evaluate a checkpoint with its task. Classification: micro/macro/minor F1, P, R, BAcc, mAP.
    Segmentation: IoU and accuracy per group (Inria: city) and overall, over whole stitched scenes."""
    from worldclass.models.checkpoint import checkpoint_meta
    from worldclass.tasks import EvalOptions, get_task

    task = get_task(checkpoint_meta(checkpoint).task)
    if task.eval_split is None:  # no labelled evaluation: the task says what to do instead
        task.evaluate(checkpoint, data=data, split=split or "test", out=out, options=EvalOptions())
    with progress_bar("evaluating") as update:
        options = EvalOptions(
            num_workers=workers,
            tune_thresholds=tune_thresholds,
            bands=bands.split(",") if bands else None,
            tile=tile,
            overlap=overlap,
            progress=update,
        )
        result = task.evaluate(
            checkpoint, data=data, split=split or task.eval_split or "test", out=out, options=options
        )
    typer.echo(json.dumps(task.headline(result) | {"out": str(out)}))


@app.command("tasks")
def list_tasks_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of lines.")] = False,
) -> None:
    """List the registered tasks: name, monitored metric, dataset kinds, summary."""
    from worldclass.tasks import get_task, list_tasks

    if as_json:
        keys = ("name", "aliases", "summary", "monitor", "mode", "dataset_kinds", "eval_split")
        typer.echo(json.dumps([{k: getattr(get_task(n), k) for k in keys} for n in list_tasks()], indent=1))
        return
    for name in list_tasks():
        t = get_task(name)
        aliases = f" (also {', '.join(t.aliases)})" if t.aliases else ""
        typer.echo(
            f"{name}{aliases}: {t.summary}; monitors {t.monitor} ({t.mode}); data: {', '.join(t.dataset_kinds)}"
        )


@app.command("datasets")
def list_datasets_command(
    name: Annotated[str | None, typer.Argument(help="Print this dataset's data card.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """List the registered datasets, or print one dataset's data card."""
    from worldclass.datasets import get_dataset, list_datasets

    if as_json:
        names = [name] if name is not None else list_datasets()
        rows = [
            {"name": n, "kind": get_dataset(n).kind, "summary": get_dataset(n).summary}
            | ({"card": get_dataset(n).card()} if name is not None else {})
            for n in names
        ]
        typer.echo(json.dumps(rows, indent=1))
        return
    if name is not None:
        typer.echo(get_dataset(name).card())
        return
    for n in list_datasets():
        d = get_dataset(n)
        typer.echo(f"{n} [{d.kind}]: {d.summary}")


def _seeds(text: str | None) -> list[int] | None:
    from worldclass.errors import ConfigError

    try:
        return [int(x) for x in text.split(",")] if text else None
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: give integers separated by commas, e.g. 0,1,2") from None


@experiment_app.command(
    "noise", epilog="Example: worldclass experiment noise configs/noise-robust.yaml --rates 0.3,0.5"
)
def experiment_noise(
    config: Annotated[Path, typer.Argument(help="YAML classification config shared by all methods.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set data.root=...")
    ] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds (also the noise seeds).")] = "0,1,2",
    rates: Annotated[str, typer.Option(help="Comma-separated noise rates in (0, 1).")] = "0.3,0.5",
    mode: Annotated[str, typer.Option(help="Noise mode (see `worldclass labels noisy`).")] = "mixed",
    methods: Annotated[
        str | None, typer.Option(help="Comma-separated subset of BCE,LS,ELR,Co-teaching,SVAE,GRID.")
    ] = None,
    smoke: Annotated[bool, typer.Option(help="Every run as a smoke run (see `train --smoke`).")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print noise.json's content instead of the table.")
    ] = False,
) -> None:
    """Noise-robust methods on noisy train/validation labels, scored on clean test labels; mean ± std."""
    from worldclass.errors import ConfigError
    from worldclass.tasks import load_config
    from worldclass.training.noise_experiment import METHODS, run_noise

    try:
        rate_list = [float(x) for x in rates.split(",")]
    except ValueError:
        raise ConfigError(f"--rates {rates!r}: give numbers separated by commas, e.g. 0.3,0.5") from None
    known = [m[0] for m in METHODS]
    chosen = methods.split(",") if methods else None
    if chosen and set(chosen) - set(known):
        raise ConfigError(f"--methods: unknown {sorted(set(chosen) - set(known))}; choose from {known}")
    result = run_noise(
        load_config(config, set_, smoke=smoke),
        rates=rate_list,
        seeds=_seeds(seeds) or [0],
        mode=mode,
        methods=chosen,
        log=(lambda line: typer.echo(line, err=True)) if as_json else typer.echo,
    )
    if as_json:
        typer.echo(json.dumps({"variants": result["variants"], "noise": result["noise"]}))
    else:
        typer.echo(result["table"])


@experiment_app.command(
    "misaligned",
    epilog="Example: worldclass experiment misaligned configs/misaligned-scenes.yaml --test data/test-scenes",
)
def experiment_misaligned(
    config: Annotated[Path, typer.Argument(help="YAML segmentation config on scenes with true labels.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set data.root=...")
    ] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated training seeds.")] = "0,1,2",
    test: Annotated[
        Path | None, typer.Option(help="Scenes root scored whole (default: validation rows, true labels).")
    ] = None,
    align_checkpoint: Annotated[
        Path | None, typer.Option(help="Alignment checkpoint: adds the auto-aligned variants.")
    ] = None,
    clean_scenes: Annotated[int, typer.Option(help="Scenes with true labels for the fine-tune.")] = 1,
    amplitude: Annotated[float, typer.Option(help="Smooth misalignment RMS, px.")] = 3.0,
    max_offset: Annotated[float, typer.Option(help="Constant offset per scene up to, px per axis.")] = 4.0,
    p_omit: Annotated[float, typer.Option(help="Share of buildings missing from the map.")] = 0.1,
    p_spurious: Annotated[float, typer.Option(help="Invented buildings, share of the real ones.")] = 0.05,
    map_seed: Annotated[int, typer.Option(help="Seed of the misaligned map.")] = 0,
    smoke: Annotated[bool, typer.Option(help="Every run as a smoke run (see `train --smoke`).")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print misaligned.json's content instead of the table.")
    ] = False,
) -> None:
    """Segmentation from a misaligned map: misaligned, + clean fine-tune, (auto-)aligned, + refiner."""
    from worldclass.data.misalign import LayerSpec
    from worldclass.tasks import load_config
    from worldclass.training.misaligned_experiment import run_misaligned

    spec = LayerSpec(
        amplitude=amplitude, max_offset=max_offset, p_omit=p_omit, p_spurious=p_spurious, seed=map_seed
    )
    result = run_misaligned(
        load_config(config, set_, smoke=smoke),
        spec=spec,
        seeds=_seeds(seeds) or [0],
        clean_scenes=clean_scenes,
        align_checkpoint=align_checkpoint,
        test_root=test,
        log=(lambda line: typer.echo(line, err=True)) if as_json else typer.echo,
    )
    if as_json:
        typer.echo(json.dumps({k: result[k] for k in ("variants", "map", "map_agreement")}))
    else:
        typer.echo(result["table"])


@experiment_app.command(
    "imbalance", epilog="Example: worldclass experiment imbalance configs/imbalance-ablation.yaml"
)
def experiment_imbalance(
    config: Annotated[Path, typer.Argument(help="YAML config shared by all variants.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set data.root=...")
    ] = None,
    seeds: Annotated[
        str | None, typer.Option(help="Comma-separated seeds, e.g. 0,1,2 (default: trainer.seed).")
    ] = None,
    smoke: Annotated[bool, typer.Option(help="Every variant as a smoke run (see `train --smoke`).")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print ablation.json's content instead of the table.")
    ] = False,
) -> None:
    """Seed ablation: Base, CW, MROS+DCW (+ pretrained) on the same data; mean ± std over the seeds."""
    from worldclass.tasks import load_config
    from worldclass.training.experiment import run_imbalance

    seed_list = _seeds(seeds)
    log = (lambda line: typer.echo(line, err=True)) if as_json else typer.echo
    result = run_imbalance(load_config(config, set_, smoke=smoke), seeds=seed_list, log=log)
    typer.echo(json.dumps({"variants": result["variants"]}) if as_json else result["table"])
