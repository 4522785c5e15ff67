"""Options shared by several commands (one definition, one help text)."""

from __future__ import annotations

from typing import Annotated

import typer

Executor = Annotated[str, typer.Option(help="local (this process) or ray (actors, one model replica each).")]
Address = Annotated[
    str | None, typer.Option(help="ray: 'auto' or HOST:PORT of a running cluster (default: start one here).")
]
RayWorkers = Annotated[int, typer.Option(help="ray: actors (model replicas).")]
