"""A controlled embedding pool for active-learning tests: labels drawn per patch, embeddings = sum of class
prototypes + noise, written as a real embedding set (`worldclass embed` layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from worldclass.retrieval.embeddings import write_embeddings

CLASSES = ["Urban", "Arable", "Forest", "Pasture", "Water", "Wetland"]


def make_pool(
    path: Path,
    n: int = 600,
    n_test: int = 300,
    dim: int = 24,
    noise: float = 0.6,
    seed: int = 0,
    nuisance: float = 0.0,
) -> Path:
    """``nuisance`` > 0 adds a label-free factor of that scale along 3 random directions."""
    rng = np.random.default_rng(seed)
    protos = rng.normal(size=(len(CLASSES), dim)).astype(np.float32)
    total = n + n_test
    prior = np.array([0.35, 0.3, 0.25, 0.15, 0.08, 0.05])
    y = rng.random((total, len(CLASSES))) < prior
    y[~y.any(1), 0] = True
    x = y.astype(np.float32) @ protos + noise * rng.normal(size=(total, dim)).astype(np.float32)
    if nuisance:
        factor = rng.normal(size=(total, 3)).astype(np.float32) * nuisance
        x = x + factor @ rng.normal(size=(3, dim)).astype(np.float32)
    ids = [f"S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_{i // 100:02d}_{i % 100:02d}" for i in range(total)]
    rows = pa.table(
        {
            "patch_id": ids,
            "sensor": ["s2"] * total,
            "split": ["train"] * n + ["test"] * n_test,
            "labels": [[c for c, v in zip(CLASSES, r, strict=True) if v] for r in y],
        }
    )
    info = {"model": {"checkpoint": "none", "sha256": "0", "task": "classification"}, "classes": CLASSES}
    return write_embeddings(path, x, rows, info)
