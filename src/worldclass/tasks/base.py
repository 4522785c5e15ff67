"""A task is one learning objective as a unit: its config sections, how it builds model, loss and data,
the metric it monitors (and in which direction), its evaluation and its report section.

Training loops (:mod:`worldclass.training`) run any registered task; the CLI dispatches through the
registry; nothing outside ``tasks/`` compares a task name. A new task is a subclass registered with
:func:`register_task` in its own package under ``worldclass/tasks/``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from worldclass.config import ExperimentConfig
from worldclass.errors import ConfigError
from worldclass.registry import Registry

Progress = Callable[[int, int], None]


@dataclass
class Setup:
    """What a training loop needs of a task for one run: a LightningModule, a LightningDataModule and the
    task's own callbacks (e.g. dynamic class weights)."""

    module: Any
    datamodule: Any
    callbacks: list[Any] = field(default_factory=list)


@dataclass
class EvalOptions:
    """Options of ``worldclass evaluate`` a task may use (each task ignores the ones it has no use for).

    ``tune_thresholds``: None = the run's ``trainer.threshold_tuning``; ``tile``/``overlap``: None =
    from the checkpoint (its training patch size)."""

    batch_size: int = 64
    num_workers: int = 0
    tune_thresholds: bool | None = None
    bands: list[str] | None = None
    tile: int | None = None
    overlap: int | None = None
    report: bool = True
    progress: Progress | None = None


class Task(ABC):
    """One learning objective. Class attributes declare it; methods build and evaluate it."""

    #: Registry name (``task:`` in a config) and accepted older names.
    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    #: One line for ``worldclass tasks``.
    summary: ClassVar[str]
    #: Config sections this task contributes (section name -> dataclass), beside data/optim/trainer.
    sections: ClassVar[dict[str, type]]
    #: Logged metric that selects ``best.ckpt`` and drives early stopping, and its direction.
    monitor: ClassVar[str]
    mode: ClassVar[Literal["max", "min"]]
    #: Dataset kinds (``worldclass.datasets``) this task trains on.
    dataset_kinds: ClassVar[tuple[str, ...]]
    #: Default split of :meth:`evaluate`; None when the task has no labelled evaluation.
    eval_split: ClassVar[str | None] = None
    #: ``--set`` overrides that size a run for a CPU in seconds (tests, examples): a small model.
    smoke: ClassVar[tuple[str, ...]] = ()

    def validate(self, cfg: ExperimentConfig) -> None:  # noqa: B027 - optional hook
        """Cross-field checks after parsing (raise :class:`ConfigError`); may resolve ``auto`` values."""

    @abstractmethod
    def setup(self, cfg: ExperimentConfig) -> Setup:
        """Module, data and callbacks of a fresh run of ``cfg`` (weights from scratch or pretrained)."""

    def evaluate(
        self, checkpoint: Path, *, data: str | Path | None, split: str, out: Path | None, options: EvalOptions
    ) -> dict[str, Any]:
        """Metrics of ``checkpoint`` on ``split`` of ``data`` (default: its training data); writes
        ``metrics.json`` etc. to ``out`` when given."""
        raise ConfigError(
            f"{checkpoint}: a {self.name} model has no labelled evaluation; {self.no_eval_hint}"
        )

    #: What to do instead of ``evaluate`` for tasks without one.
    no_eval_hint: ClassVar[str] = "see `worldclass tasks`"

    def predict(self, checkpoint: Path, inputs: list[Path], out: Path, **options: Any) -> dict[str, Any]:
        """Score ``inputs`` (patches, archives) with ``checkpoint`` into ``out``; returns a JSON summary.
        ``options``: the task's own (see ``worldclass predict --help``)."""
        raise ConfigError(
            f"{checkpoint}: a {self.name} model has no patch prediction; {self.no_predict_hint}"
        )

    #: What to do instead of ``predict`` for tasks without one.
    no_predict_hint: ClassVar[str] = "see `worldclass tasks`"

    def headline(self, result: dict[str, Any]) -> dict[str, Any]:
        """The few numbers of an evaluation result the CLI prints."""
        return {}

    def report_section(self, report: Any, result: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Add this task's evaluation section to a :class:`worldclass.report.Report`."""


def _load_builtin() -> None:
    from worldclass.tasks import (  # noqa: F401
        alignment,
        classification,
        codec,
        crossmodal,
        csmae,
        regression,
        segmentation,
        selfsup,
    )


_TASKS: Registry[Task] = Registry("task", _load_builtin)


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: register a task (by ``cls.name`` and its aliases)."""
    _TASKS.add(cls.name, cls(), cls.aliases)
    return cls


def list_tasks() -> list[str]:
    """Names of every registered task."""
    return _TASKS.names()


def get_task(name: str) -> Task:
    """The registered task ``name`` (or one of its aliases); did-you-mean on a typo."""
    return _TASKS.get(name)
