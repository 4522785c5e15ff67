"""Multi-label content-based retrieval metrics (numpy only), BigEarthNet protocol.

Inputs: ``query`` (Q, C) multi-hot labels of the queries and ``retrieved`` (Q, k, C) multi-hot labels of
their top-k results in rank order. With ``m = |Y_q ∩ Y_r|`` the number of shared labels of query q and
result r (graded relevance) and ``rel = m > 0`` (binary relevance):

* precision@k = mean over queries of mean over the k results of ``m / |Y_r|``; recall@k likewise with
  ``m / |Y_q|`` (label-overlap P/R of the CSMAE ``retrieval.py`` protocol); F1@k = harmonic mean of the
  averaged P and R.
* mAP@k = mean_q (1/R_k) Σ_{j≤k} rel_j · P@j, with P@j = (1/j) Σ_{t≤j} rel_t and R_k = Σ_{j≤k} rel_j
  (a query with no relevant result scores 0).
* weighted mAP@k = the same with P@j replaced by ACG@j = (1/j) Σ_{t≤j} m_t (graded; a mean number of
  shared labels, so it can exceed 1); ``wmap_norm`` divides ACG@j by its ideal |Y_q| (every result
  carries all query labels), which puts it in [0, 1] (1 only for a perfect ranking).
* ACG@k = (1/k) Σ_{j≤k} m_j; hit rate@k = share of queries with at least one relevant result.

Items without labels count 0 shared labels; a query without labels has recall 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def retrieval_metrics(query: npt.ArrayLike, retrieved: npt.ArrayLike) -> dict[str, float]:
    """Metrics above for (Q, C) query labels and (Q, k, C) result labels; values in [0, 1] except
    ``wmap`` and ``acg`` (mean numbers of shared labels; ``wmap_norm`` is the normalised one)."""
    q = np.asarray(query) > 0
    r = np.asarray(retrieved) > 0
    if q.ndim != 2 or r.ndim != 3 or r.shape[0] != q.shape[0] or r.shape[2] != q.shape[1]:
        raise ValueError(f"shapes {q.shape} and {r.shape}: need (Q, C) and (Q, k, C)")
    k = r.shape[1]
    if q.shape[0] == 0 or k == 0:
        raise ValueError("no queries or k = 0")
    shared = np.einsum("qc,qkc->qk", q.astype(np.float32), r.astype(np.float32))  # (Q, k)
    n_r = r.sum(-1).astype(np.float32)
    n_q = q.sum(-1, keepdims=True).astype(np.float32)
    p_item = np.divide(shared, n_r, out=np.zeros_like(shared), where=n_r > 0)
    r_item = np.divide(shared, n_q, out=np.zeros_like(shared), where=n_q > 0)
    precision, recall = float(p_item.mean()), float(r_item.mean())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    rel = (shared > 0).astype(np.float32)
    ranks = np.arange(1, k + 1, dtype=np.float32)
    acg_at = np.cumsum(shared, axis=1) / ranks
    n_rel = rel.sum(1)
    ap = average_precision_at_k(rel)
    wap = np.divide((rel * acg_at).sum(1), n_rel, out=np.zeros_like(n_rel), where=n_rel > 0)
    wap_norm = np.divide(wap, n_q[:, 0], out=np.zeros_like(wap), where=n_q[:, 0] > 0)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "map": float(ap.mean()),
        "wmap": float(wap.mean()),
        "wmap_norm": float(wap_norm.mean()),
        "acg": float(acg_at[:, -1].mean()),
        "hit_rate": float((n_rel > 0).mean()),
        "k": float(k),
        "queries": float(q.shape[0]),
    }


def average_precision_at_k(relevant: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """(Q,) AP@k of binary relevance (Q, k) in rank order: (1/R_k) sum_j rel_j P@j, 0 without a relevant
    result (the mAP@k of :func:`retrieval_metrics` is its mean)."""
    rel = np.asarray(relevant, np.float32)
    p_at = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1, dtype=np.float32)
    n_rel = rel.sum(1)
    out: npt.NDArray[np.float32] = np.divide(
        (rel * p_at).sum(1), n_rel, out=np.zeros_like(n_rel), where=n_rel > 0
    )
    return out


def recall_at_k(found: npt.NDArray[Any], exact: npt.NDArray[Any]) -> float:
    """Share of the exact top-k neighbours (Q, k) ids that an approximate search (Q, k') also found."""
    hits = sum(len(np.intersect1d(f[f >= 0], e[e >= 0])) for f, e in zip(found, exact, strict=True))
    total = int((exact >= 0).sum())
    return hits / total if total else 1.0
