"""Active-learning commands: al init / next / answer / step / run / serve / report, experiment active."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from worldclass.cli.app import _seeds, app, experiment_app

al_app = typer.Typer(
    help="Active learning: choose what to annotate next (labels or image pairs).", no_args_is_help=True
)
app.add_typer(al_app, name="al")

Emb = Annotated[Path, typer.Option(help="Embedding set of the pool (`worldclass embed`).")]
Mode = Annotated[
    str, typer.Option(help="labels (patches get class labels) or pairs (similar / dissimilar, ANNEAL).")
]
Batch = Annotated[int, typer.Option(help="Items per round (cost units with --cost-per-label).")]
Budget = Annotated[int, typer.Option(help="Items (or cost units) to annotate in all.")]
Initial = Annotated[int, typer.Option(help="Random items of round 0.")]
Sensor = Annotated[str | None, typer.Option(help="Pool rows of this sensor (when the set has several).")]
Rule = Annotated[str, typer.Option(help="Simulated pair answer: overlap, same or jaccard:T.")]
Cost = Annotated[float, typer.Option(help="Cost-aware batches: a patch costs 1 + this x expected labels.")]


def _settings(
    embeddings: Path, mode: str, strategy: str, batch: int, budget: int, initial: int, seed: int, **kw: Any
) -> Any:
    from worldclass.training.active import ActiveSettings

    return ActiveSettings(
        embeddings=str(embeddings),
        mode=mode,
        strategy=strategy,
        batch=batch,
        budget=budget,
        initial=initial,
        seed=seed,
        **kw,
    )


@al_app.command(
    "init", epilog="Example: worldclass al init runs/al --embeddings emb/csmae --strategy entropy+kmeans"
)
def init(
    run: Annotated[Path, typer.Argument(help="Run folder to create.")],
    embeddings: Emb,
    mode: Mode = "labels",
    strategy: Annotated[
        str,
        typer.Option(
            help="labels: random, entropy, margin, bald, kmeans, coreset, A+B; pairs: random, mgue, bcgue, mgue+kmeans, bcgue+kmeans."
        ),
    ] = "entropy",
    batch: Batch = 20,
    budget: Budget = 200,
    initial: Initial = 20,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    sensor: Sensor = None,
    oracle: Annotated[
        str, typer.Option(help="simulated (labels stored with the embeddings) or person.")
    ] = "person",
    rule: Rule = "overlap",
    cost_per_label: Cost = 0.0,
    learner: Annotated[
        str, typer.Option(help="head (MLP on the embeddings) or task (train --config every round).")
    ] = "head",
    config: Annotated[Path | None, typer.Option(help="Classification config for --learner task.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Config override for --learner task.")
    ] = None,
    pool_split: Annotated[str, typer.Option(help="Split whose rows form the pool.")] = "train",
    eval_split: Annotated[str, typer.Option(help="Split the model is scored on after every step.")] = "test",
    overwrite: Annotated[bool, typer.Option(help="Start an existing run folder again.")] = False,
) -> None:
    """Start a run and propose round 0 (random items); answer it with `al serve` or `al answer`."""
    from worldclass.training.active import init_run

    s = _settings(
        embeddings,
        mode,
        strategy,
        batch,
        budget,
        initial,
        seed,
        sensor=sensor,
        oracle=oracle,
        rule=rule,
        cost_per_label=cost_per_label,
        pool_split=pool_split,
        eval_split=eval_split,
        learner=learner,
        config=str(config.resolve()) if config else None,
        overrides=list(overrides or []),
    )
    r = init_run(run, s, overwrite=overwrite)
    typer.echo(
        json.dumps(
            {
                "run": str(r.path),
                "id": r.id,
                "round": 0,
                "items": s.initial,
                "batch": str(r.path / "batch.csv"),
            }
        )
    )


@al_app.command("next")
def next_batch(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the batch as JSON.")] = False,
) -> None:
    """Write the pending batch (batch.json, batch.csv) and list it with the answers given so far."""
    from worldclass.training.active import Run
    from worldclass.training.active.run import format_answer

    r = Run.open(run)
    state = r.state()
    if state.pending is None:
        typer.echo(f"{run}: the budget is spent; nothing to annotate (see history.csv)")
        return
    batch = json.loads(r.write_batch(state, _extra(r)).read_text())
    if as_json:
        typer.echo(json.dumps(batch))
        return
    typer.echo(f"{run}: round {batch['round']}, {len(batch['items'])} items ({r.path / 'batch.csv'})")
    for it in batch["items"]:
        typer.echo(f"  {it['key']}  {format_answer(it['answer'])}")


def _extra(r: Any) -> dict[str, Any]:
    f = r.path / "batch.json"
    old = json.loads(f.read_text()) if f.is_file() else {}
    return {"classes": old.get("classes", []), "suggestions": old.get("suggestions", {})}


@al_app.command("answer")
def answer(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    answers: Annotated[Path, typer.Argument(help="Filled-in batch.csv (run, round, key, answer).")],
) -> None:
    """Record answers from a file (labels: class names separated by ';', '-' for none; pairs: similar or
    dissimilar). Nothing is recorded when any row is wrong."""
    from worldclass.retrieval.embeddings import Embeddings
    from worldclass.training.active import Run
    from worldclass.training.active.answers import import_answers

    r = Run.open(run)
    n = import_answers(r, answers, Embeddings.open(r.settings.embeddings).classes)
    typer.echo(json.dumps({"run": str(run), "recorded": n}))


@al_app.command("step")
def step(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    partial: Annotated[bool, typer.Option(help="Unanswered items go back to the pool.")] = False,
) -> None:
    """Retrain on everything answered, score it, and propose the next batch."""
    from worldclass.training.active import Run
    from worldclass.training.active import step as run_step

    row = run_step(Run.open(run), partial=partial, log=lambda m: typer.echo(m, err=True))
    typer.echo(json.dumps(row))


@al_app.command("run")
def run_all(
    run: Annotated[Path, typer.Argument(help="Run folder (simulated oracle).")],
    rounds: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
) -> None:
    """Step until the budget is spent (the simulated oracle answers)."""
    from worldclass.training.active import Run, run_loop

    history = run_loop(Run.open(run), rounds=rounds, log=lambda m: typer.echo(m, err=True))
    typer.echo(json.dumps(history[-1] if history else {}))


@al_app.command("serve")
def serve(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    host: Annotated[str, typer.Option(help="Address to bind (local only by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8766,
    data: Annotated[
        Path | None, typer.Option(help="Archive for previews (default: the embedded data).")
    ] = None,
) -> None:
    """The annotation page: previews of the pending batch, answer buttons, retrain."""
    from worldclass.training.active.server import Annotation, make_server

    server = make_server(Annotation(run, data), host, port)
    typer.echo(f"annotating {run} at http://{host}:{server.server_address[1]}/  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


@al_app.command("report")
def report(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the history as JSON.")] = False,
) -> None:
    """The run's history: metric vs annotations."""
    from worldclass.training.active import Run

    r = Run.open(run)
    if as_json:
        typer.echo(json.dumps(r.state().history))
        return
    for h in r.state().history:
        typer.echo(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in h.items()))


@experiment_app.command(
    "active", epilog="Example: worldclass experiment active --embeddings emb/csmae --out results/al"
)
def experiment(
    embeddings: Emb,
    out: Annotated[Path, typer.Option(help="Output folder (resumed when it exists).")],
    mode: Mode = "labels",
    strategies: Annotated[
        str, typer.Option(help="Comma-separated strategies.")
    ] = "random,entropy,kmeans,entropy+kmeans",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    batch: Batch = 20,
    budget: Budget = 200,
    initial: Initial = 20,
    sensor: Sensor = None,
    rule: Rule = "overlap",
    cost_per_label: Cost = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Budget-vs-metric curves per strategy with the simulated oracle (mean ± std over seeds)."""
    from worldclass.training.active.experiment import run_active_experiment, table

    base = _settings(
        embeddings,
        mode,
        "random",
        batch,
        budget,
        initial,
        0,
        sensor=sensor,
        rule=rule,
        cost_per_label=cost_per_label,
    )
    base.check()
    summary = run_active_experiment(
        base,
        out,
        [s.strip() for s in strategies.split(",") if s.strip()],
        _seeds(seeds) or [0, 1, 2],
        log=lambda m: typer.echo(m, err=True),
    )
    typer.echo(json.dumps(summary) if as_json else table(summary))
