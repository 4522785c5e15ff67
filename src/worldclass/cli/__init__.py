"""``worldclass`` command line: a thin shell over the Python API (each command wires one API call)."""

from __future__ import annotations

import sys

from worldclass.cli import mapping as _mapping  # noqa: F401  (registers the mapping commands)
from worldclass.cli import retrieval as _retrieval  # noqa: F401  (registers the retrieval commands)
from worldclass.cli.app import app


def _usage_exceptions() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(usage errors, exits, aborts) of click and of the click that typer vendors (``typer._click``,
    typer >= 0.24); both may be installed and either may raise."""
    import importlib

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


def main() -> None:
    """Entry point: runs the typer app; user errors become one line on stderr and a non-zero exit;
    usage errors print the short usage message and exit 2."""
    from worldclass.errors import WorldclassError

    try:
        app(standalone_mode=False)
    except WorldclassError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to resume", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # usage errors arrive here with standalone_mode=False
        usage, exits, aborts = _usage_exceptions()
        if isinstance(exc, exits):
            sys.exit(int(getattr(exc, "exit_code", 0)))
        if isinstance(exc, usage):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(int(getattr(exc, "exit_code", 2)))
        if isinstance(exc, aborts):
            print("aborted", file=sys.stderr)
            sys.exit(1)
        raise


__all__ = ["app", "main"]
