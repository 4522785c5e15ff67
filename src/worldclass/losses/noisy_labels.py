"""Multi-label losses robust to label noise: label smoothing, early-learning regularisation (ELR), and
co-teaching's small-loss exchange (numpy/torch only).

* **Label smoothing**: BCE against ``y (1 - eps) + eps / 2``.
* **ELR** (Liu et al., NeurIPS 2020; multi-label form as adapted by Burgert et al., TGRS 2022): per training
  sample a running target ``t = beta t + (1 - beta) sigmoid(logits)`` (detached); the loss adds
  ``lam * mean_c log(1 - (p_c t_c + (1 - p_c)(1 - t_c)))``, which rewards agreeing with what the network
  predicted early, before it memorises wrong labels. Needs each sample's dataset index.
* **Co-teaching** (Han et al., NeurIPS 2018): two networks; each trains on the samples the *other* finds
  easiest (smallest loss), keeping ``1 - forget_rate`` of the batch; the forget rate rises linearly to its
  final value over ``warmup`` epochs.
* **SVAE-style weighting** (after Sumbul & Demir, IGARSS 2023): with a supervised VAE branch on the image
  features (:class:`worldclass.models.generative.GenerativeBranch`), a sample whose task loss is high
  *relative to* its SVAE loss (both standardised over the batch) is suspected noisy and weighted down:
  ``w = min(1, 2 sigmoid(-d / temperature))`` with ``d = z(task) - z(svae)`` (:func:`svae_weights`).
* **GRID-style routing** (after Sumbul & Demir, TIP 2023): the same score ``d``; the ``share`` of the batch
  with the largest ``d`` is routed through the generative loss, the rest through the discriminative one
  (:func:`grid_route`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LabelSmoothingBCE(nn.Module):
    def __init__(self, eps: float = 0.1) -> None:
        super().__init__()
        self.eps = eps

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(B, C) logits and targets -> (B,) loss of each sample (mean over classes)."""
        soft = targets * (1 - self.eps) + self.eps / 2
        return F.binary_cross_entropy_with_logits(logits, soft, reduction="none").mean(1)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.per_sample(logits, targets).mean()


class ELRLoss(nn.Module):
    """BCE + ELR; ``forward(logits (B, C), targets (B, C), index (B,) dataset indices)``."""

    def __init__(self, num_samples: int, num_classes: int, beta: float = 0.7, lam: float = 3.0) -> None:
        super().__init__()
        self.beta, self.lam = beta, lam
        self.register_buffer("ema", torch.zeros(num_samples, num_classes))
        self.register_buffer("seen", torch.zeros(num_samples, dtype=torch.bool))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(logits, targets)
        return bce + self.penalty(logits, index).mean()

    def penalty(self, logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """(B,) ELR term ``lam * mean_c log(1 - agreement)`` of each sample; updates the running targets of
        the samples ``index`` (B,) first. Add it to any per-sample task loss."""
        p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
        ema = self.get_buffer("ema")
        seen = self.get_buffer("seen")
        with torch.no_grad():  # a sample's first prediction starts its target (not a zero prior)
            q = p.detach().to(ema.dtype)
            first = ~seen[index]
            ema[index] = torch.where(first[:, None], q, self.beta * ema[index] + (1 - self.beta) * q)
            seen[index] = True
        t = ema[index].to(p.dtype)
        agree = (p * t + (1 - p) * (1 - t)).clamp(max=1 - 1e-4)
        return self.lam * torch.log(1 - agree).mean(1)


def forget_rate(epoch: int, final: float, warmup: int = 10) -> float:
    """Co-teaching's share of each batch left out at ``epoch`` (0-based): linear to ``final`` over ``warmup``."""
    return final * min(1.0, epoch / max(warmup, 1))


def coteaching_select(
    loss_a: torch.Tensor, loss_b: torch.Tensor, rate: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample losses (B,) of networks a and b -> (indices to train a on, indices to train b on): each
    network gets the ``1 - rate`` share of the batch with the smallest loss under the *other* network."""
    keep = max(1, round(len(loss_a) * (1 - rate)))
    for_b = torch.argsort(loss_a.detach())[:keep]
    for_a = torch.argsort(loss_b.detach())[:keep]
    return for_a, for_b


def _standardise(x: torch.Tensor) -> torch.Tensor:
    x = x.detach().float()
    return (x - x.mean()) / (x.std(unbiased=False) + 1e-8)


def noise_score(task_loss: torch.Tensor, generative_loss: torch.Tensor) -> torch.Tensor:
    """(B,) suspicion of each sample: its standardised task loss minus its standardised generative loss
    (both (B,), detached); high = the discriminative head disagrees with the labels more than the
    generative branch does."""
    return _standardise(task_loss) - _standardise(generative_loss)


def svae_weights(task_loss: torch.Tensor, svae_loss: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """(B,) importance weights in (0, 1]: ``min(1, 2 sigmoid(-d / temperature))`` of
    :func:`noise_score` ``d``; samples no more suspicious than the batch average keep weight 1."""
    d = noise_score(task_loss, svae_loss)
    return (2 * torch.sigmoid(-d / temperature)).clamp(max=1.0)


def grid_route(task_loss: torch.Tensor, generative_loss: torch.Tensor, share: float) -> torch.Tensor:
    """(B,) bool: True for the ``share`` of the batch with the highest :func:`noise_score` (routed through
    the generative loss), False for the rest (discriminative loss)."""
    k = round(len(task_loss) * share)
    noisy = torch.zeros(len(task_loss), dtype=torch.bool, device=task_loss.device)
    if k > 0:
        noisy[torch.argsort(noise_score(task_loss, generative_loss), descending=True)[:k]] = True
    return noisy
