"""Usage errors of click and of the click that typer vendors (``typer._click``, typer >= 0.24): both may be
installed and either may raise, so both are recognised."""

from __future__ import annotations

import importlib
import sys
from functools import cache


@cache
def usage_exceptions() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(usage errors, exits, aborts) of every click the installed typer may raise."""
    usage: list[type] = []
    exits: list[type] = []
    aborts: list[type] = []
    for module, attrs in (
        ("click.exceptions", ("ClickException", "Exit", "Abort")),
        ("typer._click.exceptions", ("ClickException", "", "")),
        ("typer.exceptions", ("", "Exit", "Abort")),
    ):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        for bucket, name in zip((usage, exits, aborts), attrs, strict=True):
            if name and hasattr(mod, name):
                bucket.append(getattr(mod, name))
    return tuple(usage), tuple(exits), tuple(aborts)


def usage_outcome(exc: BaseException) -> int | None:
    """Show a usage error (short usage message on stderr) and return its exit code (2); the exit code of
    a click ``Exit``; 1 for an ``Abort``; None when ``exc`` is none of these."""
    usage, exits, aborts = usage_exceptions()
    if isinstance(exc, exits):
        return int(getattr(exc, "exit_code", 0))
    if isinstance(exc, usage):
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 2))
    if isinstance(exc, aborts):
        print("aborted", file=sys.stderr)
        return 1
    return None
