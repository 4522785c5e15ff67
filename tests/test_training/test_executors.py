"""Batch work on executors: the embed work manifest run locally and on a local Ray instance (2 CPUs)
gives the same embedding set, and a run stopped under one executor resumes under the other."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from worldclass.errors import ConfigError
from worldclass.retrieval.embed_archive import EmbedJob, embed
from worldclass.retrieval.embeddings import Embeddings
from worldclass.training.executors import run_units

HAS_RAY = importlib.util.find_spec("ray") is not None


class Stop(Exception):
    pass


def test_local_executor_resumes_from_the_manifest(
    ssl_checkpoint: Path, v2_store: Path, tmp_path: Path
) -> None:
    whole = embed(ssl_checkpoint, v2_store, tmp_path / "whole", chunk=16)
    job = EmbedJob(ssl_checkpoint, v2_store, tmp_path / "cut", chunk=16)
    todo = job.prepare()
    assert [u.id for u in todo] == [u.id for u in job.units()] and len(todo) >= 4
    job.run_unit(todo[0])
    job.run_unit(todo[2])  # units run in any order
    with pytest.raises(ConfigError, match="chunks not embedded yet"):
        job.finalize()
    again = EmbedJob(ssl_checkpoint, v2_store, tmp_path / "cut", chunk=16)
    left = again.prepare()
    assert [u.id for u in left] == [u.id for u in todo if u not in (todo[0], todo[2])]
    run_units(again, left, executor="local")
    a, b = Embeddings.open(whole), Embeddings.open(again.finalize())
    assert np.array_equal(a.vectors, b.vectors) and a.fingerprint == b.fingerprint
    assert a.rows.equals(b.rows)


@pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'worldclass[ray]')")
def test_ray_executor_gives_the_local_result_and_resumes_a_local_run(
    ssl_checkpoint: Path, v2_store: Path, tmp_path: Path
) -> None:
    local = Embeddings.open(embed(ssl_checkpoint, v2_store, tmp_path / "local", chunk=16))
    job = EmbedJob(ssl_checkpoint, v2_store, tmp_path / "ray", chunk=16)
    todo = job.prepare()
    job.run_unit(todo[1])  # a local run that stopped after one unit
    before = (tmp_path / "ray" / "parts" / f"{todo[1].id}.npz").stat().st_mtime_ns
    left = EmbedJob(ssl_checkpoint, v2_store, tmp_path / "ray", chunk=16).prepare()
    seen: list[tuple[int, int]] = []
    rows = run_units(job, left, executor="ray", workers=2, cpus=2, progress=lambda d, t: seen.append((d, t)))
    total = len(local)
    assert rows == total and seen[-1] == (total, total) and len(seen) == len(left)
    assert (tmp_path / "ray" / "parts" / f"{todo[1].id}.npz").stat().st_mtime_ns == before  # not redone
    ray_set = Embeddings.open(job.finalize())
    assert np.allclose(ray_set.vectors, local.vectors, atol=1e-6, rtol=0)
    assert ray_set.rows.equals(local.rows)
    import ray

    assert not ray.is_initialized()  # the local instance it started is shut down again
