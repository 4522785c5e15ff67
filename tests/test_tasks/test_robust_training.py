"""Noise-robust training options of the classification task: SVAE-style weights and GRID-style routing
single out the samples whose labels were corrupted on a controlled problem (and SVAE beats plain BCE there);
every ``robust.method`` trains end to end on a noisy label view, and the checkpoint loads as a plain
classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from worldclass.data.noise import inject_label_noise
from worldclass.losses.noisy_labels import grid_route, noise_score, svae_weights
from worldclass.metrics import multilabel_metrics
from worldclass.models.generative import GenerativeBranch


def test_weights_and_routing_follow_the_relative_losses() -> None:
    task = torch.tensor([0.1, 0.2, 0.9, 0.3, 0.8, 0.2])
    gen = torch.tensor([0.1, 0.2, 0.2, 0.3, 0.8, 0.2])  # sample 2: task loss high, generative low
    d = noise_score(task, gen)
    assert int(d.argmax()) == 2 and abs(float(d[4])) < float(d[2])
    w = svae_weights(task, gen, temperature=0.5)
    assert float(w[2]) < 0.2 and float(w.max()) == 1.0 and float(w.min()) > 0
    routed = grid_route(task, gen, 1 / 3)
    assert int(routed.sum()) == 2 and bool(routed[2]) and not routed[4]
    assert not grid_route(task, gen, 0.0).any()


def _data(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.randn(20, 5, generator=torch.Generator().manual_seed(100))
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((n, 20)).astype(np.float32))
    return x, ((x @ w) > 0.8).float()


def _toy(method: str, seed: int = 0, steps: int = 400) -> tuple[float, float, float, float, float]:
    """Clean-test mAP, mean SVAE weight of corrupted / untouched training samples, and the share of
    corrupted samples among GRID's routed 20 % / among all samples."""
    x, y = _data(0, 400)
    xt, yt = _data(1000, 2000)
    noisy_np, mask = inject_label_noise(y.numpy(), "mixed", 0.4, seed=seed)
    yn, corrupted = torch.from_numpy(noisy_np).float(), torch.from_numpy(mask.any(1))
    torch.manual_seed(seed)
    body = torch.nn.Sequential(
        torch.nn.Linear(20, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU()
    )
    head, branch = torch.nn.Linear(256, 5), GenerativeBranch(256, 5, 32)
    opt = torch.optim.Adam([*body.parameters(), *head.parameters(), *branch.parameters()], 1e-3)
    g = torch.Generator().manual_seed(seed)

    def svae_loss(f: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
        o = branch(f)
        bce = F.binary_cross_entropy_with_logits(o.logits, yy, reduction="none").mean(1)
        return bce + o.reconstruction + 0.1 * o.kl

    for step in range(steps):
        i = torch.randint(0, len(x), (64,), generator=g)
        f = body(x[i])
        dis = F.binary_cross_entropy_with_logits(head(f), yn[i], reduction="none").mean(1)
        if method == "bce":
            loss = dis.mean()
        else:
            gen = svae_loss(f, yn[i])
            w = torch.ones_like(dis) if step < 60 else svae_weights(dis, gen)
            loss = (w * dis).sum() / w.sum() + gen.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    branch.eval()
    with torch.no_grad():
        f = body(x)
        dis = F.binary_cross_entropy_with_logits(head(f), yn, reduction="none").mean(1)
        gen = svae_loss(f, yn)
        w = svae_weights(dis, gen)
        routed = grid_route(dis, gen, 0.2)
        test_map = float(multilabel_metrics(yt, torch.sigmoid(head(body(xt))))["map_macro"])
    share = float(corrupted.float().mean())
    return (
        test_map,
        float(w[corrupted].mean()),
        float(w[~corrupted].mean()),
        float(corrupted[routed].float().mean()),
        share,
    )


def test_svae_weights_single_out_corrupted_samples_and_beat_bce() -> None:
    bce_map = _toy("bce")[0]
    svae_map, w_noisy, w_clean, routed_noisy, base = _toy("svae")
    assert w_noisy < w_clean - 0.03, (w_noisy, w_clean)
    assert svae_map > bce_map + 0.01, (bce_map, svae_map)
    # GRID's routing uses the same score: its routed share holds more corrupted samples than the whole set
    assert routed_noisy > base + 0.05, (routed_noisy, base)


@pytest.mark.parametrize("method", ["elr", "coteaching", "svae", "grid"])
def test_every_robust_method_trains_on_a_noisy_view(v2_store: Path, tmp_path: Path, method: str) -> None:
    from helpers import quick_config
    from worldclass.data.label_view import write_noisy_view
    from worldclass.models import load_model
    from worldclass.models.classifier import SceneClassifier
    from worldclass.training import train

    view = tmp_path / "noisy.parquet"
    write_noisy_view(v2_store, view, mode="mixed", rate=0.3)
    cfg = quick_config(
        v2_store,
        tmp_path / "run",
        f"robust.method={method}",
        "robust.warmup_epochs=0",
        "loss.name=focal" if method == "svae" else "loss.name=bce",
        f"data.labels={view}",
    )
    res = train(cfg)
    state = torch.load(res.best_checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    extra = {
        "elr": "robust.elr.ema",
        "coteaching": "robust.peer.",
        "svae": "robust.branch.",
        "grid": "robust.branch.",
    }
    assert any(k.startswith(extra[method]) for k in state), sorted(state)[:5]
    model, meta = load_model(res.best_checkpoint)
    assert isinstance(model, SceneClassifier) and meta.config["robust"]["method"] == method


def test_bad_robust_settings_are_one_line_config_errors(tmp_path: Path) -> None:
    from worldclass.errors import ConfigError
    from worldclass.tasks import load_config

    with pytest.raises(ConfigError, match=r"robust\.noisy_share"):
        load_config(None, [f"data.root={tmp_path}", "robust.method=grid", "robust.noisy_share=1.5"])
