"""What a federation writes: task checkpoints, the resumable round state, ``rounds.csv``, ``fl.json`` and
``index.html``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

from worldclass.io import atomic_open, write_json_atomic
from worldclass.tasks.federated import FederatedConfig
from worldclass.training.federated.algorithms import Algorithm, State


def save_checkpoint(path: Path, module: Any, state: State, round_: int) -> None:
    """A task checkpoint (same layout as `worldclass train` writes) of the weights ``state``."""
    from worldclass.models.checkpoint import STATE_PREFIX

    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "state_dict": {STATE_PREFIX + k: v for k, v in state.items()},
        "hyper_parameters": dict(module.hparams),
        "epoch": round_,
        "global_step": round_,
    }
    with atomic_open(path, "wb") as f:
        torch.save(ckpt, f)


def save_state(
    path: Path,
    global_state: State,
    history: list[dict[str, Any]],
    best: tuple[float, int],
    algo: Algorithm,
    clients: list[Any],
) -> None:
    with atomic_open(path, "wb") as f:
        torch.save(
            {
                "global": global_state,
                "history": history,
                "best": list(best),
                "server": algo.server_state(),
                "clients": {c.name: c.state for c in clients},
            },
            f,
        )


def start_state(
    state_file: Path, model: torch.nn.Module, algo: Algorithm, log: Any
) -> tuple[State, list[dict[str, Any]], tuple[float, int], dict[str, Any]]:
    """(global weights, round history, (best validation mAP, its round), saved client states) of a
    federation: the model's own weights, or those of ``state_file`` when a stopped run left one (the
    algorithm's server state restored too)."""
    if not state_file.is_file():
        return {k: v.detach().clone() for k, v in model.state_dict().items()}, [], (-1.0, -1), {}
    saved = torch.load(state_file, map_location="cpu", weights_only=True)
    algo.load_server_state(saved["server"])
    log(f"resuming after round {len(saved['history'])}")
    return (
        saved["global"],
        saved["history"],
        (float(saved["best"][0]), int(saved["best"][1])),
        saved["clients"],
    )


def write_history(out: Path, history: list[dict[str, Any]], manifest: Path, fc: FederatedConfig) -> None:
    from dataclasses import asdict

    keys = [k for k in history[0] if k != "clients"]
    with atomic_open(out / "rounds.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for row in history:
            w.writerow({k: row[k] for k in keys})
    write_json_atomic(
        out / "fl.json", {"federated": asdict(fc), "manifest": str(manifest), "rounds": history}
    )
    _report(out, history, fc)


def _report(out: Path, history: list[dict[str, Any]], fc: FederatedConfig) -> None:
    """``index.html``: curves against round and MB, the rounds, and each client's last answer."""
    from worldclass.report import Report
    from worldclass.report.curve_plots import federated_curves

    r = Report(f"worldclass federation: {fc.algorithm}, {len(history)} of {fc.rounds} rounds")
    r.figure(federated_curves(history), "validation macro mAP against round and MB exchanged")
    keys = ["round", "answered", "dropped", "mb_total", "seconds", "val_map_macro", "val_f1_macro"]
    r.table(keys, [[row[k] for k in keys] for row in history])
    r.heading("Clients in the last round")
    last = history[-1]["clients"]
    r.table(
        ["client", "answered", "local loss", "steps", "seconds", "MB up"],
        [
            [n, c["answered"], c.get("loss"), c.get("steps"), c.get("seconds"), c.get("mb_up")]
            for n, c in last.items()
        ],
    )
    r.write(out)
