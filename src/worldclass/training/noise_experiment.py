"""``worldclass experiment noise``: noise-robust training methods under injected multi-label noise.

For each noise rate and seed, :func:`~worldclass.data.label_view.write_noisy_view` corrupts the training
and validation labels of the archive (``mode``, default ``mixed``, noise seed = the run seed) without
copying a pixel; every method is trained on that view with the same data, model and schedule, and evaluated
on the **clean** test labels. Methods: BCE, label smoothing (LS), ELR, co-teaching, SVAE-style, GRID-style
(:mod:`worldclass.tasks.classification.robust`); rate 0 trains BCE on the clean labels as the reference. Written to ``trainer.out``: ``noise.json`` (every run, the
realised noise rates, mean/std), ``noise.md`` (macro F1 and macro mAP in %, mean ± std over the seeds),
``subsets.json`` (patch ids of each split) and the label views under ``views/``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worldclass.config import ExperimentConfig
from worldclass.io import write_json_atomic, write_text_atomic
from worldclass.training.experiment import run_seeds, subsets

#: (name, loss.name, robust.method) of each compared method
METHODS: tuple[tuple[str, str, str], ...] = (
    ("BCE", "bce", "none"),
    ("LS", "smooth", "none"),
    ("ELR", "bce", "elr"),
    ("Co-teaching", "bce", "coteaching"),
    ("SVAE", "bce", "svae"),
    ("GRID", "bce", "grid"),
)
SHOWN = ("f1_macro", "map_macro", "f1_micro", "map_micro")


def noise_variants(
    cfg: ExperimentConfig, rate: float, seed: int, mode: str = "mixed", methods: Sequence[str] | None = None
) -> list[tuple[str, ExperimentConfig]]:
    """(``"<method> @ <rate>"``, config) of each method on the noisy view of ``rate`` for ``seed`` (the view
    is written on first use under ``<out>/views``). Rate 0 gives the clean reference: BCE on the archive's
    own labels."""
    from worldclass.data.label_view import write_noisy_view

    out = Path(cfg.trainer.out)
    tag = f"{mode}-{round(100 * rate)}" if rate else "clean"
    view = out / "views" / f"{tag}-seed{seed}.parquet"
    if rate and not view.is_file():
        write_noisy_view(
            cfg.data.root,
            view,
            mode=mode,
            rate=rate,
            seed=seed,
            splits=("train", "validation"),
            num_classes=cfg.data.num_classes,
        )
    runs = []
    for name, loss, method in METHODS:
        if (methods and name not in methods) or (not rate and name != "BCE"):
            continue
        v = copy.deepcopy(cfg)
        v.loss.name, v.robust.method = loss, method
        v.data.labels = str(view) if rate else cfg.data.labels
        v.trainer.seed = seed
        v.trainer.out = str(out / tag / name.replace("-", "").lower() / f"seed{seed}")
        runs.append((f"{name} @ {round(100 * rate)}%", v))
    return runs


def run_noise(
    cfg: ExperimentConfig,
    *,
    rates: Sequence[float] = (0.3, 0.5),
    seeds: Sequence[int] = (0, 1, 2),
    mode: str = "mixed",
    methods: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every method × rate × seed (finished runs are kept); returns ``{"variants", "noise", "table"}``."""
    import json

    out = Path(cfg.trainer.out)
    results = run_seeds(
        lambda seed: [v for r in rates for v in noise_variants(cfg, r, seed, mode, methods)], seeds, log
    )
    reports = {
        p.name.removesuffix(".parquet.report.json"): json.loads(p.read_text())
        for p in sorted((out / "views").glob("*.parquet.report.json"))
    }
    table = noise_table(results, len(seeds))
    write_json_atomic(out / "subsets.json", subsets(cfg), indent=None)
    write_text_atomic(out / "noise.md", table)
    write_json_atomic(
        out / "noise.json",
        {"seeds": list(seeds), "rates": list(rates), "mode": mode, "variants": results, "noise": reports},
    )
    return {"variants": results, "noise": reports, "table": table}


def noise_table(results: dict[str, dict[str, Any]], n_seeds: int) -> str:
    """Markdown: one row per method @ rate, :data:`SHOWN` in %, mean ± sample std over the seeds."""
    head = "| method | " + " | ".join(SHOWN) + " |"
    rows = [
        f"| {name} | "
        + " | ".join(f"{100 * r['mean'][m]:.1f} ± {100 * r['std'][m]:.1f}" for m in SHOWN)
        + " |"
        for name, r in results.items()
    ]
    return "\n".join([head, "|---|" + "---|" * len(SHOWN), *rows]) + f"\n\nmean ± std over {n_seeds} seeds\n"
