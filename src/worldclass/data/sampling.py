"""Multi-label oversampling: MROS (multinomial, per-sample weights) and Charte et al.'s ML-ROS (cloning).

MROS (worldclass definition of the poster's method): with label frequencies p_c = n_c / N on the training
set and the minority set Min = {c : IRLbl(c) > MeanIR}, a sample i with labels Y_i gets the weight
``w_i = max_{c in Y_i ∩ Min} 1 / p_c`` and ``w_i = 1`` when it has no minority label (so majority-only
samples keep their natural rate). Sampling draws N indices with replacement ∝ w (multinomial).

Uncapped, this over-draws a few patches: on reBEN's training labels only Beaches and Coastal wetlands are
minority (IRLbl 120/132 > MeanIR 17.4), and their ~1,400 patches take two thirds of every epoch, each
drawn ~110 times. Two controls (defaults keep every patch at <= 20 expected draws per epoch):

- ``temperature`` T: ``w_i = max_c (1 / p_c) ** T`` (T = 1 is the poster's rule, T = 0 natural sampling);
- ``max_draws`` m: the weights are clipped at the level L at which the most-drawn patch is expected
  ``num_samples * min(w_i, L) / sum_j min(w_j, L) = m`` times per epoch (water-filling, solved by
  bisection); ``None`` keeps the uncapped form. :func:`draw_report` states the effect on a label matrix.

ML-ROS (Charte et al., Neurocomputing 2015): clone random samples of each minority label (IRLbl > MeanIR,
MeanIR frozen on the original set) until its IRLbl <= MeanIR or the clone budget ``P %`` of N is spent.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Sampler

from worldclass.data.imbalance import irlbl


def minority_classes(labels: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """(C,) mask of minority labels: IRLbl > MeanIR (labels without positives are never minority)."""
    y = np.asarray(labels, bool)
    ir = irlbl(y.sum(0))
    present = np.isfinite(ir)
    mean_ir = ir[present].mean() if present.any() else 0.0
    return present & (ir > mean_ir)


MAX_DRAWS = 20.0
"""Default cap: expected draws of any one patch per epoch (``num_samples`` = N)."""


def mros_weights(
    labels: npt.ArrayLike,
    *,
    temperature: float = 1.0,
    max_draws: float | None = MAX_DRAWS,
    num_samples: int | None = None,
) -> npt.NDArray[np.float64]:
    """(N,) MROS sampling weights (see module docstring); labels (N, C) multi-hot.

    ``max_draws`` caps the expected draws of a patch in an epoch of ``num_samples`` (default N) draws.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    y = np.asarray(labels, bool)
    n = max(y.shape[0], 1)
    p = y.sum(0) / n
    minor = minority_classes(y)
    inv = np.where(minor & (p > 0), (1.0 / np.where(p > 0, p, 1.0)) ** temperature, 0.0)
    w = (y * inv[None, :]).max(axis=1)
    w = np.where(w > 0, w, 1.0)
    return w if max_draws is None else cap_weights(w, max_draws, num_samples or len(w))


def cap_weights(weights: npt.ArrayLike, max_draws: float, num_samples: int) -> npt.NDArray[np.float64]:
    """Clip (N,) weights at the level where the top patch gets ``max_draws`` of ``num_samples`` draws."""
    w = np.asarray(weights, np.float64)
    if len(w) == 0:
        return w
    if max_draws * len(w) < num_samples:
        raise ValueError(
            f"max_draws={max_draws} cannot hold: {num_samples} draws over {len(w)} patches need at least "
            f"{num_samples / len(w):.2f} per patch"
        )

    def top(level: float) -> float:
        c = np.minimum(w, level)
        return float(num_samples * level / c.sum())

    if top(float(w.max())) <= max_draws:
        return w
    lo, hi = float(w.min()), float(w.max())  # top(lo) = num_samples / N <= max_draws < top(hi)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if top(mid) <= max_draws else (lo, mid)
    return np.minimum(w, lo)


def draw_report(
    labels: npt.ArrayLike, weights: npt.ArrayLike, num_samples: int | None = None
) -> dict[str, Any]:
    """What a weighted draw does to a label matrix (N, C), in expectation over one epoch.

    Returns ``max_draws`` (expected draws of the most-drawn patch), ``top_share`` (share of the epoch
    going to patches drawn more than 10 times), ``mean_ir`` natural/drawn and the per-class ``boost``
    (drawn frequency / natural frequency; NaN for classes without positives).
    """
    y = np.asarray(labels, np.float64)
    w = np.asarray(weights, np.float64)
    n_draw = num_samples or len(w)
    expected = n_draw * w / w.sum()
    natural, drawn = y.sum(0), expected @ y
    with np.errstate(divide="ignore", invalid="ignore"):
        boost = np.where(natural > 0, (drawn / n_draw) / (natural / len(w)), np.nan)

    def mean_ir(counts: npt.NDArray[np.float64]) -> float:
        present = counts > 0
        return float((counts[present].max() / counts[present]).mean()) if present.any() else 0.0

    return {
        "max_draws": float(expected.max()),
        "top_share": float(expected[expected > 10].sum() / n_draw),
        "mean_ir_natural": mean_ir(natural),
        "mean_ir_drawn": mean_ir(drawn),
        "boost": boost.tolist(),
    }


def ml_ros(labels: npt.ArrayLike, percentage: float = 25.0, seed: int = 0) -> npt.NDArray[np.int64]:
    """Indices of the resampled set (originals followed by clones) per Charte et al.'s ML-ROS."""
    y = np.asarray(labels, bool)
    rng = np.random.default_rng(seed)
    counts = y.sum(0).astype(np.float64)
    ir = irlbl(counts)
    present = np.isfinite(ir)
    mean_ir = ir[present].mean() if present.any() else 0.0
    bag = [c for c in np.flatnonzero(present & (ir > mean_ir))]
    budget = int(y.shape[0] * percentage / 100)
    members = {c: np.flatnonzero(y[:, c]) for c in bag}
    clones: list[int] = []
    while budget > 0 and bag:
        for c in list(bag):  # iterate over a copy: labels leave the bag inside the loop
            if budget <= 0:
                break
            i = int(rng.choice(members[c]))
            clones.append(i)
            counts += y[i]
            budget -= 1
            if counts.max() / counts[c] <= mean_ir:
                bag.remove(c)
    return np.concatenate([np.arange(y.shape[0]), np.asarray(clones, dtype=np.int64)]).astype(np.int64)


class _RankedSampler(Sampler[int]):
    """A global per-epoch index draw (same on every rank), of which each DDP rank takes ``rank::replicas``."""

    def __init__(self, total: int, *, seed: int, num_replicas: int | None, rank: int | None) -> None:
        if num_replicas is None or rank is None:
            dist: Any = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            num_replicas = (
                num_replicas if num_replicas is not None else (dist.get_world_size() if ready else 1)
            )
            rank = rank if rank is not None else (dist.get_rank() if ready else 0)
        self.total, self.seed, self.epoch = total, seed, 0
        self.num_replicas, self.rank = num_replicas, rank
        self.per_rank = math.ceil(total / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)

    def indices(self) -> torch.Tensor:
        """The global draw of the current epoch (length per_rank * num_replicas)."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices()[self.rank :: self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.per_rank


class MROSSampler(_RankedSampler):
    """Multinomial sampling with replacement ∝ :func:`mros_weights`, deterministic per (seed, epoch).

    Under DDP pass ``num_replicas``/``rank`` (defaults from ``torch.distributed`` when initialised): every
    rank draws the same global sequence and takes the disjoint share ``rank::num_replicas``. Call
    :meth:`set_epoch` each epoch (Lightning does).
    """

    def __init__(
        self,
        weights: npt.ArrayLike,
        num_samples: int | None = None,
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        w = torch.as_tensor(np.asarray(weights, np.float64))
        if w.ndim != 1 or len(w) == 0 or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError(
                "weights must be a non-empty 1-D array of non-negative numbers with a positive sum"
            )
        super().__init__(int(num_samples or len(w)), seed=seed, num_replicas=num_replicas, rank=rank)
        self.weights = w

    def indices(self) -> torch.Tensor:
        n = self.per_rank * self.num_replicas
        return torch.multinomial(self.weights, n, replacement=True, generator=self.generator())


class IndexListSampler(_RankedSampler):
    """Shuffles a fixed index list (e.g. the ML-ROS resampled set with its clones) every epoch."""

    def __init__(
        self, index: npt.ArrayLike, *, seed: int = 0, num_replicas: int | None = None, rank: int | None = None
    ) -> None:
        self.index = torch.as_tensor(np.asarray(index, np.int64))
        super().__init__(len(self.index), seed=seed, num_replicas=num_replicas, rank=rank)

    def indices(self) -> torch.Tensor:
        perm = torch.randperm(len(self.index), generator=self.generator())
        n = self.per_rank * self.num_replicas
        return self.index[perm.repeat(-(-n // len(perm)))[:n]]
