"""`worldclass experiment active`: strategies x seeds with the simulated oracle -> budget-vs-metric curves.

Each (strategy, seed) is an ordinary run under ``OUT/runs/<strategy>/seed<N>`` (resumed where it stopped
when the experiment is started again). Written to ``OUT``: ``curves.csv`` (one row per strategy, seed and
round), ``active.json`` (mean and sample std over seeds per strategy and number of annotations),
``active.md`` (the table), ``subsets.json`` (the ids or pairs each run had answered, in order) and
``curves.png`` (metric vs annotations, when matplotlib is installed).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.io import write_json_atomic, write_text_atomic
from worldclass.training.active.loop import init_run, run_loop, write_history
from worldclass.training.active.run import ActiveSettings, Run


def metric_of(s: ActiveSettings) -> str:
    return "f1_macro" if s.mode == "labels" else f"map@{s.k}"


def run_active_experiment(
    base: ActiveSettings,
    out: str | Path,
    strategies: Sequence[str],
    seeds: Sequence[int],
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run (or resume) every strategy x seed and write the curves; returns the summary."""
    o = Path(out)
    metric = metric_of(base)
    rows: list[dict[str, Any]] = []
    subsets: dict[str, dict[str, list[str]]] = {}
    for strategy in strategies:
        for seed in seeds:
            s = dataclasses.replace(base, strategy=strategy, seed=seed)
            path = o / "runs" / strategy / f"seed{seed}"
            run = Run.open(path) if (path / "active.json").is_file() else init_run(path, s)
            if dataclasses.asdict(run.settings) != dataclasses.asdict(s):
                run = init_run(path, s, overwrite=True)  # settings changed: start this run again
            log(f"[al experiment] {strategy} seed {seed}")
            history = run_loop(run)
            subsets.setdefault(strategy, {})[str(seed)] = list(run.state().answered)
            rows += [{"strategy": strategy, "seed": seed, **h} for h in history]
    summary = summarise(rows, metric, strategies)
    summary.update(settings=dataclasses.asdict(base), seeds=list(seeds))
    _write(o, rows, summary, subsets, metric)
    return summary


def summarise(rows: list[dict[str, Any]], metric: str, strategies: Sequence[str]) -> dict[str, Any]:
    """Per strategy: mean and sample std over seeds of ``metric`` and of the label assignments, at each
    number of annotations (the runs of one strategy answer the same numbers of items)."""
    curves: dict[str, list[dict[str, Any]]] = {}
    for st in strategies:
        by_n: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            if r["strategy"] == st:
                by_n.setdefault(int(r["annotations"]), []).append(r)
        curves[st] = [
            {
                "annotations": n,
                "seeds": len(rs),
                "mean": float(np.mean([r[metric] for r in rs])),
                "std": float(np.std([r[metric] for r in rs], ddof=1)) if len(rs) > 1 else 0.0,
                "label_assignments": float(np.mean([r["label_assignments"] for r in rs])),
            }
            for n, rs in sorted(by_n.items())
        ]
    return {"metric": metric, "curves": curves}


def table(summary: dict[str, Any]) -> str:
    """Markdown: one row per number of annotations, one column per strategy (mean ± std)."""
    curves = summary["curves"]
    names = list(curves)
    ns = sorted({p["annotations"] for c in curves.values() for p in c})
    lines = [f"| annotations | {' | '.join(names)} |", "|---" * (len(names) + 1) + "|"]
    for n in ns:
        cells = []
        for st in names:
            p = next((p for p in curves[st] if p["annotations"] == n), None)
            cells.append(f"{p['mean']:.4f} ± {p['std']:.4f}" if p else "")
        lines.append(f"| {n} | {' | '.join(cells)} |")
    if summary.get("settings", {}).get("mode") == "pairs":  # what the same answers cost as label assignments
        lines += ["", "Label assignments the paired images would have needed (mean over seeds):", ""]
        lines += [f"| pairs | {' | '.join(names)} |", "|---" * (len(names) + 1) + "|"]
        for n in ns:
            cells = []
            for st in names:
                p = next((p for p in curves[st] if p["annotations"] == n), None)
                cells.append(f"{p['label_assignments']:.0f}" if p else "")
            lines.append(f"| {n} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _write(
    o: Path, rows: list[dict[str, Any]], summary: dict[str, Any], subsets: dict[str, Any], metric: str
) -> None:
    o.mkdir(parents=True, exist_ok=True)
    write_history(o / "curves.csv", rows)
    write_json_atomic(o / "active.json", summary)
    write_json_atomic(o / "subsets.json", subsets, indent=None)
    head = f"# Active learning: {metric} vs annotations (mean ± sample std over seeds {summary.get('seeds')})\n\n"
    write_text_atomic(o / "active.md", head + table(summary))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for st, c in summary["curves"].items():
        n = [p["annotations"] for p in c]
        m, sd = np.array([p["mean"] for p in c]), np.array([p["std"] for p in c])
        ax.plot(n, m, marker="o", label=st)
        ax.fill_between(n, m - sd, m + sd, alpha=0.15)
    ax.set_xlabel("annotations")
    ax.set_ylabel(metric)
    ax.legend()
    fig.tight_layout()
    fig.savefig(o / "curves.png", dpi=100)
    plt.close(fig)


def load_summary(out: str | Path) -> dict[str, Any]:
    return dict(json.loads((Path(out) / "active.json").read_text()))
