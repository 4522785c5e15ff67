"""Answers from a person: one at a time (the web page) or a filled-in batch.csv (`worldclass al answer`).

Everything is checked before anything is written: an answer for another run or another round, a key that
is not in the pending batch, or an unreadable answer refuses the whole file with one line, and what was
already answered stays in the journal.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from worldclass.errors import ConfigError, MissingFileError
from worldclass.training.active.run import Run, State, parse_answer


def check_answer(
    run: Run,
    classes: list[str],
    run_id: str,
    round_: int,
    key: str,
    raw: Any,
    where: str,
    state: State | None = None,
) -> dict[str, Any]:
    """One answer checked against the run's pending batch -> a journal entry (not yet written). ``state``:
    the run's state when the caller has read it already (a file of answers reads it once)."""
    state = state or run.state()
    if run_id != run.id:
        raise ConfigError(
            f"{where}: answers of run {run_id}, this run ({run.path}) is {run.id}; answer its own batch.csv"
        )
    if state.pending is None:
        raise ConfigError(f"{where}: {run.path} has no pending batch (budget spent)")
    if round_ != state.pending["round"]:
        raise ConfigError(
            f"{where}: answers for round {round_}, the pending batch is round {state.pending['round']}; "
            f"write it again with `worldclass al next {run.path}`"
        )
    if key not in set(state.pending["items"]):
        raise ConfigError(f"{where}: {key!r} is not in the pending batch of round {round_} (see batch.json)")
    return {
        "round": round_,
        "key": key,
        "answer": parse_answer(raw, run.settings.mode, classes, where),
        "by": "person",
    }


def import_answers(run: Run, path: str | Path, classes: list[str]) -> int:
    """Record the answered rows of a batch.csv (columns run, round, key, answer; empty answers skipped in
    pairs mode, an empty label list is a valid labels answer only when written as ``-``). Returns the count."""
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"{p}: no such answers file; fill in {run.path / 'batch.csv'}")
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(
            f"{p}: unreadable answers file ({exc}); use the columns run,round,key,answer"
        ) from None
    if rows and not {"run", "round", "key", "answer"} <= set(rows[0]):
        raise ConfigError(f"{p}: columns {sorted(rows[0])}; need run, round, key, answer (as in batch.csv)")
    entries = []
    state = run.state()
    for n, r in enumerate(rows, start=2):
        raw = (r.get("answer") or "").strip()
        if not raw:
            continue
        try:
            round_ = int(r["round"])
        except ValueError:
            raise ConfigError(f"{p}:{n}: round {r['round']!r} is not a number") from None
        entries.append(
            check_answer(
                run, classes, r["run"], round_, r["key"], "" if raw == "-" else raw, f"{p}:{n}", state
            )
        )
    run.record(entries)
    return len(entries)
