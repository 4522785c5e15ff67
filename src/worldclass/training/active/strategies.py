"""Acquisition strategies for pool-based active learning on multi-label patches.

Inputs are plain arrays: ``probs`` (N, C) sigmoid probabilities of the pool in class order, ``mc`` (T, N, C)
probabilities of T MC-dropout passes, ``features`` (N, D) pool embeddings (float32, any scale; the ones
``worldclass embed`` stores are L2-normalised) and ``labelled`` (M, D) embeddings of the labelled set.
Every selector returns pool row indices in acquisition order (best first), without repeats.

Names (:data:`STRATEGIES`; ``A+B`` = uncertainty ``A`` then diversity ``B`` among the ``pre_factor * k``
most uncertain rows):

* ``random``: seeded uniform draw.
* ``entropy``: mean over labels of the binary entropy (bits) of p; ``entropy-max`` takes the label maximum.
* ``margin``: mean over labels of ``1 - |2p - 1|`` (1 at p = 0.5, 0 at p in {0, 1}); ``margin-max``.
* ``bald``: mutual information between prediction and weights from MC dropout, per label
  ``H(mean_t p_t) - mean_t H(p_t)`` summed over labels (Houlsby et al. 2011).
* ``kmeans``: k-means (faiss) with k clusters on the embeddings, the row nearest each centroid.
* ``coreset``: greedy k-centre (Sener & Savarese 2018): repeatedly the row farthest from the labelled set and
  the rows already chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from worldclass.errors import ConfigError

Indices = npt.NDArray[np.int64]
EPS = 1e-6
UNCERTAINTY = ("entropy", "entropy-max", "margin", "margin-max", "bald")
DIVERSITY = ("kmeans", "coreset")
STRATEGIES = (
    "random",
    *UNCERTAINTY,
    *DIVERSITY,
    *(f"{u}+{d}" for u in UNCERTAINTY for d in DIVERSITY),
)


def parse_strategy(name: str) -> tuple[str | None, str | None]:
    """``"entropy+kmeans"`` -> ("entropy", "kmeans"); ``"random"`` -> (None, None)."""
    if name not in STRATEGIES:
        raise ConfigError(f"strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    if name == "random":
        return None, None
    first, _, second = name.partition("+")
    if first in DIVERSITY:
        return None, first
    return first, second or None


def binary_entropy(p: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Entropy in bits of Bernoulli(p), elementwise."""
    q = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    out: npt.NDArray[np.float64] = -(q * np.log2(q) + (1 - q) * np.log2(1 - q))
    return out


def uncertainty(probs: npt.ArrayLike, measure: str = "entropy") -> npt.NDArray[np.float64]:
    """(N,) uncertainty of (N, C) probabilities: ``entropy``/``margin`` averaged over labels, ``-max``
    variants take the most uncertain label."""
    p = np.asarray(probs, np.float64)
    kind, _, agg = measure.partition("-")
    if kind == "entropy":
        per_label = binary_entropy(p)
    elif kind == "margin":
        per_label = 1.0 - np.abs(2.0 * p - 1.0)
    else:
        raise ConfigError(f"uncertainty {measure!r}: use entropy, entropy-max, margin or margin-max")
    out: npt.NDArray[np.float64] = per_label.max(1) if agg == "max" else per_label.mean(1)
    return out


def bald(mc: npt.ArrayLike, chunk: int = 16384) -> npt.NDArray[np.float64]:
    """(N,) BALD score of (T, N, C) MC-dropout probabilities, summed over labels (bits); computed over
    chunks of rows, so the temporaries stay small for large pools."""
    m = np.asarray(mc)
    if m.ndim != 3 or m.shape[0] < 2:
        raise ValueError(f"BALD needs (T >= 2, N, C) MC-dropout probabilities, got {m.shape}")
    out = np.empty(m.shape[1], np.float64)
    for i in range(0, m.shape[1], chunk):
        part = m[:, i : i + chunk].astype(np.float64)
        out[i : i + chunk] = (binary_entropy(part.mean(0)) - binary_entropy(part).mean(0)).sum(1)
    return out


def top(scores: npt.ArrayLike, k: int) -> Indices:
    """Indices of the ``k`` largest scores, largest first (ties: lower index first)."""
    s = np.asarray(scores, np.float64)
    order = np.lexsort((np.arange(len(s)), -s))
    return order[:k].astype(np.int64)


def kmeans(
    features: npt.ArrayLike, k: int, seed: int, score: npt.ArrayLike | None = None, niter: int = 25
) -> Indices:
    """One row per k-means cluster (faiss, k-means++ seeding): the highest-``score`` member, or the member nearest its centroid
    when no score is given; clusters ordered by that member's score (or size). Empty clusters are refilled
    with the best remaining rows, so exactly ``min(k, N)`` rows come back."""
    import faiss

    x = np.ascontiguousarray(np.asarray(features, np.float32))
    n = len(x)
    k = min(k, n)
    if k == 0:
        return np.zeros(0, np.int64)
    if k == n:
        return np.arange(n, dtype=np.int64)
    km = faiss.Kmeans(
        x.shape[1],
        k,
        niter=niter,
        seed=seed,
        min_points_per_centroid=1,
        max_points_per_centroid=max(256, n // k + 1),
    )
    km.train(x, init_centroids=kmeans_pp(x, k, seed))
    dist, assign = km.index.search(x, 1)
    dist, assign = dist[:, 0], assign[:, 0]
    key = -dist if score is None else np.asarray(score, np.float64)
    chosen: list[int] = []
    for c in range(k):
        members = np.flatnonzero(assign == c)
        if len(members):
            chosen.append(int(members[np.argmax(key[members])]))
    picked = np.asarray(chosen, np.int64)
    picked = picked[top(key[picked], len(picked))]
    if len(picked) < k:
        rest = np.setdiff1d(np.arange(n), picked)
        picked = np.concatenate([picked, rest[top(key[rest], k - len(picked))]])
    return picked


def kmeans_pp(x: npt.NDArray[np.float32], k: int, seed: int) -> npt.NDArray[np.float32]:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): each next centre drawn with probability
    proportional to the squared distance to the nearest centre so far, so small clusters get a centre."""
    rng = np.random.default_rng(seed)
    centres = [int(rng.integers(len(x)))]
    d = ((x - x[centres[0]]) ** 2).sum(1)
    for _ in range(1, k):
        total = float(d.sum())
        i = int(rng.choice(len(x), p=d / total)) if total > 0 else int(rng.integers(len(x)))
        centres.append(i)
        np.minimum(d, ((x - x[i]) ** 2).sum(1), out=d)
    return np.ascontiguousarray(x[centres])


def _min_sq_dist(x: npt.NDArray[np.float32], centres: npt.NDArray[np.float32], chunk: int = 4096) -> Any:
    out = np.full(len(x), np.inf, np.float32)
    xx = (x * x).sum(1)
    for i in range(0, len(centres), chunk):
        c = centres[i : i + chunk]
        d = xx[:, None] - 2.0 * (x @ c.T) + (c * c).sum(1)[None]
        np.minimum(out, d.min(1), out=out)
    return np.maximum(out, 0.0)


def coreset(features: npt.ArrayLike, labelled: npt.ArrayLike | None, k: int) -> Indices:
    """Greedy k-centre: ``k`` rows of ``features`` (N, D), each the farthest (Euclidean) from the labelled
    embeddings (M, D) and the rows picked before it. Without labelled rows the first pick is the row farthest
    from the pool mean, so the result does not depend on row order."""
    x = np.ascontiguousarray(np.asarray(features, np.float32))
    k = min(k, len(x))
    if k == 0:
        return np.zeros(0, np.int64)
    lab = None if labelled is None else np.asarray(labelled, np.float32)
    if lab is None or len(lab) == 0:
        lab = x.mean(0, keepdims=True)
    d = _min_sq_dist(x, lab)
    picked: list[int] = []
    for _ in range(k):
        i = int(np.argmax(d))
        picked.append(i)
        np.minimum(d, ((x - x[i]) ** 2).sum(1), out=d)
        d[i] = -1.0
    return np.asarray(picked, np.int64)


def select(
    strategy: str,
    k: int,
    *,
    seed: int,
    probs: npt.ArrayLike | None = None,
    mc: npt.ArrayLike | None = None,
    features: npt.ArrayLike | None = None,
    labelled: npt.ArrayLike | None = None,
    pre_factor: int = 5,
) -> Indices:
    """Pool rows to annotate next, best first (at most ``k``; fewer only when the pool is smaller).

    Uncertainty strategies need ``probs`` (``bald``: ``mc``); diversity needs ``features`` (and
    ``coreset`` the ``labelled`` embeddings)."""
    unc, div = parse_strategy(strategy)
    n = _pool_size(probs, mc, features)
    k = min(k, n)
    if unc is None and div is None:
        return np.random.default_rng(seed).permutation(n)[:k].astype(np.int64)
    if div is not None and features is None:
        raise ConfigError(
            f"strategy {strategy!r} needs pool embeddings (`worldclass embed`); none were given for this pool"
        )
    score: npt.NDArray[np.float64] | None = None
    if unc == "bald":
        if mc is None:
            raise ConfigError(f"strategy {strategy!r} needs MC-dropout predictions: the model has no dropout")
        score = bald(mc)
    elif unc is not None:
        if probs is None:
            raise ValueError(f"strategy {strategy!r} needs pool probabilities")
        score = uncertainty(probs, unc)
    if div is None:
        assert score is not None
        return top(score, k)
    feats = np.asarray(features, np.float32)
    cand = np.arange(n, dtype=np.int64) if score is None else top(score, min(n, pre_factor * k))
    sub_score = None if score is None else score[cand]
    if div == "kmeans":
        return cand[kmeans(feats[cand], k, seed, sub_score)]
    return cand[coreset(feats[cand], labelled, k)]


def _pool_size(*arrays: Any) -> int:
    for a in arrays:
        if a is not None:
            shape = np.shape(a)
            return int(shape[1] if len(shape) == 3 else shape[0])
    raise ValueError("no pool arrays given")


def fill_cost(order: Sequence[int] | Indices, costs: npt.ArrayLike, budget: float) -> Indices:
    """Cost-aware batch: rows of ``order`` (best first) taken while their summed ``costs`` (per pool row)
    stay within ``budget``; a row too expensive for what is left is skipped, cheaper later ones still fit."""
    c = np.asarray(costs, np.float64)
    taken: list[int] = []
    left = float(budget)
    for i in order:
        if c[i] <= left + 1e-9:
            taken.append(int(i))
            left -= c[i]
    return np.asarray(taken, np.int64)
