"""Executors for batch work: run the units of a job's work manifest here (``local``) or on Ray (``ray``).

A job (:class:`worldclass.retrieval.embed_archive.EmbedJob`, :class:`worldclass.mapping.job.MapJob`,
:class:`worldclass.data.encode.EncodeJob`) has ``prepare() -> units still to do`` (each unit covers rows
``lo:hi``), ``run_unit(unit) -> result`` (map and embed write their output atomically there), an optional
``record(unit, result)`` that the driver calls when a unit succeeded (the map job's done log; encode's
single LMDB writer stores what the unit prepared), and ``finalize()``, which reads only what the units
wrote; so the result does not depend on the executor, and an interrupted run of either executor resumes
from the units already done.

``ray`` (``pip install 'worldclass[ray]'``): ``address=None`` starts a local Ray instance (``cpus``
CPUs), ``"auto"`` or ``"HOST:PORT"`` joins a running cluster. One actor per worker holds one model
replica (``gpus_per_worker`` GPUs each when the job runs on CUDA); units are handed to free actors only
(:class:`ray.util.ActorPool`), so at most ``workers`` units are in flight and memory stays bounded. All
workers must see the job's input and output folders (a shared filesystem on a cluster).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from worldclass.errors import ConfigError, WorldclassError

Progress = Callable[[int, int], None]
EXECUTORS = ("local", "ray")


class Job(Protocol):
    def units(self) -> Sequence[Any]: ...

    def run_unit(self, unit: Any) -> Any: ...


def _record(job: Job, unit: Any, result: Any) -> None:
    """The driver's part of a finished unit: a done log (map) or the single writer of a store (encode)."""
    record = getattr(job, "record", None)
    if record is not None:
        record(unit, result)


def check_executor(executor: str) -> None:
    """Refuse an unknown executor name (one line)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor}: use {' or '.join(EXECUTORS)}")


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'worldclass[ray]' (ray 2.55)") from None
    return ray


def run_units(
    job: Job,
    todo: Sequence[Any],
    *,
    executor: str = "local",
    address: str | None = None,
    workers: int = 2,
    cpus: int | None = None,
    gpus_per_worker: float = 0.0,
    progress: Progress | None = None,
) -> int:
    """Run ``todo`` (units of ``job``) with ``executor``; returns the rows done. ``progress(done, total)``
    counts the rows of all the job's units (finished ones from earlier runs included)."""
    check_executor(executor)
    total = int(sum(u.hi - u.lo for u in job.units()))
    done = total - int(sum(u.hi - u.lo for u in todo))
    if executor == "local" or not todo:
        for u in todo:
            _record(job, u, job.run_unit(u))
            done += u.hi - u.lo
            if progress:
                progress(done, total)
        return done
    if workers < 1:
        raise ConfigError(f"--ray-workers {workers}: use 1 or more")
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
        try:
            ray.init(
                address=address,
                num_cpus=cpus if address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
                configure_logging=True,
            )
        except ConnectionError as exc:
            raise ConfigError(
                f"--address {address}: no Ray cluster there ({exc}); start one with `ray start --head`"
            ) from None
    try:
        from ray.util import ActorPool

        @ray.remote(num_cpus=1, num_gpus=gpus_per_worker)
        class Worker:
            def __init__(self, job: Job) -> None:
                self.job = job  # unpickled without model or data: loaded on the first unit

            def run(self, unit: Any) -> tuple[Any, Any]:
                return self.job.run_unit(unit), unit

        pool = ActorPool([Worker.remote(job) for _ in range(min(workers, len(todo)))])  # type: ignore[attr-defined]
        try:
            for result, unit in pool.map_unordered(lambda actor, unit: actor.run.remote(unit), list(todo)):
                _record(job, unit, result)
                done += unit.hi - unit.lo
                if progress:
                    progress(done, total)
        except Exception as exc:  # a unit's own error (a corrupt scene, a bad patch): the user's one line
            cause = getattr(exc, "cause", None)
            if isinstance(cause, WorldclassError):
                raise cause from None
            raise
    finally:
        if started:
            ray.shutdown()
    return done
