"""Federated part of the demo: the demo archive split into one client per country, FedAvg and SCAFFOLD for
a few rounds in one process (each client reads only its own patches), scored on the test split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from worldclass.report import Report

DEMO_FL = [
    "data.bands=s2-10",
    "data.batch_size=16",
    "data.num_workers=0",
    "model.backbone=mobilenetv3_small_100",
    "model.drop_rate=0",
    "model.drop_path_rate=0",
    "federated.scheme=country",
    "federated.local_epochs=2",
    "federated.lr=0.05",
    "trainer.progress=false",
]


def run_federated_demo(
    report: Report, store: Path, out: Path, *, rounds: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """FedAvg vs SCAFFOLD over the countries of ``store``; returns their test metrics."""
    from worldclass.tasks import load_config
    from worldclass.tasks.classification.evaluate import evaluate
    from worldclass.training.federated.partition import read_manifest
    from worldclass.training.federated.simulate import simulate

    rows, scores, manifest = [], {}, None
    for algo in ("fedavg", "scaffold"):
        run = out / "runs" / f"fl-{algo}"
        sets = [f"data.root={store}", f"trainer.out={run}", f"federated.rounds={rounds}", *DEMO_FL]
        if manifest is not None:
            sets.append(f"federated.clients={manifest}")
        log(f"  federated: {algo}, {rounds} rounds")
        cfg = load_config(None, [*sets, f"federated.algorithm={algo}"])
        res = simulate(cfg, resume=(run / "fl_state.pt").is_file(), log=lambda s: log(f"    {s}"))
        manifest = res["manifest"]
        m = evaluate(res["best_checkpoint"], split="test", report=False)
        scores[algo] = m
        last = res["rounds"][-1]
        rows.append(
            [algo, len(res["rounds"]), last["mb_total"], last["val_map_macro"], m["map_macro"], m["f1_macro"]]
        )
    clients = read_manifest(Path(str(manifest)))
    report.heading(
        f"Federated learning: {len(clients['clients'])} clients (one per country), FedAvg vs SCAFFOLD"
    )
    report.text(
        f"Clients from {manifest} ({', '.join(clients['clients'])}); each reads only its own patches through "
        "its split file; traffic is the size of the serialised weights sent down and up (SCAFFOLD's control "
        "variates travel too). Per-round curves and client tables: runs/fl-*/index.html. "
        "A few CPU rounds: the numbers show the pipeline (see `worldclass fl experiment` for the comparison)."
    )
    report.table(
        ["algorithm", "rounds", "MB exchanged", "val mAP macro", "test mAP macro", "test F1 macro"], rows
    )
    return scores
