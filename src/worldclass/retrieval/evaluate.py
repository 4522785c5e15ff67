"""``worldclass retrieval-eval``: the BigEarthNet retrieval protocol on embedding sets.

Queries = ``query_split`` rows (default validation), archive = ``archive_split`` rows (default test),
k = 10, for every direction between the sensors of the set (S2→S2, S1→S1, S1→S2, S2→S1 for a
cross-sensor model; S2+S1→S2+S1 for a fused classifier). The archive is indexed with ``kind`` (default
exact ``flat``, as in the papers) through :func:`~worldclass.retrieval.index.build_index`; metrics are
:func:`worldclass.metrics.retrieval.retrieval_metrics`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.errors import ConfigError
from worldclass.metrics.retrieval import retrieval_metrics
from worldclass.retrieval.embeddings import Embeddings, labels_to_multi_hot
from worldclass.retrieval.index import IndexParams, build_index

SENSOR_NAMES = {"s2": "S2", "s1": "S1", "s2+s1": "S2+S1", "image": "image"}


def direction_name(query: str, archive: str) -> str:
    return f"{SENSOR_NAMES.get(query, query)}→{SENSOR_NAMES.get(archive, archive)}"


def retrieval_eval(
    embeddings: str | Path,
    *,
    k: int = 10,
    query_split: str = "validation",
    archive_split: str = "test",
    kind: str = "flat",
    directions: Sequence[tuple[str, str]] | None = None,
    params: IndexParams | None = None,
) -> dict[str, Any]:
    """Metrics per direction: ``{"directions": {"S1→S2": {precision, recall, f1, map, wmap, ...}}, ...}``."""
    emb = Embeddings.open(embeddings)
    if not emb.classes:
        raise ConfigError(f"{emb.path}: the embeddings carry no class names; retrieval-eval needs labels")
    sensors = list(emb.info["sensors"])
    pairs = list(directions) if directions else [(a, b) for a in sensors for b in sensors]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for archive_sensor in dict.fromkeys(b for _, b in pairs):
            index = build_index(
                emb.path,
                Path(tmp) / archive_sensor.replace("+", "_"),
                kind,
                sensor=archive_sensor,
                split=archive_split,
                params=params,
            )
            archive_labels = labels_to_multi_hot(index.rows.column("labels").to_pylist(), emb.classes)
            for query_sensor in [a for a, b in pairs if b == archive_sensor]:
                rows = emb.select(sensor=query_sensor, split=query_split)
                if len(rows) == 0:
                    raise ConfigError(
                        f"{emb.path}: no {query_sensor} rows in split {query_split!r}; embed that split or "
                        "choose --query-split"
                    )
                _, idx = index.search(emb.vectors[rows], k)
                retrieved = archive_labels[idx.clip(0)] & (idx >= 0)[..., None]
                m = retrieval_metrics(emb.multi_hot(rows), retrieved)
                results[direction_name(query_sensor, archive_sensor)] = m
    return {
        "random": _random_reference(emb, k, query_split, archive_split, pairs[0]),
        "embeddings": str(emb.path),
        "model": emb.info.get("model", {}),
        "k": k,
        "kind": kind,
        "query_split": query_split,
        "archive_split": archive_split,
        "directions": results,
    }


def _random_reference(
    emb: Embeddings, k: int, query_split: str, archive_split: str, pair: tuple[str, str], seed: int = 0
) -> dict[str, float]:
    """Metrics of a random ranking of the archive: the floor every model must beat (label imbalance
    alone gives it a non-zero precision)."""
    q, a = emb.select(sensor=pair[0], split=query_split), emb.select(sensor=pair[1], split=archive_split)
    rng = np.random.default_rng(seed)
    picks = np.stack([rng.choice(len(a), min(k, len(a)), replace=False) for _ in range(len(q))])
    return retrieval_metrics(emb.multi_hot(q), emb.multi_hot(a)[picks])


def results_table(named: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows (one per embedding set and direction) for reports and the CLI, all in %
    (weighted mAP normalised by its ideal, see :mod:`worldclass.metrics.retrieval`)."""
    header = ["embeddings", "direction", "P@k", "R@k", "F1@k", "mAP@k", "wmAP@k (ACG, normalised)", "queries"]
    rows = []
    for name, res in named.items():
        for d, m in [*res["directions"].items(), ("random ranking", res["random"])]:
            rows.append(
                [
                    name,
                    d,
                    *(round(100 * m[key], 1) for key in ("precision", "recall", "f1", "map", "wmap_norm")),
                    int(m["queries"]),
                ]
            )
    return header, rows
