"""The fault-injection harness: run a CLI command in this process, record how it ended, and check the
promise of :mod:`worldclass.cli.boundary` (expected exit code, one line, no traceback, outputs intact).

Every case of the tables in this folder is one :class:`Case`; its ``setup`` builds the bad input in a
private folder and returns the command line. ``keep`` names outputs the setup wrote first (a previous good
result): their bytes must be identical after the failure. The outcome of each case is classified as the
sweep of issue 13 counted it: clean, traceback, damaged output, accepted bad input, wrong exit code.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# lines a long command may print before failing (tqdm/rich progress), never part of the error
PROGRESS = re.compile(r"(\d+%\|)|(it/s\])|(s/it\])|(^\s*$)")


@dataclass(frozen=True)
class Case:
    """One bad input: ``setup(ctx)`` -> argv; the run must exit ``code`` with one line matching ``match``."""

    name: str
    setup: Callable[[Ctx], list[str]]
    code: int
    match: str
    keep: tuple[str, ...] = ()  # paths relative to ctx.tmp whose bytes must survive
    usage: bool = False  # a usage error: the short usage message instead of "error: ..."


@dataclass
class Ctx:
    """What a case's setup may use: a private folder and the session's (lazily built) fixtures."""

    tmp: Path
    request: pytest.FixtureRequest
    notes: dict[str, Any] = field(default_factory=dict)

    def fx(self, name: str) -> Any:
        return self.request.getfixturevalue(name)

    def copy(self, fixture: str, name: str) -> Path:
        src = Path(self.fx(fixture))
        dst = self.tmp / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
        return dst

    def readonly(self, name: str) -> Path:
        """A folder this process may not write into: mode 0555, or a sysfs path when running as root
        (root ignores permission bits; sysfs refuses to create files for everyone)."""
        if os.geteuid() == 0:
            return Path("/sys") / f"worldclass-{name}"
        path = self.tmp / name
        path.mkdir()
        path.chmod(0o555)
        return path


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> Outcome:
    """``worldclass ARGS`` in this process (no interpreter start-up), signal handlers restored after."""
    from worldclass.cli import main

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGXFSZ)}
    argv, sys.argv, hook = sys.argv, ["worldclass", *args], sys.unraisablehook
    debug = os.environ.pop("WORLDCLASS_DEBUG", None)
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv, sys.unraisablehook = argv, hook
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        if debug is not None:
            os.environ["WORLDCLASS_DEBUG"] = debug
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def digest(path: Path) -> str:
    """Content hash of a file or a whole folder (names and bytes)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path.parent)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def classify(case: Case, outcome: Outcome, kept: dict[str, str], after: dict[str, str]) -> str:
    """The sweep's verdict: clean | traceback | damaged | accepted | wrong-exit | wrong-message."""
    if "Traceback" in outcome.err or "Traceback" in outcome.out:
        return "traceback"
    if any(after.get(k) != v for k, v in kept.items()):
        return "damaged"
    if outcome.code == 0:
        return "accepted"
    if outcome.code != case.code:
        return "wrong-exit"
    lines = [ln for ln in outcome.err.splitlines() if not PROGRESS.search(ln)]
    if case.usage:
        ok = bool(lines) and lines[0].startswith("Usage: ") and re.search(case.match, outcome.err)
        return "clean" if ok and len(lines) <= 5 else "wrong-message"
    if len(lines) != 1 or not lines[0].startswith("error: ") or not re.search(case.match, lines[0]):
        return "wrong-message"
    return "clean"


def check(case: Case, request: pytest.FixtureRequest, tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Set the case up, run it, and fail with the verdict and the captured output unless it is clean."""
    ctx = Ctx(tmp, request)
    args = case.setup(ctx)
    kept = {k: digest(tmp / k) for k in case.keep}
    outcome = run_cli(args, capsys)
    after = {k: digest(tmp / k) for k in case.keep if (tmp / k).exists()}
    verdict = classify(case, outcome, kept, after)
    assert verdict == "clean", (
        f"{case.name}: {verdict} (exit {outcome.code}, expected {case.code} /{case.match}/)\n"
        f"argv: {args}\nstderr:\n{outcome.err[-3000:]}\nstdout:\n{outcome.out[-1000:]}"
    )
