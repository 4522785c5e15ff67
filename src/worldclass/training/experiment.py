"""``worldclass experiment imbalance``: the seed ablation on one dataset and seed.

Variants (same data, model, schedule and seed): **Base** (BCE, natural sampling), **CW** (static
class-weighted BCE), **MROS+DCW** (MROS sampling + dynamic class weights), and **MROS+DCW+pretrained** when
``model.pretrained`` is set (the other variants then train from scratch). Each is trained, evaluated on
the test split, and one table with micro / macro / minor F1, precision, recall and balanced accuracy is
written (``ablation.json``, ``ablation.md``, ``index.html``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worldclass.config import ExperimentConfig
from worldclass.tasks.classification.evaluate import evaluate
from worldclass.training.fit import train

METRICS = [f"{m}_{a}" for a in ("micro", "macro", "minor") for m in ("f1", "precision", "recall", "bacc")]


def variants(cfg: ExperimentConfig) -> list[tuple[str, ExperimentConfig]]:
    """(name, config) of each ablation variant."""
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
        v.trainer.out = str(Path(cfg.trainer.out) / name.replace("+", "_"))
        out.append((name, v))
    return out


def run_imbalance(cfg: ExperimentConfig, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train and evaluate every variant; returns {"variants": {name: metrics}, "table": markdown}."""
    out = Path(cfg.trainer.out)
    results: dict[str, Any] = {}
    for name, v in variants(cfg):
        log(f"[{name}] training -> {v.trainer.out}")
        res = train(v, overwrite=True)  # the experiment owns its variant folders
        m = evaluate(res.best_checkpoint, split="test", out=Path(v.trainer.out) / "eval", report=False)
        results[name] = {k: m[k] for k in [*METRICS, "map_macro", "map_micro"]} | {
            "per_class_f1": {p["name"]: p["f1"] for p in m["per_class"]},
            "epochs": res.epochs,
        }
        log(
            f"[{name}] "
            + ", ".join(f"{k}={results[name][k]:.3f}" for k in ("f1_micro", "f1_macro", "f1_minor"))
        )
    table = ablation_table(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps(results, indent=1))
    (out / "ablation.md").write_text(table)
    _html(out, results)
    return {"variants": results, "table": table}


def ablation_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table: one row per variant, F1/P/R/BAcc for micro, macro and minor averages (in %)."""
    head = "| variant | " + " | ".join(METRICS) + " |"
    sep = "|---|" + "---|" * len(METRICS)
    rows = [
        f"| {name} | " + " | ".join(f"{100 * r[m]:.1f}" for m in METRICS) + " |"
        for name, r in results.items()
    ]
    return "\n".join([head, sep, *rows]) + "\n"


def _html(out: Path, results: dict[str, dict[str, Any]]) -> None:
    from worldclass.report import Report

    r = Report("worldclass imbalance ablation")
    r.table(["variant", *METRICS], [[n, *(res[m] for m in METRICS)] for n, res in results.items()])
    classes = list(next(iter(results.values()))["per_class_f1"])
    r.heading("Per-class F1")
    r.table(
        ["class", *results], [[c, *(res["per_class_f1"][c] for res in results.values())] for c in classes]
    )
    r.write(out)
