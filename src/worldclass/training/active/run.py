"""An active-learning run on disk: settings, state, the answers journal and the batch handed to a person.

Layout of ``RUN/``::

    active.json     settings (fixed at `al init`) and the run id
    state.json      round, answered items, the pending batch, history (written atomically after each step)
    answers.jsonl   every answer as it is given: {"run", "round", "key", "answer", "by"} (appended, fsynced)
    batch.json      the pending batch with previews' ids (for a person; `al next`)
    batch.csv       the same as a table to fill in offline: key,a,b,answer
    model.pt        the model fitted in the last step
    history.csv     one row per step: round, annotations, cost, label assignments, metrics

An item's key is its patch id (labels mode) or ``"A|B"`` with A < B (pairs mode). An answer is a list of
class names (labels) or true/false for similar (pairs). A step only reads answers of the pending round
from the journal, the last answer per key winning, so a stopped process, a retried upload or a changed
mind never loses or duplicates an answer.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from worldclass.errors import ConfigError, DataError
from worldclass.io import atomic_open, write_json_atomic

FORMAT = "worldclass-active/1"
RULES = ("overlap", "same", "jaccard")


@dataclass
class ActiveSettings:
    """What a run does. ``batch``/``budget``/``initial`` count items (patches or pairs); with
    ``cost_per_label`` > 0 a patch costs ``1 + cost_per_label * (its expected label count)`` units and the
    batch is filled up to ``batch`` units (cost-aware). ``rule`` (pairs, simulated oracle): ``overlap`` (share
    a label), ``same`` (identical label sets) or ``jaccard:T`` (Jaccard >= T). ``learner``: ``head`` (an MLP
    on the embeddings) or ``task`` (the classification ``config`` with ``overrides``, fully trained on the
    answered patches every round)."""

    embeddings: str
    mode: str = "labels"
    strategy: str = "entropy"
    batch: int = 20
    budget: int = 200
    initial: int = 20
    seed: int = 0
    sensor: str | None = None
    pool_split: str = "train"
    eval_split: str = "test"
    oracle: str = "simulated"
    rule: str = "overlap"
    cost_per_label: float = 0.0
    mc_passes: int = 10
    pre_factor: int = 5
    neighbours: int = 10
    anchors: int = 2000
    hidden: int = 256
    dropout: float = 0.3
    steps: int = 300
    k: int = 10
    learner: str = "head"
    config: str | None = None
    overrides: list[str] = field(default_factory=list)

    def check(self) -> None:
        from worldclass.training.active.pairs import PAIR_STRATEGIES
        from worldclass.training.active.strategies import STRATEGIES

        if self.mode not in ("labels", "pairs"):
            raise ConfigError(f"--mode {self.mode}: use labels or pairs")
        names = STRATEGIES if self.mode == "labels" else PAIR_STRATEGIES
        if self.strategy not in names:
            raise ConfigError(
                f"--strategy {self.strategy} ({self.mode} mode): choose one of {', '.join(names)}"
            )
        if self.oracle not in ("simulated", "person"):
            raise ConfigError(f"--oracle {self.oracle}: use simulated or person")
        rule_of(self.rule)
        if self.learner not in ("head", "task"):
            raise ConfigError(
                f"--learner {self.learner}: use head (on the embeddings) or task (the full model)"
            )
        if self.learner == "task" and (self.mode != "labels" or not self.config):
            raise ConfigError(
                "--learner task trains a classification config: give --config (labels mode only)"
            )
        for name in ("batch", "budget", "initial", "mc_passes", "neighbours", "anchors", "k", "steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        if self.initial > self.budget:
            raise ConfigError(f"--initial {self.initial} is larger than --budget {self.budget}")


def rule_of(rule: str) -> tuple[str, float]:
    kind, _, value = rule.partition(":")
    if kind not in RULES or (kind == "jaccard") != bool(value):
        raise ConfigError(f"--rule {rule}: use overlap, same or jaccard:T (e.g. jaccard:0.5)")
    try:
        t = float(value) if value else 0.0
    except ValueError:
        raise ConfigError(f"--rule {rule}: T must be a number in (0, 1]") from None
    if kind == "jaccard" and not 0 < t <= 1:
        raise ConfigError(f"--rule {rule}: T must be in (0, 1]")
    return kind, t


def similar(a: set[str], b: set[str], rule: str) -> bool:
    """Simulated pair answer from two label sets."""
    kind, t = rule_of(rule)
    if kind == "overlap":
        return bool(a & b)
    if kind == "same":
        return a == b
    union = a | b
    return bool(union) and len(a & b) / len(union) >= t


def pair_key(a: str, b: str) -> str:
    lo, hi = sorted((a, b))
    return f"{lo}|{hi}"


@dataclass
class State:
    """``answered``: key -> answer of every absorbed item; ``pending``: {"round", "items": [keys]} or None;
    ``history``: one dict per finished step."""

    run: str
    round: int = 0
    answered: dict[str, Any] = field(default_factory=dict)
    pending: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class Run:
    """An opened run folder."""

    def __init__(self, path: Path, settings: ActiveSettings, run_id: str) -> None:
        self.path, self.settings, self.id = path, settings, run_id

    @classmethod
    def create(cls, path: str | Path, settings: ActiveSettings, *, overwrite: bool = False) -> Run:
        p = Path(path)
        settings.check()
        if (p / "active.json").exists() and not overwrite:
            raise ConfigError(
                f"{p}: already an active-learning run; continue it with `worldclass al step {p}` or pass --overwrite"
            )
        p.mkdir(parents=True, exist_ok=True)
        for name in ("state.json", "answers.jsonl", "batch.json", "batch.csv", "model.pt", "history.csv"):
            (p / name).unlink(missing_ok=True)
        shutil.rmtree(p / "task", ignore_errors=True)  # the task learner's rounds of the earlier run
        run = cls(p, settings, uuid.uuid4().hex[:12])
        write_json_atomic(p / "active.json", {"format": FORMAT, "run": run.id, "settings": asdict(settings)})
        return run

    @classmethod
    def open(cls, path: str | Path) -> Run:
        p = Path(path)
        f = p / "active.json"
        if not f.is_file():
            raise ConfigError(
                f"{p}: not an active-learning run (no active.json); start one with `worldclass al init`"
            )
        try:
            meta = json.loads(f.read_text())
            settings = ActiveSettings(**meta["settings"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(
                f"{f}: corrupt run settings ({exc}); start the run again with `worldclass al init --overwrite`"
            ) from None
        if meta.get("format") != FORMAT:
            raise DataError(f"{f}: unknown format {meta.get('format')!r} (expected {FORMAT})")
        return cls(p, settings, str(meta["run"]))

    # state -----------------------------------------------------------------------------------------------
    def state(self) -> State:
        f = self.path / "state.json"
        if not f.is_file():
            return State(run=self.id)
        try:
            raw = json.loads(f.read_text())
        except ValueError as exc:
            raise DataError(f"{f}: corrupt state ({exc}); answers are kept in answers.jsonl") from None
        return State(**raw)

    def save(self, state: State) -> None:
        write_json_atomic(self.path / "state.json", asdict(state))

    # answers ---------------------------------------------------------------------------------------------
    def journal(self) -> list[dict[str, Any]]:
        """Every recorded answer, oldest first (a torn last line from a crash is ignored)."""
        f = self.path / "answers.jsonl"
        if not f.is_file():
            return []
        out = []
        for line in f.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def record(self, answers: list[dict[str, Any]]) -> None:
        """Append answers ({"round", "key", "answer", "by"}) to the journal and flush them to disk."""
        with open(self.path / "answers.jsonl", "a", encoding="utf-8") as fh:
            for a in answers:
                fh.write(json.dumps({"run": self.id, **a}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def pending_answers(self, state: State) -> dict[str, Any]:
        """Answers given for the pending batch (last one per key)."""
        if state.pending is None:
            return {}
        items = set(state.pending["items"])
        out: dict[str, Any] = {}
        for a in self.journal():
            if a.get("run") == self.id and a.get("round") == state.pending["round"] and a.get("key") in items:
                out[a["key"]] = a["answer"]
        return out

    def write_batch(self, state: State, extra: dict[str, Any]) -> Path:
        """batch.json (for the page and scripts) and batch.csv (to fill in offline) of the pending batch."""
        assert state.pending is not None
        given = self.pending_answers(state)
        items = [{"key": k, "answer": given.get(k)} for k in state.pending["items"]]
        write_json_atomic(
            self.path / "batch.json",
            {
                "run": self.id,
                "round": state.pending["round"],
                "mode": self.settings.mode,
                "items": items,
                **extra,
            },
        )
        with atomic_open(self.path / "batch.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["run", "round", "key", "answer"])
            for it in items:
                w.writerow([self.id, state.pending["round"], it["key"], format_answer(it["answer"])])
        return self.path / "batch.json"


def format_answer(answer: Any) -> str:
    if answer is None:
        return ""
    if isinstance(answer, bool):
        return "similar" if answer else "dissimilar"
    return ";".join(answer)


def parse_answer(raw: Any, mode: str, classes: list[str], where: str) -> Any:
    """A label list (labels mode; names, ';'-separated in files) or a bool (pairs: similar/dissimilar,
    yes/no, 1/0, true/false); anything else is refused naming ``where``."""
    if mode == "pairs":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("similar", "yes", "1", "true", "y"):
            return True
        if text in ("dissimilar", "no", "0", "false", "n"):
            return False
        raise ConfigError(f"{where}: answer {raw!r}: use similar or dissimilar (yes/no)")
    names = raw if isinstance(raw, list) else [n for n in str(raw).split(";") if n.strip()]
    names = [str(n).strip() for n in names]
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise ConfigError(
            f"{where}: unknown class(es) {unknown}; use the run's class names ({len(classes)} in batch.json)"
        )
    return sorted(set(names), key=classes.index)
