"""``worldclass experiment federated``: federated algorithms against centralised and local-only training
on the same clients, over several seeds.

Per seed, on the clients of ``federated.clients`` (or the train split partitioned by ``federated.scheme``;
the manifest is written once and shared by every run):

- each algorithm of ``algorithms`` (:mod:`.simulate`, the config's ``federated`` settings;
  ``mmfl+whiten``: mmfl with feature whitening);
- **centralised**: the classification task trained on the union of the clients' patches
  (``rounds x local_epochs`` epochs of the task's own optimiser): what pooling the data would give;
- **local-only**: each client trains alone on its own patches for the same epochs; its model is scored
  on the test patches of its own country/group and of the others (how much a model of one archive loses
  on another), and the mean over clients is reported.

All models are scored on the archive's test split (macro/micro F1, macro mAP); federated rows add the MB
exchanged, the wall time and the rounds and MB to reach ``target`` validation mAP. Written to
``trainer.out``: ``federated.json``, ``federated.md`` (mean ± std over the seeds), ``subsets.json``
(the client manifest's ids and the test ids).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.config import ExperimentConfig
from worldclass.io import write_json_atomic, write_text_atomic
from worldclass.tasks.federated import FederatedConfig

SHOWN = ("f1_macro", "f1_micro", "map_macro")


def _test_metrics(checkpoint: Path) -> dict[str, float]:
    from worldclass.tasks.classification.evaluate import evaluate

    m = evaluate(checkpoint, split="test", report=False)
    return {k: float(m[k]) for k in SHOWN}


def _subset_map(checkpoint: Path, cfg: ExperimentConfig, splits: Path) -> float:
    """Macro mAP of ``checkpoint`` on the test patches listed in ``splits``."""
    from worldclass.datasets import get_dataset
    from worldclass.models.checkpoint import load_model
    from worldclass.training.federated.simulate import evaluate_state

    model, _ = load_model(checkpoint)
    data = copy.deepcopy(cfg.data)
    data.splits = str(splits)
    ds = get_dataset(cfg.data.dataset).open(data, "test")
    return evaluate_state(model, ds, cfg.data.batch_size, None, None)["map_macro"]


def _fl_run(
    cfg: ExperimentConfig, algo: str, seed: int, manifest: Path, out: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    from worldclass.training.federated.simulate import simulate

    c = copy.deepcopy(cfg)
    c.trainer.seed, c.trainer.out = seed, str(out)
    base, _, option = algo.partition("+")  # mmfl+whiten: mmfl with federated.whiten
    c.federated.algorithm, c.federated.clients = base, str(manifest)
    c.federated.whiten = c.federated.whiten or option == "whiten"
    done = out / "result.json"
    if done.is_file():
        return dict(json.loads(done.read_text()))
    t0 = time.perf_counter()
    res = simulate(
        c, resume=(out / "fl_state.pt").is_file(), log=lambda s: log(f"  [{algo} seed {seed}] {s}")
    )
    rounds = res["rounds"]
    row = _test_metrics(res["best_checkpoint"]) | {
        "mb_total": rounds[-1]["mb_total"],
        "seconds": time.perf_counter() - t0,
        "curve": [[r["round"], r["mb_total"], r["val_map_macro"]] for r in rounds],
    }
    write_json_atomic(done, row)
    return row


def _train_run(cfg: ExperimentConfig, seed: int, splits: Path, out: Path) -> dict[str, Any]:
    """The task trained on the patches of ``splits``; test metrics of its best checkpoint."""
    from worldclass.training.fit import train

    done = out / "result.json"
    if done.is_file():
        return dict(json.loads(done.read_text()))
    fc: FederatedConfig = cfg.section("federated", FederatedConfig)
    c = copy.deepcopy(cfg)
    c.trainer.seed, c.trainer.out, c.data.splits = seed, str(out), str(splits)
    c.optim.max_epochs = fc.rounds * fc.local_epochs
    c.optim.patience = c.optim.max_epochs
    t0 = time.perf_counter()
    res = train(c, overwrite=True)
    row = _test_metrics(res.best_checkpoint) | {
        "seconds": time.perf_counter() - t0,
        "checkpoint": str(res.best_checkpoint),
    }
    write_json_atomic(done, row)
    return row


def run_federated(
    cfg: ExperimentConfig,
    *,
    algorithms: Sequence[str] = ("fedavg", "fedprox", "scaffold", "moon", "fedbn"),
    seeds: Sequence[int] = (0, 1, 2),
    baselines: bool = True,
    target: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every algorithm (+ centralised, local-only) x seed; finished runs are read back. Returns
    ``{"variants", "cross_group", "table"}``."""
    from worldclass.datasets import get_dataset
    from worldclass.training.federated.partition import read_manifest
    from worldclass.training.federated.simulate import client_manifest

    fc = cfg.section("federated", FederatedConfig)
    out = Path(cfg.trainer.out)
    manifest = client_manifest(cfg, fc, log)  # federated.clients, else written once to <out>/clients
    listed = read_manifest(manifest)
    clients, scheme = listed["clients"], str(listed.get("scheme", ""))
    ds: Any = get_dataset(cfg.data.dataset).open(cfg.data, "all")
    table = ds.table
    splits_dir = out / "splits"
    union = _split_file(splits_dir / "union.csv", {n: c for n, c in clients.items()}, table)
    results: dict[str, dict[str, Any]] = {}
    cross: dict[str, Any] = {}
    for seed in seeds:
        for algo in algorithms:
            log(f"[{algo} seed {seed}] federated, {len(clients)} clients")
            results.setdefault(algo, {"runs": {}})["runs"][str(seed)] = _fl_run(
                cfg, algo, seed, manifest, out / algo / f"seed{seed}", log
            )
        if not baselines:
            continue
        log(f"[centralised seed {seed}] training on the union of the clients' patches")
        results.setdefault("centralised", {"runs": {}})["runs"][str(seed)] = _train_run(
            cfg, seed, union, out / "centralised" / f"seed{seed}"
        )
        local = []
        for name, c in clients.items():
            log(f"[local-only {name} seed {seed}] training on the client's own patches")
            split = _split_file(splits_dir / f"{name}.csv", {name: c}, table)
            local.append((name, _train_run(cfg, seed, split, out / "local" / name / f"seed{seed}")))
        results.setdefault("local-only", {"runs": {}})["runs"][str(seed)] = {
            k: float(np.mean([r[k] for _, r in local])) for k in (*SHOWN, "seconds")
        }
        cross[str(seed)] = cross_group(scheme, cfg, clients, table, local, splits_dir)
    for r in results.values():
        runs = list(r["runs"].values())
        keys = [k for k in (*SHOWN, "mb_total", "seconds") if k in runs[0]]
        r["mean"] = {k: float(np.mean([x[k] for x in runs])) for k in keys}
        r["std"] = {k: float(np.std([x[k] for x in runs], ddof=1)) if len(runs) > 1 else 0.0 for k in keys}
        if target is not None and "curve" in runs[0]:
            r["to_target"] = [_to_target(x["curve"], target) for x in runs]
    table_md = federated_table(results, len(seeds), cross)
    write_text_atomic(out / "federated.md", table_md)
    test_ids = [
        p
        for p, s in zip(table.column("patch_id").to_pylist(), table.column("split").to_pylist(), strict=True)
        if s == "test"
    ]
    write_json_atomic(
        out / "subsets.json", {"manifest": str(manifest), "clients": clients, "test": test_ids}, indent=None
    )
    write_json_atomic(
        out / "federated.json",
        {"seeds": list(seeds), "variants": results, "cross_group": cross, "target": target},
    )
    return {"variants": results, "cross_group": cross, "table": table_md}


def _split_file(path: Path, clients: dict[str, dict[str, list[str]]], table: Any) -> Path:
    """A ``patch_id,split`` file: the clients' train and validation ids, and the archive's test ids."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    ids, split = [], []
    for c in clients.values():
        ids += [*c["train"], *c.get("validation", [])]
        split += ["train"] * len(c["train"]) + ["validation"] * len(c.get("validation", []))
    for p, s in zip(table.column("patch_id").to_pylist(), table.column("split").to_pylist(), strict=True):
        if s in ("validation", "test") and p not in set(ids):
            ids.append(p)
            split.append(s)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcsv.write_csv(pa.table({"patch_id": ids, "split": split}), path)
    return path


def cross_group(
    scheme: str,
    cfg: ExperimentConfig,
    clients: dict[str, Any],
    table: Any,
    local: list[tuple[str, dict[str, Any]]],
    splits_dir: Path,
) -> dict[str, Any]:
    """Each local-only model of a ``country`` / ``country-season`` partition (client named after its group) scored on the test
    patches of its own group and of every other group: macro mAP own vs mean of the others."""
    from worldclass.data.bigearthnet.naming import acquisition_season

    pid = table.column("patch_id").to_pylist()
    seasonal = scheme == "country-season"
    group_of = {
        p: f"{c}-{acquisition_season(p)}" if seasonal else str(c)
        for p, c in zip(pid, table.column("country").to_pylist(), strict=True)
    }
    tests: dict[str, list[str]] = {}
    for p, s in zip(pid, table.column("split").to_pylist(), strict=True):
        if s == "test":
            tests.setdefault(group_of[p], []).append(p)
    out: dict[str, Any] = {}
    for name, row in local:
        if name not in tests:
            continue  # an iid / dirichlet client has no group of its own
        scores = {}
        for group, ids in tests.items():
            path = splits_dir / f"test-{group}.csv"
            if not path.is_file():
                import pyarrow as pa
                import pyarrow.csv as pcsv

                pcsv.write_csv(pa.table({"patch_id": ids, "split": ["test"] * len(ids)}), path)
            scores[group] = _subset_map(Path(row["checkpoint"]), cfg, path)
        others = [v for g, v in scores.items() if g != name]
        out[name] = {
            "own": scores[name],
            "others": float(np.mean(others)) if others else float("nan"),
            "per_group": scores,
        }
    return out


def _to_target(curve: list[Any], target: float) -> dict[str, Any]:
    for r, mb, score in curve:
        if score >= target:
            return {"round": r, "mb": mb}
    return {"round": None, "mb": None}


def federated_table(results: dict[str, Any], n_seeds: int, cross: dict[str, Any]) -> str:
    """Markdown: one row per method, test F1/mAP in %, MB exchanged and seconds, mean ± std."""
    head = "| method | " + " | ".join(SHOWN) + " | MB exchanged | seconds |"
    rows = []
    for name, r in results.items():
        cells = [f"{100 * r['mean'][k]:.1f} ± {100 * r['std'][k]:.1f}" for k in SHOWN]
        mb = f"{r['mean']['mb_total']:.0f}" if "mb_total" in r["mean"] else "0"
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {mb} | {r['mean']['seconds']:.0f} |")
    text = (
        "\n".join([head, "|---|" + "---|" * (len(SHOWN) + 2), *rows])
        + f"\n\nmean ± std over {n_seeds} seeds\n"
    )
    own = [v["own"] for c in cross.values() for v in c.values()]
    other = [v["others"] for c in cross.values() for v in c.values()]
    if own:
        text += (
            f"\nlocal-only models, test macro mAP on their own group {100 * np.mean(own):.1f} % vs "
            f"{100 * np.nanmean(other):.1f} % on the other groups\n"
        )
    return text
