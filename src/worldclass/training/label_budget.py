"""``worldclass experiment label-budget``: initialisations x label budgets x modes x seeds, with the
labelled subsets written next to the results.

For each seed the training ids (scene names / patch ids, sorted) are permuted once; a budget takes the
first N of that order (``"200"``: 200 patches; ``"10%"``: a tenth of the training split), so the subsets
of one seed are nested and every initialisation and mode trains on the very same patches. Each run is
the downstream config (classification or segmentation) with ``data.subset`` = the subset file,
``trainer.seed`` = the seed, and ``model.init_from`` / ``init_mode`` (``random``: no init; a name=CKPT of
a self-supervised checkpoint; ``pretrained=FILE``: a local weights file through ``model.pretrained``).
It is evaluated on the test split. Written under ``trainer.out``: ``subsets/budget-<b>-seed<s>.txt``,
``runs/<init>-<mode>/budget-<b>/seed<s>/`` (checkpoints, ``metrics.json``), ``results.json`` (every run,
mean and std), ``table.md`` (mean ± std per budget, and per class at the smallest budget) and
``budget.png`` (the headline metric vs the budget). Resumable: finished runs (their ``metrics.json``) are
read back, an interrupted one resumes from its ``last.ckpt``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.config import ExperimentConfig
from worldclass.errors import ConfigError
from worldclass.io import write_json_atomic, write_text_atomic

#: Headline metrics per task: segmentation (DFC2020: AA, OA, mIoU), classification (BigEarthNet).
HEADLINE = {
    "segmentation": ("aa", "accuracy", "miou"),
    "classification": ("map_micro", "map_macro", "f1_micro", "f1_macro"),
    "regression": ("rmse", "r2"),
}


@dataclass
class Init:
    """One initialisation: ``name``, and a self-supervised checkpoint (``init_from``) or a local weights
    file (``pretrained``), or neither (random)."""

    name: str
    init_from: str | None = None
    pretrained: str | None = None


def parse_inits(specs: Sequence[str]) -> list[Init]:
    """``random``, ``NAME=CKPT`` (self-supervised checkpoint) or ``pretrained=FILE`` (local weights)."""
    out = []
    for spec in specs or ["random"]:
        name, _, path = spec.partition("=")
        if spec == "random":
            out.append(Init("random"))
        elif not path:
            raise ConfigError(f"--init {spec!r}: use random, NAME=CHECKPOINT or pretrained=WEIGHTS_FILE")
        elif not Path(path).is_file():
            raise ConfigError(f"--init {spec}: {path} not found")
        elif name == "pretrained":
            out.append(Init(name, pretrained=path))
        else:
            out.append(Init(name, init_from=path))
    if len({i.name for i in out}) != len(out):
        raise ConfigError("--init: give each initialisation its own name")
    return out


def budget_size(budget: str, n: int) -> int:
    """Patches of a budget (``"200"`` or ``"10%"``) out of ``n`` training patches."""
    try:
        size = math.ceil(n * float(budget[:-1]) / 100) if budget.endswith("%") else int(budget)
    except ValueError:
        raise ConfigError(f"--budgets {budget!r}: give counts (200) or shares (10%)") from None
    if not 0 < size <= n:
        raise ConfigError(f"--budgets {budget}: {size} patches, but the training split has {n} (1..{n})")
    return size


def training_ids(cfg: ExperimentConfig) -> list[str]:
    """The ids a subset file lists for this config's training split, sorted."""
    from worldclass.datasets import get_dataset
    from worldclass.datasets.scene_base import SceneCollection

    ds = get_dataset(cfg.data.dataset)
    data = copy.deepcopy(cfg.data)
    data.subset = None
    if isinstance(ds, SceneCollection):
        return sorted(s.name for s in ds.scenes(data, ds.splits[0]))
    opened: Any = ds.open(data, "train")
    return sorted(opened.patch_ids)


def subset(ids: Sequence[str], size: int, seed: int) -> list[str]:
    """The first ``size`` ids of the seed's permutation (nested across budgets of one seed)."""
    order = np.random.default_rng(seed).permutation(len(ids))
    return sorted(ids[i] for i in order[:size])


def _headline(task: str, result: dict[str, Any]) -> dict[str, Any]:
    if task == "segmentation":
        o = result["overall"]
        return {
            "aa": o["aa"],
            "accuracy": o["accuracy"],
            "miou": o["miou"],
            "per_class": o["recall_per_class"],
        }
    if task == "regression":
        return {"rmse": result["rmse"], "r2": result["r2"], "per_class": result["per_class"]}
    keys = HEADLINE["classification"]
    return {k: result[k] for k in keys} | {"per_class": {p["name"]: p["f1"] for p in result["per_class"]}}


def run_label_budget(
    cfg: ExperimentConfig,
    *,
    budgets: Sequence[str],
    inits: Sequence[Init],
    modes: Sequence[str] = ("finetune",),
    seeds: Sequence[int] = (0, 1, 2),
    compare: tuple[str, Sequence[str]] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the sweep (see the module docstring); returns ``results.json``'s content plus ``table``.
    ``compare``: (config key, values): every run once per value (e.g. ``("regression.method",
    ["supervised", "dml-s2r"])``), named ``<init>-<mode>-<value>``."""
    from worldclass.tasks import get_task
    from worldclass.tasks.base import EvalOptions
    from worldclass.training.fit import train

    if cfg.task not in HEADLINE:
        raise ConfigError(
            f"label-budget trains classification, segmentation or regression configs, not task {cfg.task!r}"
        )
    if not hasattr(cfg.model, "init_from") and (
        any(i.name != "random" for i in inits) or list(modes) != ["finetune"]
    ):
        raise ConfigError(f"task {cfg.task} trains from scratch: use --init random --modes finetune")
    values: list[str | None] = list(compare[1]) if compare else [None]
    bad = [m for m in modes if m not in ("finetune", "linear")]
    if bad or not modes:
        raise ConfigError(f"--modes {list(modes)}: use finetune and/or linear")
    out = Path(cfg.trainer.out)
    task = get_task(cfg.task)
    test_split = "test"
    ids = training_ids(cfg)
    sizes = {b: budget_size(b, len(ids)) for b in budgets}
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    for seed in seeds:
        for budget in budgets:
            chosen = subset(ids, sizes[budget], seed)
            subset_file = out / "subsets" / f"budget-{budget.replace('%', 'pct')}-seed{seed}.txt"
            write_text_atomic(subset_file, "".join(f"{i}\n" for i in chosen))
            for init, mode, value in ((i, m, x) for i in inits for m in modes for x in values):
                key = f"{init.name}-{mode}" + ("" if value is None else f"-{value}")
                v = _variant(cfg, compare[0] if compare else None, value)
                v.data.subset = str(subset_file)
                v.trainer.seed = seed
                if hasattr(v.model, "init_from"):
                    v.model.init_from, v.model.init_mode = init.init_from, mode
                    v.model.pretrained = init.pretrained
                folder = out / "runs" / key / f"budget-{budget.replace('%', 'pct')}" / f"seed{seed}"
                v.trainer.out = str(folder)
                done = folder / "metrics.json"
                if done.is_file():
                    m = json.loads(done.read_text())
                    log(f"[{key} budget {budget} seed {seed}] done before")
                else:
                    resume = (folder / "checkpoints" / "last.ckpt").is_file()
                    log(
                        f"[{key} budget {budget} seed {seed}] {'resuming' if resume else 'training'} -> {folder}"
                    )
                    res = train(v, resume=resume, overwrite=not resume)
                    result = task.evaluate(
                        res.best_checkpoint,
                        data=None,
                        split=test_split,
                        out=folder / "eval",
                        options=EvalOptions(report=False),
                    )
                    m = _headline(cfg.task, result) | {
                        "patches": sizes[budget],
                        "subset": str(subset_file),
                    }
                    write_json_atomic(done, m)
                runs.setdefault(key, {}).setdefault(budget, {})[str(seed)] = m
                log(
                    f"[{key} budget {budget} seed {seed}] "
                    + ", ".join(f"{k}={m[k]:.3f}" for k in HEADLINE[cfg.task])
                )
    results = {
        "task": cfg.task,
        "budgets": {b: sizes[b] for b in budgets},
        "seeds": list(seeds),
        "runs": runs,
        "summary": summarise(runs, HEADLINE[cfg.task]),
    }
    table = tables(results, HEADLINE[cfg.task])
    write_json_atomic(out / "results.json", results)
    write_text_atomic(out / "table.md", table)
    plot(results, HEADLINE[cfg.task][0], out / "budget.png")
    return results | {"table": table}


def _variant(cfg: ExperimentConfig, key: str | None, value: str | None) -> ExperimentConfig:
    """``cfg`` with ``key=value`` (validated), or a copy of it."""
    if key is None:
        return copy.deepcopy(cfg)
    from worldclass.tasks import config_from_dict

    return config_from_dict(cfg.to_dict(), [f"{key}={value}"])


def summarise(runs: dict[str, dict[str, dict[str, Any]]], metrics: Sequence[str]) -> dict[str, Any]:
    """Mean and sample std (ddof 1) over the seeds of every metric and every class, per (init-mode, budget)."""
    out: dict[str, Any] = {}
    for key, by_budget in runs.items():
        for budget, by_seed in by_budget.items():
            ms = list(by_seed.values())
            cell: dict[str, Any] = {}
            for k in metrics:
                vals = np.array([m[k] for m in ms], float)
                cell[k] = {
                    "mean": float(np.mean(vals)),
                    "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                }
            classes = ms[0]["per_class"].keys()
            cell["per_class"] = {}
            for c in classes:
                vals = np.array([m["per_class"][c] for m in ms], float)
                vals = vals[~np.isnan(vals)]
                if vals.size:
                    cell["per_class"][c] = {
                        "mean": float(vals.mean()),
                        "std": float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
                    }
            out.setdefault(key, {})[budget] = cell
    return out


def tables(results: dict[str, Any], metrics: Sequence[str]) -> str:
    """Markdown: the headline metrics per budget (mean ± std in %), then per class at the smallest budget."""
    summary = results["summary"]
    budgets = list(results["budgets"])
    keys = list(summary)
    n = len(results["seeds"])
    lines = [
        f"mean ± std over {n} seed(s), in %; budgets in labelled patches: "
        + ", ".join(f"{b} = {s}" for b, s in results["budgets"].items()),
        "",
    ]
    lines += ["| init-mode | budget | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for key in keys:
        for b in budgets:
            c = summary[key][b]
            lines.append(
                f"| {key} | {b} | "
                + " | ".join(f"{100 * c[m]['mean']:.1f} ± {100 * c[m]['std']:.1f}" for m in metrics)
                + " |"
            )
    smallest = budgets[0]
    classes = sorted({c for key in keys for c in summary[key][smallest]["per_class"]})
    lines += [
        "",
        f"per class at budget {smallest} ({'recall' if 'aa' in metrics else 'R^2' if 'r2' in metrics else 'F1'}):",
        "",
        "| class | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for c in classes:
        cells = []
        for key in keys:
            v = summary[key][smallest]["per_class"].get(c)
            cells.append("" if v is None else f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    for m in metrics:
        lines.append(
            f"| **{m}** | "
            + " | ".join(
                f"{100 * summary[k][smallest][m]['mean']:.1f} ± {100 * summary[k][smallest][m]['std']:.1f}"
                for k in keys
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], metric: str, path: Path) -> None:
    """``metric`` (mean ± std over seeds) vs labelled patches, one line per init-mode (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    sizes = results["budgets"]
    for key, by_budget in results["summary"].items():
        xs = [sizes[b] for b in by_budget]
        ys = [100 * by_budget[b][metric]["mean"] for b in by_budget]
        es = [100 * by_budget[b][metric]["std"] for b in by_budget]
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=key)
    ax.set_xlabel("labelled patches")
    ax.set_ylabel(f"{metric} (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
