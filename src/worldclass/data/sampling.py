"""Multi-label oversampling: MROS (multinomial, per-sample weights) and Charte et al.'s ML-ROS (cloning).

MROS (worldclass definition of the poster's method): with label frequencies p_c = n_c / N on the training
set and the minority set Min = {c : IRLbl(c) > MeanIR}, a sample i with labels Y_i gets the weight
``w_i = max_{c in Y_i ∩ Min} 1 / p_c`` and ``w_i = 1`` when it has no minority label (so majority-only
samples keep their natural rate). Sampling draws N indices with replacement ∝ w (multinomial).

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


def mros_weights(labels: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(N,) MROS sampling weights (see module docstring); labels (N, C) multi-hot."""
    y = np.asarray(labels, bool)
    n = max(y.shape[0], 1)
    p = y.sum(0) / n
    minor = minority_classes(y)
    inv = np.where(minor & (p > 0), 1.0 / np.where(p > 0, p, 1.0), 0.0)
    w = (y * inv[None, :]).max(axis=1)
    return np.where(w > 0, w, 1.0)


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
