"""``worldclass experiment imbalance``: the seed ablation on one dataset, over several seeds.

Variants (same data, model and schedule): **Base** (BCE, natural sampling), **CW** (static class-weighted
BCE), **MROS+DCW** (MROS sampling, capped at ``sampler.mros_max_draws``, + dynamic class weights), and
**MROS+DCW+pretrained** when ``model.pretrained`` is set (the other variants then train from scratch).
Each variant is trained once per seed (``trainer.seed`` = each of ``seeds``) and evaluated on the test
split. Written to ``trainer.out``: ``ablation.json`` (every run and the mean/std), ``ablation.md`` (mean ±
std over the seeds, in %), ``subsets.json`` (the patch ids of each split used) and ``index.html``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.config import ExperimentConfig
from worldclass.io import write_json_atomic, write_text_atomic
from worldclass.tasks.classification.evaluate import evaluate
from worldclass.training.fit import train

METRICS = [f"{m}_{a}" for a in ("micro", "macro", "minor") for m in ("f1", "precision", "recall", "bacc")]
RECORDED = [*METRICS, "map_macro", "map_micro"]  # kept per run and averaged over the seeds
SHOWN = ("f1_micro", "f1_macro", "f1_minor")


def variants(cfg: ExperimentConfig, seed: int | None = None) -> list[tuple[str, ExperimentConfig]]:
    """(name, config) of each ablation variant; with ``seed``, runs go to ``<out>/<variant>/seed<seed>``."""
    out = []
    specs: list[tuple[str, str, str, bool]] = [
        ("Base", "bce", "none", False),
        ("CW", "cw", "none", False),
        ("MROS+DCW", "dcw", "mros", False),
    ]
    if cfg.model.pretrained:
        specs.append(("MROS+DCW+pretrained", "dcw", "mros", True))
    for name, loss, sampler, pretrained in specs:
        v = copy.deepcopy(cfg)
        v.loss.name, v.sampler.name = loss, sampler
        v.model.pretrained = cfg.model.pretrained if pretrained else None
        folder = Path(cfg.trainer.out) / name.replace("+", "_")
        if seed is not None:
            v.trainer.seed, folder = seed, folder / f"seed{seed}"
        v.trainer.out = str(folder)
        out.append((name, v))
    return out


def run_imbalance(
    cfg: ExperimentConfig, *, seeds: Sequence[int] | None = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Train and evaluate every variant for each seed (default: ``trainer.seed`` only).

    Returns ``{"variants": {name: {"runs": {seed: metrics}, "mean": {...}, "std": {...}}}, "table": md}``.
    """
    out = Path(cfg.trainer.out)
    seeds = list(seeds) if seeds else [cfg.trainer.seed]
    results = run_seeds(lambda seed: variants(cfg, seed if len(seeds) > 1 else None), seeds, log)
    table = ablation_table(results, len(seeds))
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "subsets.json", subsets(cfg), indent=None)
    write_text_atomic(out / "ablation.md", table)
    write_json_atomic(out / "ablation.json", {"seeds": seeds, "variants": results})
    _html(out, results)
    return {"variants": results, "table": table}


def run_seeds(
    make: Callable[[int], list[tuple[str, ExperimentConfig]]],
    seeds: Sequence[int],
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train (resuming finished runs: a variant whose ``metrics.json`` exists is read back) and evaluate on
    the test split every ``(name, config)`` of ``make(seed)`` for each seed; per variant the runs, their
    mean and sample std (ddof 1) of :data:`RECORDED`."""
    import json

    results: dict[str, Any] = {}
    for seed in seeds:
        for name, v in make(seed):
            done = Path(v.trainer.out) / "eval" / "metrics.json"
            if done.is_file():
                m, epochs = json.loads(done.read_text()), None
                log(f"[{name} seed {seed}] done before: {done}")
            else:
                log(f"[{name} seed {seed}] training -> {v.trainer.out}")
                res = train(v, overwrite=True)  # the experiment owns its variant folders
                epochs = res.epochs
                m = evaluate(res.best_checkpoint, split="test", out=done.parent, report=False)
            run = {k: m[k] for k in RECORDED} | {
                "per_class_f1": {p["name"]: p["f1"] for p in m["per_class"]},
                "epochs": epochs,
            }
            results.setdefault(name, {"runs": {}})["runs"][str(seed)] = run
            log(f"[{name} seed {seed}] " + ", ".join(f"{k}={run[k]:.3f}" for k in (*SHOWN, "map_macro")))
    for r in results.values():
        runs = list(r["runs"].values())
        r["mean"] = {k: float(np.mean([x[k] for x in runs])) for k in RECORDED}
        r["std"] = {
            k: float(np.std([x[k] for x in runs], ddof=1)) if len(runs) > 1 else 0.0 for k in RECORDED
        }
    return results


def subsets(cfg: ExperimentConfig) -> dict[str, list[str]]:
    """Patch ids of the train / validation / test splits the variants used."""
    from worldclass.datasets import get_dataset

    ds = get_dataset(cfg.data.dataset)
    return {
        split: list(getattr(ds.open(cfg.data, split), "patch_ids", []))
        for split in ("train", "validation", "test")
    }


def ablation_table(results: dict[str, dict[str, Any]], n_seeds: int = 1) -> str:
    """Markdown table: one row per variant, F1/P/R/BAcc for micro, macro and minor averages (in %), as
    mean ± std over the seeds (sample std, ddof 1)."""
    head = "| variant | " + " | ".join(METRICS) + " |"
    sep = "|---|" + "---|" * len(METRICS)

    def cell(r: dict[str, Any], m: str) -> str:
        mean = f"{100 * r['mean'][m]:.1f}"
        return mean if n_seeds == 1 else f"{mean} ± {100 * r['std'][m]:.1f}"

    rows = [f"| {name} | " + " | ".join(cell(r, m) for m in METRICS) + " |" for name, r in results.items()]
    note = f"\nmean ± std over {n_seeds} seeds\n" if n_seeds > 1 else ""
    return "\n".join([head, sep, *rows]) + "\n" + note


def _html(out: Path, results: dict[str, dict[str, Any]]) -> None:
    from worldclass.report import Report

    r = Report("worldclass imbalance ablation")
    r.table(["variant", *METRICS], [[n, *(res["mean"][m] for m in METRICS)] for n, res in results.items()])
    r.table(
        ["variant (std)", *METRICS], [[n, *(res["std"][m] for m in METRICS)] for n, res in results.items()]
    )
    r.heading("Per-class F1 (mean over seeds)")
    runs = {n: list(res["runs"].values()) for n, res in results.items()}
    classes = list(next(iter(runs.values()))[0]["per_class_f1"])
    r.table(
        ["class", *results],
        [[c, *(float(np.mean([x["per_class_f1"][c] for x in rs])) for rs in runs.values())] for c in classes],
    )
    r.write(out)
