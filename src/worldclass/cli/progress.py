"""Progress bars for long commands (rich); a no-op-free callback ``update(done, total)``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """Yield ``update(done, total)`` drawing a bar on stderr."""
    console = Console(stderr=True)  # stdout carries the command's result (JSON)
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=False,
        console=console,
        disable=not console.is_terminal,  # piped/logged: no bar (rich would only print its last state)
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            yield update
        except BaseException:
            bar.live.transient = True  # the error is the one line left on stderr, no bar above it
            raise
