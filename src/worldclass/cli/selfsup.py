"""Self-supervised experiments: `experiment label-budget` (initialisations x budgets x modes x seeds) and
`experiment retrieval` (cross-sensor retrieval variants x seeds); SEN12MS / DFC2020 generators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldclass.cli.app import _seeds, experiment_app, synth_app


@synth_app.command("sen12ms", epilog="Example: worldclass synth sen12ms data/SEN12MS --scenes 6 --patches 8")
def synth_sen12ms(
    out: Annotated[Path, typer.Argument(help="Folder to write the archive into.")],
    scenes: Annotated[int, typer.Option(help="Scenes per season.")] = 4,
    patches: Annotated[int, typer.Option(help="256 x 256 px triplets per scene.")] = 4,
    test_scenes: Annotated[int, typer.Option(help="Scenes per season in test_list.txt.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """A synthetic SEN12MS archive in the official layout (S1 + S2 + MODIS-like IGBP labels, four seasons)."""
    from worldclass.data.synth.sen12ms import synth_sen12ms as run

    typer.echo(str(run(out, scenes=scenes, patches=patches, test_scenes=test_scenes, seed=seed)))


@synth_app.command(
    "dfc2020", epilog="Example: worldclass synth dfc2020 data/DFC2020 --validation 60 --test 40"
)
def synth_dfc2020(
    out: Annotated[Path, typer.Argument(help="Folder to write the archive into.")],
    validation: Annotated[int, typer.Option(help="Patches of the labelled validation release.")] = 40,
    test: Annotated[int, typer.Option(help="Patches of the test release.")] = 20,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """A synthetic DFC2020 archive in the contest layout (S1 + S2 + high-resolution DFC labels)."""
    from worldclass.data.synth.sen12ms import synth_dfc2020 as run

    typer.echo(str(run(out, validation=validation, test=test, seed=seed)))


@experiment_app.command(
    "label-budget",
    epilog=(
        "Example: worldclass experiment label-budget configs/dfc2020-unet.yaml --budgets 200,800,986 "
        "--init random --init sscl=runs/sscl/checkpoints/best.ckpt --modes finetune,linear --seeds 0,1,2"
    ),
)
def experiment_label_budget(
    config: Annotated[Path, typer.Argument(help="Downstream config (classification or segmentation).")],
    budgets: Annotated[
        str, typer.Option(help="Labelled patches per run: counts (200,800) or shares (1%,10%).")
    ],
    init: Annotated[
        list[str] | None,
        typer.Option(
            help="random, NAME=SSL_CHECKPOINT or pretrained=WEIGHTS_FILE; repeat (default: random)."
        ),
    ] = None,
    modes: Annotated[
        str, typer.Option(help="finetune and/or linear (frozen encoder), comma-separated.")
    ] = "finetune",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds (at least 3 for mean ± std).")] = "0,1,2",
    compare: Annotated[
        str | None,
        typer.Option(help="KEY=V1,V2: every run once per value, e.g. regression.method=supervised,dml-s2r."),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set data.root=...")
    ] = None,
    smoke: Annotated[bool, typer.Option(help="Every run as a smoke run (see `train --smoke`).")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print results.json's summary instead of the table.")
    ] = False,
) -> None:
    """Train and test every initialisation (and --compare value) on the same labelled subsets; subsets,
    runs, table and plot under trainer.out; a rerun continues where a stopped sweep ended."""
    from worldclass.tasks import load_config
    from worldclass.training.label_budget import parse_inits, run_label_budget

    log = (lambda line: typer.echo(line, err=True)) if as_json else typer.echo
    key, _, given = (compare or "").partition("=")
    values = [v.strip() for v in given.split(",") if v.strip()]
    if compare is not None and (not key or not values):
        from worldclass.errors import ConfigError

        raise ConfigError(f"--compare {compare!r}: use KEY=VALUE1,VALUE2")
    result = run_label_budget(
        load_config(config, set_, smoke=smoke),
        budgets=[b.strip() for b in budgets.split(",") if b.strip()],
        inits=parse_inits(init or ["random"]),
        modes=[m.strip() for m in modes.split(",") if m.strip()],
        seeds=_seeds(seeds) or [0, 1, 2],
        compare=(key, values) if compare is not None else None,
        log=log,
    )
    typer.echo(json.dumps(result["summary"]) if as_json else result["table"])


@experiment_app.command(
    "retrieval",
    epilog=(
        "Example: worldclass experiment retrieval configs/csmae-reben.yaml --variants all --variants sscm "
        "--seeds 0,1,2"
    ),
)
def experiment_retrieval(
    config: Annotated[Path, typer.Argument(help="Base config (a csmae or sscm run on S1 + S2 data).")],
    variants: Annotated[
        list[str],
        typer.Option(
            help="all | cecd|cesd|secd|sesd[/random|same|complementary][/norm_pix][/no-uni|no-cross|"
            "no-contrastive] | sscm | NAME=key=value;key=value; repeat."
        ),
    ],
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds (at least 3 for mean ± std).")] = "0,1,2",
    k: Annotated[int, typer.Option(help="Retrieved images per query.")] = 10,
    query_split: Annotated[str, typer.Option(help="Split of the queries.")] = "validation",
    archive_split: Annotated[str, typer.Option(help="Split searched.")] = "test",
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set data.root=...")
    ] = None,
    smoke: Annotated[bool, typer.Option(help="Every run as a smoke run (see `train --smoke`).")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print results.json's summary instead of the table.")
    ] = False,
) -> None:
    """Train every variant on the same data, embed, and write one uni-modal and cross-modal retrieval
    table (mAP@k, F1@k per direction, mean ± std over the seeds); a rerun continues a stopped run."""
    from worldclass.tasks import load_config
    from worldclass.training.retrieval_experiment import parse_variants, run_retrieval_comparison

    log = (lambda line: typer.echo(line, err=True)) if as_json else typer.echo
    chosen = parse_variants(variants)  # a bad variant is refused before the config is read
    result = run_retrieval_comparison(
        load_config(config, set_, smoke=smoke),
        variants=chosen,
        seeds=_seeds(seeds) or [0, 1, 2],
        k=k,
        query_split=query_split,
        archive_split=archive_split,
        log=log,
    )
    typer.echo(json.dumps(result["summary"]) if as_json else result["table"])
