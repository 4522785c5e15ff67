"""Noise-robust multi-label losses: label smoothing and ELR do what their formulas say, co-teaching's
exchange gives each network the other's small-loss samples, and on a controlled problem with 40 % mixed
label noise co-teaching beats plain BCE on clean test labels (so a broken exchange fails)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from worldclass.data.noise import inject_label_noise
from worldclass.losses.noisy_labels import ELRLoss, LabelSmoothingBCE, coteaching_select, forget_rate
from worldclass.metrics import multilabel_metrics


def test_label_smoothing_is_bce_against_softened_targets() -> None:
    logits, y = torch.randn(8, 5), (torch.rand(8, 5) > 0.5).float()
    got = LabelSmoothingBCE(0.2)(logits, y)
    want = F.binary_cross_entropy_with_logits(logits, y * 0.8 + 0.1)
    assert torch.allclose(got, want)


def test_elr_targets_start_at_the_first_prediction_then_follow_the_running_average() -> None:
    elr = ELRLoss(num_samples=4, num_classes=3, beta=0.7, lam=1.0)
    idx = torch.tensor([0, 2])
    l1 = torch.tensor([[2.0, -1.0, 0.0], [0.5, 0.5, -3.0]])
    elr(l1, torch.zeros(2, 3), idx)
    p1 = torch.sigmoid(l1)
    assert torch.allclose(elr.ema[idx], p1) and not elr.seen[1] and elr.ema[1].abs().sum() == 0
    l2 = torch.zeros(2, 3)
    elr(l2, torch.zeros(2, 3), idx)
    assert torch.allclose(elr.ema[idx], 0.7 * p1 + 0.3 * 0.5)
    # the regulariser pulls predictions towards the targets: one step on it alone raises the agreement
    logits = torch.zeros(2, 3, requires_grad=True)
    t = elr.ema[idx].clone()
    reg = ELRLoss(4, 3, beta=1.0, lam=1.0)
    reg.ema[idx], reg.seen[idx] = t, True
    (reg(logits, t, idx) - F.binary_cross_entropy_with_logits(logits, t)).backward()
    step = torch.sigmoid(logits - 1.0 * logits.grad)  # type: ignore[operator]
    before = (0.5 * t + 0.5 * (1 - t)).mean()
    assert (step * t + (1 - step) * (1 - t)).mean() > before


def test_coteaching_exchanges_small_loss_samples() -> None:
    loss_a = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.7])
    loss_b = torch.tensor([0.8, 0.2, 0.4, 0.6, 0.1])
    for_a, for_b = coteaching_select(loss_a, loss_b, rate=0.4)
    assert sorted(for_a.tolist()) == [1, 2, 4]  # b's three smallest losses train a
    assert sorted(for_b.tolist()) == [0, 2, 3]  # a's three smallest losses train b
    assert forget_rate(0, 0.4, 10) == 0 and forget_rate(5, 0.4, 10) == 0.2 and forget_rate(30, 0.4, 10) == 0.4


def _data(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.randn(20, 5, generator=torch.Generator().manual_seed(100))
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((n, 20)).astype(np.float32))
    return x, ((x @ w) > 0.8).float()


def _net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(20, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 5),
    )


def _train(method: str, steps: int = 400) -> float:
    x, y = _data(0, 400)
    xt, yt = _data(1000, 2000)
    yn = torch.from_numpy(inject_label_noise(y.numpy(), "mixed", 0.4, seed=0)[0]).float()
    a, b = _net(0), _net(1)
    opt_a, opt_b = torch.optim.Adam(a.parameters(), 1e-3), torch.optim.Adam(b.parameters(), 1e-3)
    g = torch.Generator().manual_seed(0)
    for step in range(steps):
        i = torch.randint(0, len(x), (64,), generator=g)
        la = F.binary_cross_entropy_with_logits(a(x[i]), yn[i], reduction="none").mean(1)
        if method == "coteaching":
            lb = F.binary_cross_entropy_with_logits(b(x[i]), yn[i], reduction="none").mean(1)
            for_a, for_b = coteaching_select(la, lb, forget_rate(step // 6, 0.2, 10))
            opt_b.zero_grad()
            lb[for_b].mean().backward()
            opt_b.step()
            la = la[for_a]
        opt_a.zero_grad()
        la.mean().backward()
        opt_a.step()
    with torch.no_grad():
        return float(multilabel_metrics(yt, torch.sigmoid(a(xt)))["map_macro"])


def test_coteaching_beats_bce_under_injected_noise() -> None:
    bce, cot = _train("bce"), _train("coteaching")
    assert cot > bce + 0.02, (bce, cot)


def test_label_smoothing_is_a_classification_loss_option(tmp_path: object) -> None:
    import pytest

    from worldclass.errors import ConfigError
    from worldclass.losses import build_loss
    from worldclass.tasks import load_config

    loss = build_loss("smooth", 5, eps=0.3)
    logits, y = torch.randn(4, 5), (torch.rand(4, 5) > 0.5).float()
    assert torch.allclose(loss(logits, y), F.binary_cross_entropy_with_logits(logits, y * 0.7 + 0.15))
    root = f"data.root={tmp_path}"
    cfg = load_config(None, [root, "loss.name=smooth", "loss.smoothing=0.2"])
    assert cfg.to_dict()["loss"]["smoothing"] == 0.2
    with pytest.raises(ConfigError, match=r"loss\.smoothing"):
        load_config(None, [root, "loss.name=smooth", "loss.smoothing=1.5"])


def test_classification_trains_with_label_smoothing_on_a_noisy_label_view(
    v2_store: object, tmp_path: object
) -> None:
    from pathlib import Path

    from helpers import quick_config
    from worldclass.data.label_view import write_noisy_view
    from worldclass.training import train

    view = Path(str(tmp_path)) / "noisy.parquet"
    write_noisy_view(Path(str(v2_store)), view, mode="mixed", rate=0.3)
    cfg = quick_config(
        Path(str(v2_store)), Path(str(tmp_path)) / "run", "loss.name=smooth", f"data.labels={view}"
    )
    res = train(cfg)
    assert res.best_checkpoint.is_file()
