"""``worldclass config``: every setting of a task (from the schema) and checking a config file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldclass.cli.app import app

config_app = typer.Typer(
    help="List every config key of a task, or check a config file.", no_args_is_help=True
)
app.add_typer(config_app, name="config")


@config_app.command(
    epilog="Example: worldclass config show classification   (or --json; --markdown writes the reference page)"
)
def show(
    task: Annotated[str, typer.Argument(help="Task name (`worldclass tasks`).")] = "classification",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: key, type, default, choices, help.")
    ] = False,
    markdown: Annotated[bool, typer.Option(help="Print docs/configuration.md (every task).")] = False,
) -> None:
    """Every key of TASK's config: dotted key, type, default, help and valid choices."""
    from worldclass.config.schema import as_json as to_json
    from worldclass.config.schema import markdown as to_markdown
    from worldclass.config.schema import settings, table
    from worldclass.tasks import get_task, list_tasks

    if markdown:
        typer.echo(to_markdown({name: get_task(name).sections for name in list_tasks()}), nl=False)
        return
    rows = settings(get_task(task).sections)
    typer.echo(to_json(rows) if as_json else table(rows))


@config_app.command(epilog="Example: worldclass config check configs/reben-resnet50.yaml --set optim.lr=3e-4")
def check(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set optim.lr=3e-4.")
    ] = None,
    smoke: Annotated[bool, typer.Option(help="Show the config as `train --smoke` would run it.")] = False,
) -> None:
    """Validate CONFIG (keys, types, choices, ranges) without training; prints the resolved config as JSON
    (input paths made absolute against the config file's folder)."""
    from worldclass.tasks import load_config

    cfg = load_config(config, set_ or [], smoke=smoke)
    typer.echo(json.dumps(cfg.to_dict(), indent=1))
