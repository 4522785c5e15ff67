"""``worldclass report RUN``: the HTML report of a training run folder, from ``curves.csv`` and
``config.json``: summary (task, data, epochs, sessions, best epoch), loss and monitored-metric curves,
every other logged metric and the learning rate per epoch, and the per-epoch table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from worldclass.errors import DataError
from worldclass.tasks import get_task
from worldclass.training.curves import FIXED, read_curves


def run_summary(run: str | Path) -> dict[str, Any]:
    """Summary of run folder ``run``: task, monitor, epochs, sessions, best epoch and value, the last
    epoch's metrics and the rows (one per epoch)."""
    run = Path(run)
    path = run / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: not found; is {run} a run folder of `worldclass train`?") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable run config ({exc})") from None
    rows = read_curves(run)
    if not rows:
        raise DataError(f"{run / 'curves.csv'}: no epoch finished yet; train at least one epoch")
    task = get_task(cfg["task"])
    scored = [r for r in rows if not math.isnan(r.get(task.monitor, math.nan))]
    pick = max if task.mode == "max" else min
    best = pick(scored, key=lambda r: r[task.monitor]) if scored else None
    return {
        "run": str(run),
        "name": cfg.get("name", ""),
        "task": task.name,
        "data": cfg.get("data", {}).get("root", ""),
        "monitor": task.monitor,
        "mode": task.mode,
        "epochs": len(rows),
        "sessions": int(max(r["session"] for r in rows)),
        "best_epoch": None if best is None else int(best["epoch"]),
        "best": None if best is None else best[task.monitor],
        "last": {k: v for k, v in rows[-1].items() if k not in FIXED or k == "lr"},
        "seconds": float(sum(r["seconds"] for r in rows)),
        "rows": rows,
    }


def run_report(run: str | Path, out: str | Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Write the HTML report of run folder ``run`` to ``out`` (default ``RUN/report.html``); returns its
    path and :func:`run_summary`."""
    from worldclass.report import Report
    from worldclass.report import curve_plots as cp

    s = run_summary(run)
    rows = s["rows"]
    path = Path(out) if out is not None else Path(run) / "report.html"
    r = Report(f"worldclass run: {s['name']} ({s['task']})")
    r.table(
        ["run", "task", "data", "epochs", "sessions", "best epoch", s["monitor"], "train time (s)"],
        [
            [
                s["run"],
                s["task"],
                s["data"],
                s["epochs"],
                s["sessions"],
                s["best_epoch"],
                s["best"],
                s["seconds"],
            ]
        ],
    )
    if s["sessions"] > 1:
        r.text("Dashed lines: where a resumed session (--resume) continued the run.", note=True)
    r.heading("Learning curves")
    r.figure(cp.loss_curves(rows, s["monitor"], s["mode"]), "loss and monitored metric per epoch")
    keys = [k for k in rows[-1] if k.startswith(("train/", "val/")) and k not in ("train/loss", "val/loss")]
    keys = [k for k in keys if k != s["monitor"]] + ["lr"]
    r.figure(cp.metric_grid(rows, keys), "every logged metric and the learning rate per epoch")
    r.heading("Per epoch")
    cols = list(rows[-1])
    r.table(cols, [[_cell(c, row.get(c)) for c in cols] for row in rows])
    return r.write(path.parent, path.name), s


def _cell(column: str, value: float | None) -> Any:
    """Counters as integers, the learning rate in scientific notation, metrics as they are."""
    if value is None or math.isnan(value):
        return None
    if column in ("epoch", "step", "session"):
        return int(value)
    if column == "lr":
        return f"{value:.2e}"
    return value
