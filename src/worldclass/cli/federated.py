"""Federated commands: fl partition (client manifests from an archive's metadata) and fl simulate (all
clients in one process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldclass.cli.app import _seeds, app

fl_app = typer.Typer(
    help="Federated learning: client partitions and simulated federations.", no_args_is_help=True
)
app.add_typer(fl_app, name="fl")


@fl_app.command(
    "partition", epilog="Example: worldclass fl partition /data/reben.store --scheme country --out clients/"
)
def partition(
    root: Annotated[Path, typer.Argument(help="BigEarthNet archive or worldclass store.")],
    out: Annotated[Path, typer.Option(help="Folder for clients.json and one split file per client.")],
    scheme: Annotated[str, typer.Option(help="country, country-season, iid or dirichlet.")] = "country",
    clients: Annotated[int, typer.Option(help="iid / dirichlet: number of clients.")] = 5,
    alpha: Annotated[float, typer.Option(help="dirichlet: concentration (small: strong skew).")] = 0.5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    val_share: Annotated[
        float, typer.Option(help="Share of each client's patches for local validation.")
    ] = 0.1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Split the train split into clients and write their manifest; prints patches, class skew and the
    non-IID measure per client."""
    from worldclass.data.dataset import BigEarthNet
    from worldclass.training.federated.partition import partition as run
    from worldclass.training.federated.partition import summarise, write_manifest

    ds = BigEarthNet(root, split="all")
    parts = run(ds.table, ds.classes, scheme, clients=clients, alpha=alpha, seed=seed)
    summary = summarise(parts, ds.table, ds.classes)
    manifest = write_manifest(
        out, parts, scheme=scheme, source=str(root), seed=seed, val_share=val_share, summary=summary
    )
    if as_json:
        typer.echo(json.dumps({"manifest": str(manifest), **summary}))
        return
    typer.echo(
        f"{manifest}: {len(parts)} clients, {summary['patches']} patches, non-IID (mean JS) {summary['non_iid']}"
    )
    for name, c in summary["clients"].items():
        top = sorted(c["class_counts"].items(), key=lambda kv: -kv[1])[:3]
        typer.echo(
            f"  {name}: {c['patches']} patches, JS {c['js_divergence']}, most: "
            + ", ".join(f"{k} {v}" for k, v in top)
        )


@fl_app.command(
    "simulate",
    epilog="Example: worldclass fl simulate configs/federated-reben.yaml --set federated.algorithm=scaffold",
)
def simulate(
    config: Annotated[Path, typer.Argument(help="YAML classification config with a federated section.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set federated.rounds=5")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the stopped federation in trainer.out.")] = False,
    engine: Annotated[
        str,
        typer.Option(help="local: all clients in this process; flower: Flower's simulation engine (Ray)."),
    ] = "local",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run all clients of a federation on one machine (local: in this process, deterministic,
    resumable; flower: Flower's simulation engine); per-round metrics, traffic and a task checkpoint in
    trainer.out."""
    from worldclass.errors import ConfigError
    from worldclass.tasks import load_config
    from worldclass.training.federated.simulate import simulate as run

    if engine == "flower":
        from worldclass.training.federated.flower import simulate_flower as run
    elif engine != "local":
        raise ConfigError(f"--engine {engine!r}: choose local or flower")
    result = run(
        load_config(config, set_),
        resume=resume,
        log=(lambda s: typer.echo(s, err=True)) if as_json else typer.echo,
    )
    last = result["rounds"][-1]
    summary = {
        "best_checkpoint": str(result["best_checkpoint"]),
        "best_round": result["best_round"],
        "rounds": len(result["rounds"]),
        "mb_total": round(last["mb_total"], 3),
        "val_map_macro": round(last["val_map_macro"], 4),
    }
    typer.echo(json.dumps(summary))


@fl_app.command(
    "experiment", epilog="Example: worldclass fl experiment configs/federated-reben.yaml --seeds 0,1,2"
)
def experiment(
    config: Annotated[Path, typer.Argument(help="YAML classification config with a federated section.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set federated.rounds=5")
    ] = None,
    algorithms: Annotated[
        str, typer.Option(help="Comma-separated algorithms (mmfl+whiten: mmfl with feature whitening).")
    ] = "fedavg,fedprox,scaffold,moon,fedbn",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    baselines: Annotated[bool, typer.Option(help="Also centralised and local-only training.")] = True,
    target: Annotated[
        float | None, typer.Option(help="Validation macro mAP whose rounds and MB are reported.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print federated.json's content instead of the table.")
    ] = False,
) -> None:
    """Federated algorithms vs centralised and local-only training on the same clients; mean ± std."""
    from worldclass.errors import ConfigError
    from worldclass.tasks import load_config
    from worldclass.tasks.federated import FL_ALGORITHMS
    from worldclass.training.federated.experiment import run_federated

    chosen = algorithms.split(",")
    known = {*FL_ALGORITHMS, "mmfl+whiten"}
    if set(chosen) - known:
        raise ConfigError(f"--algorithms: unknown {sorted(set(chosen) - known)}; choose from {sorted(known)}")
    seed_list = _seeds(seeds) or [0]
    result = run_federated(
        load_config(config, set_),
        algorithms=chosen,
        seeds=seed_list,
        baselines=baselines,
        target=target,
        log=(lambda s: typer.echo(s, err=True)) if as_json else typer.echo,
    )
    typer.echo(
        json.dumps({k: result[k] for k in ("variants", "cross_group")}) if as_json else result["table"]
    )


@fl_app.command(
    "app",
    epilog="Example: worldclass fl app configs/federated-reben.yaml --out fl-app --run-out runs/fl --nodes 6; "
    "then flower-superlink --insecure, one flower-supernode per client (--node-config 'data=\"ARCHIVE\"') "
    "and flwr run fl-app local --stream",
)
def flower_app(
    config: Annotated[Path, typer.Argument(help="YAML classification config with a federated section.")],
    out: Annotated[Path, typer.Option(help="Folder for the Flower app (pyproject.toml).")],
    run_out: Annotated[Path, typer.Option(help="Where the ServerApp writes rounds, checkpoints and state.")],
    nodes: Annotated[int, typer.Option(help="SuperNodes the server waits for before round 1.")] = 2,
    wait: Annotated[float, typer.Option(help="Most seconds to wait for them.")] = 300.0,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set federated.rounds=5")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the stopped federation in --run-out.")] = False,
) -> None:
    """Write a Flower app (worldclass's ServerApp + ClientApp, the config embedded) for `flwr run`; the
    server never names or opens a client's data: each SuperNode names its own archive."""
    from worldclass.tasks import load_config
    from worldclass.training.federated.flower import write_app

    path = write_app(
        out,
        load_config(config, set_, need_root=False),
        run_out=run_out,
        nodes=nodes,
        wait_seconds=wait,
        resume=resume,
    )
    typer.echo(json.dumps({"app": str(path), "submit": f"flwr run {out} <superlink connection> --stream"}))
