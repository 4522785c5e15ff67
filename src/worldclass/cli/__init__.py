"""``worldclass`` command line: a thin shell over the Python API (each command wires one API call)."""

from __future__ import annotations

import sys

from worldclass.cli import mapping as _mapping  # noqa: F401  (registers the mapping commands)
from worldclass.cli import retrieval as _retrieval  # noqa: F401  (registers the retrieval commands)
from worldclass.cli.app import app


def main() -> None:
    """Entry point: runs the typer app; user errors become one line on stderr and a non-zero exit."""
    from worldclass.errors import WorldclassError

    try:
        app(standalone_mode=False)
    except WorldclassError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to resume", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here with standalone_mode=False
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise


__all__ = ["app", "main"]
