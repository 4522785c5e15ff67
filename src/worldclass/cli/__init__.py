"""``worldclass`` command line: a thin shell over the Python API (each command wires one API call)."""

from __future__ import annotations

import contextlib
import os
import sys

from worldclass.cli import active as _active  # noqa: F401  (registers the al commands)
from worldclass.cli import archive as _archive  # noqa: F401  (registers compress and decompress)
from worldclass.cli import config as _config  # noqa: F401  (registers the config commands)
from worldclass.cli import federated as _federated  # noqa: F401  (registers the fl commands)
from worldclass.cli import labels as _labels  # noqa: F401  (registers the label commands)
from worldclass.cli import mapping as _mapping  # noqa: F401  (registers the mapping commands)
from worldclass.cli import retrieval as _retrieval  # noqa: F401  (registers the retrieval commands)
from worldclass.cli import runs as _runs  # noqa: F401  (registers report and predict)
from worldclass.cli import selfsup as _selfsup  # noqa: F401  (registers experiment label-budget)
from worldclass.cli.app import app


def main() -> None:
    """Entry point: runs the typer app behind the error boundary (:mod:`worldclass.cli.boundary`):
    user errors become one line on stderr and a non-zero exit, usage errors the short usage message
    (exit 2), interrupts exit 130/143 with the command's resume hint. ``--debug`` shows tracebacks."""
    from worldclass.cli.boundary import run

    args = sys.argv[1:]
    if "--debug" in args:
        args.remove("--debug")
        os.environ["WORLDCLASS_DEBUG"] = "1"
    run(lambda: app(args=args, standalone_mode=False), args)


def entry() -> None:
    """The ``worldclass`` executable: :func:`main`, then a fast exit once Python's own shutdown work is
    done (non-daemon threads joined, ``atexit`` handlers run, output flushed). The C++ static destructors
    that would run after that are skipped: native thread pools (Arrow's, seen in `splits`) can abort in
    them ("terminate called without an active exception", exit 134) after a command succeeded."""
    import atexit
    import threading

    code: int = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    shutdown = getattr(threading, "_shutdown", None)  # what the interpreter would do first
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


__all__ = ["app", "entry", "main"]
