"""Models refitted every active-learning round.

:class:`HeadLearner`: a multi-label head on frozen pool embeddings (the vectors `worldclass embed` stored
for any registered classification or self-supervised model): Linear(D, hidden) -> ReLU -> Dropout ->
Linear(hidden, C), binary cross-entropy, Adam; refitted from scratch every round with a seed derived from
the run seed and the round, so a resumed run refits the same weights. Dropout makes MC-dropout (BALD)
available. :class:`TaskLearner` (in :mod:`worldclass.training.active.task_learner`) trains the full
registered task instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn


@dataclass
class HeadSettings:
    """``hidden`` units, ``dropout`` rate, optimiser ``steps`` (mini-batches of ``batch``), ``lr``."""

    hidden: int = 256
    dropout: float = 0.3
    steps: int = 300
    batch: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4


def _mlp(dim: int, out: int, s: HeadSettings) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, s.hidden), nn.ReLU(), nn.Dropout(s.dropout), nn.Linear(s.hidden, out))


def train_steps(
    net: nn.Module, loss_fn: Any, n: int, s: HeadSettings, gen: torch.Generator, *tensors: torch.Tensor
) -> None:
    """``s.steps`` Adam steps on mini-batches of ``s.batch`` rows drawn (with the seeded ``gen``) from
    ``n`` training rows; ``loss_fn(net, *batch_tensors)`` gives the loss."""
    opt = torch.optim.Adam(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    net.train()
    for _ in range(s.steps):
        idx = torch.randint(0, n, (min(s.batch, n),), generator=gen) if n > s.batch else torch.arange(n)
        loss = loss_fn(net, *(t[idx] for t in tensors))
        opt.zero_grad()
        loss.backward()
        opt.step()


class HeadLearner:
    """Multi-label MLP head on (N, D) float32 embeddings; probabilities (N, C) in the run's class order."""

    def __init__(self, dim: int, classes: int, settings: HeadSettings | None = None) -> None:
        self.s = settings or HeadSettings()
        self.dim, self.classes = dim, classes
        self.net = _mlp(dim, classes, self.s)

    def fit(self, x: npt.ArrayLike, y: npt.ArrayLike, seed: int) -> None:
        """Refit from scratch on labelled embeddings ``x`` (M, D) and multi-hot ``y`` (M, C)."""
        torch.manual_seed(seed)
        self.net = _mlp(self.dim, self.classes, self.s)
        xt = torch.as_tensor(np.asarray(x, np.float32))
        yt = torch.as_tensor(np.asarray(y, np.float32))
        gen = torch.Generator().manual_seed(seed)
        bce = nn.BCEWithLogitsLoss()
        train_steps(self.net, lambda net, a, b: bce(net(a), b), len(xt), self.s, gen, xt, yt)
        self.net.eval()

    @torch.no_grad()
    def predict(self, x: npt.ArrayLike, chunk: int = 65536) -> npt.NDArray[np.float32]:
        """(N, C) probabilities, dropout off."""
        self.net.eval()
        return self._run(x, chunk)

    @torch.no_grad()
    def predict_mc(
        self, x: npt.ArrayLike, passes: int, seed: int, chunk: int = 65536
    ) -> npt.NDArray[np.float32]:
        """(T, N, C) probabilities of ``passes`` forward passes with dropout on (seeded)."""
        torch.manual_seed(seed)
        self.net.train()
        out = np.stack([self._run(x, chunk) for _ in range(passes)])
        self.net.eval()
        return out

    def _run(self, x: npt.ArrayLike, chunk: int) -> npt.NDArray[np.float32]:
        a = np.asarray(x, np.float32)
        parts = [torch.sigmoid(self.net(torch.from_numpy(a[i : i + chunk]))) for i in range(0, len(a), chunk)]
        return torch.cat(parts).numpy() if parts else np.zeros((0, self.classes), np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "head", "weights": self.net.state_dict()}
