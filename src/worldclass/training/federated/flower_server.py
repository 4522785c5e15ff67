"""The Flower ServerApp: the server side of a federation on Flower's processes (see :mod:`.flower`).

It never opens a data file: it learns each client's model description and label counts from a
``query`` round, builds the global model from that description (the same builder ``load_model`` uses),
and then runs ``federated.rounds`` rounds of ``train`` (sampled clients, the algorithm's aggregation) and
``evaluate`` (every client with validation patches; the example-weighted mean of their metrics is the
federation's validation score). Clients whose answer is an error or misses ``federated.timeout`` count as
dropped; a round with fewer than ``federated.min_clients`` answers keeps the global model. Written to the
run folder, as by ``worldclass fl simulate``: ``rounds.csv``, ``fl.json``, ``index.html``,
``checkpoints/{best,last}.ckpt`` (task checkpoints) and ``fl_state.pt``; with run config ``resume`` a new
run continues after the last saved round (clients' algorithm state lives in their Flower context and
starts afresh in a new run).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

from worldclass.errors import ConfigError, WorldclassError
from worldclass.tasks.federated import FederatedConfig
from worldclass.training.federated.algorithms import Algorithm, State, Upload, algorithm_for
from worldclass.training.federated.flower import CONFIG_KEY, arrays, from_record, metrics, records_json
from worldclass.training.federated.outputs import save_checkpoint, save_state, start_state, write_history
from worldclass.training.federated.simulate import client_seed, payload_bytes, sample_round

app = ServerApp()

#: run config for :func:`~worldclass.training.federated.flower.simulate_flower` (Flower's simulation
#: engine runs this ServerApp in the calling process without an app folder)
LOCAL_RUN_CONFIG: dict[str, Any] = {}

METRICS = ("map_macro", "map_micro", "f1_macro", "f1_micro", "f1_minor")


@dataclass
class Member:
    """A client as the server knows it: its node, name, description and the algorithm's view of it."""

    node: int
    name: str
    info: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.info["n_train"])


def log(line: str) -> None:
    print(f"worldclass server: {line}", file=sys.stderr, flush=True)


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Entry point Flower calls on the SuperLink's side."""
    try:
        run_server(grid, dict(context.run_config) or LOCAL_RUN_CONFIG)
    except WorldclassError as exc:
        log(str(exc))
        raise SystemExit(exc.exit_code) from None


def _exchange(
    grid: Grid, contents: dict[int, RecordDict], kind: str, group: str, timeout: float
) -> dict[int, Message]:
    msgs = [Message(c, dst_node_id=n, message_type=kind, group_id=group) for n, c in contents.items()]
    replies = grid.send_and_receive(msgs, timeout=timeout)
    return {m.metadata.src_node_id: m for m in replies}


def _members(grid: Grid, config: dict[str, Any], expected: int, wait: float, timeout: float) -> list[Member]:
    deadline = time.monotonic() + wait
    nodes = sorted(grid.get_node_ids())
    while len(nodes) < expected and time.monotonic() < deadline:
        time.sleep(1.0)
        nodes = sorted(grid.get_node_ids())
    log(f"{len(nodes)} SuperNodes connected")
    replies = _exchange(
        grid, {n: RecordDict({"config": records_json(config)}) for n in nodes}, "query", "0", timeout
    )
    out: list[Member] = []
    for n in nodes:
        reply = replies.get(n)
        if reply is None:
            log(f"node {n}: no answer to the query; left out")
        elif reply.has_error():
            log(f"node {n}: {reply.error.reason}; left out")
        else:
            info = from_record(reply.content["info"])
            out.append(Member(n, str(info["name"]), info))
    kept, notes = consistent(sorted(out, key=lambda m: m.name))
    for line in notes:
        log(line)
    return kept


def consistent(members: list[Member]) -> tuple[list[Member], list[str]]:
    """The members whose bands and classes equal those of the first one, and a line for each other."""
    if not members:
        return [], []
    ref, kept, notes = members[0], [members[0]], []
    for m in members[1:]:
        what = next((w for w in ("bands", "classes") if m.info[w] != ref.info[w]), None)
        if what is None:
            kept.append(m)
        else:
            notes.append(
                f"client {m.name}: {what} {m.info[what]} differ from {ref.name}'s {ref.info[what]}; left out "
                "(encode its archive with the federation's bands and classes)"
            )
    return kept, notes


def _server_module(members: list[Member], cfg: Any) -> tuple[torch.nn.Module, Any]:
    """The global model and the checkpoint's hyper-parameters (label counts summed over the clients)."""
    from worldclass.models.registry import build_model

    hp = dict(members[0].info["hparams"])
    for key in ("train_counts", "eval_counts"):
        if hp.get(key) is not None:
            hp[key] = np.sum([m.info["hparams"][key] for m in members], 0).astype(int).tolist()
    hp["n_train"] = sum(int(m.info["hparams"]["n_train"]) for m in members)
    spec = hp["meta"]["model"]
    kwargs = dict(spec["kwargs"])
    pretrained = (hp["config"].get("model") or {}).get("pretrained")
    if pretrained:
        kwargs["pretrained"] = pretrained
    torch.manual_seed(cfg.trainer.seed)
    return build_model(spec["name"], **kwargs), SimpleNamespace(hparams=hp)


def run_server(grid: Grid, run_config: dict[str, Any]) -> list[dict[str, Any]]:
    """The federation of the run config's embedded worldclass config; returns the round history."""
    from worldclass.tasks import config_from_dict

    config = json.loads(str(run_config[CONFIG_KEY]))
    cfg = config_from_dict(config)
    fc = cfg.section("federated", FederatedConfig)
    out = Path(str(run_config.get("out") or cfg.trainer.out))
    state_file = out / "fl_state.pt"
    if state_file.is_file() and not run_config.get("resume"):
        raise ConfigError(
            f"{out}: holds a federated run; set the run config resume=true or choose another out"
        )
    expected = int(run_config.get("nodes", fc.min_clients))
    members = _members(grid, config, expected, float(run_config.get("wait-seconds", 300)), fc.timeout)
    if len(members) < fc.min_clients:
        raise ConfigError(
            f"only {len(members)} usable clients answered (federated.min_clients {fc.min_clients}); "
            "start more SuperNodes or lower min_clients"
        )
    log("clients: " + ", ".join(f"{m.name} ({m.size} patches, {m.info['modality']})" for m in members))
    model, module = _server_module(members, cfg)
    algo = algorithm_for(fc)
    algo.setup(model, len(members))
    for m in members:
        m.state["modality"] = m.info["modality"]
    global_state, history, best, _ = start_state(state_file, model, algo, log)  # client state: theirs
    conf = {"config": config, "bands": members[0].info["bands"], "classes": members[0].info["classes"]}
    for r in range(len(history) + 1, fc.rounds + 1):
        global_state, row = _round(grid, r, members, algo, global_state, conf, fc, cfg.trainer.seed)
        row["mb_total"] = (history[-1]["mb_total"] if history else 0.0) + row["mb_down"] + row["mb_up"]
        history.append(row)
        log(
            f"round {r}/{fc.rounds}: {row['answered']} clients, {row['mb_total']:.1f} MB so far, "
            f"val mAP {row['val_map_macro']:.3f}"
        )
        eval_state = algo.evaluation_state(global_state, [])
        if row["val_map_macro"] > best[0]:
            best = (row["val_map_macro"], r)
            save_checkpoint(out / "checkpoints" / "best.ckpt", module, eval_state, r)
        save_checkpoint(out / "checkpoints" / "last.ckpt", module, eval_state, r)
        save_state(state_file, global_state, history, best, algo, members)
        write_history(out, history, Path(f"flower:{len(members)}-clients"), fc)
    return history


def _round(
    grid: Grid,
    r: int,
    members: list[Member],
    algo: Algorithm,
    global_state: State,
    conf: dict[str, Any],
    fc: FederatedConfig,
    seed: int,
) -> tuple[State, dict[str, Any]]:
    """One train + evaluate round; the new global weights and the round's history row."""
    t0 = time.perf_counter()
    chosen, _ = sample_round(len(members), fc, seed, r)
    sampled = [members[i] for i in chosen]
    payload = algo.server_payload()
    contents, bytes_down = {}, 0
    for i, m in zip(chosen, sampled, strict=True):  # seeds by client index, as the simulator's
        down = {key: global_state[key] for key in algo.upload_keys(list(global_state), m.state)}
        bytes_down += payload_bytes(down) + payload_bytes(payload)
        c = {**conf, "round": r, "seed": client_seed(seed, r, i)}
        contents[m.node] = RecordDict(
            {"arrays": ArrayRecord(down), "payload": ArrayRecord(payload), "config": records_json(c)}
        )
    replies = _exchange(grid, contents, "train", str(r), fc.timeout)
    uploads: list[Upload] = []
    bytes_up, per_client = 0, dict[str, dict[str, Any]]()
    for m in sampled:
        reply = replies.get(m.node)
        if reply is None or reply.has_error():
            why = "no answer in time" if reply is None else reply.error.reason
            log(f"round {r}: client {m.name} dropped ({why})")
            per_client[m.name] = {"answered": False}
            continue
        state, extras, met = arrays(reply), arrays(reply, "extras"), metrics(reply)
        u = Upload(state, int(met["num-examples"]), int(met["steps"]), extras, float(met["loss"]))
        up = payload_bytes(state) + payload_bytes(extras)
        bytes_up += up
        uploads.append(u)
        per_client[m.name] = {
            "answered": True,
            "loss": u.loss,
            "steps": u.steps,
            "seconds": met["seconds"],
            "mb_up": up / 1e6,
        }
    note = ""
    if len(uploads) >= fc.min_clients:
        global_state = algo.aggregate(global_state, uploads)
    else:
        note = f"only {len(uploads)} of {len(sampled)} clients answered (min {fc.min_clients}): global model kept"
        log(f"round {r}: {note}")
    scores = _evaluate(grid, r, members, algo.evaluation_state(global_state, []), conf, fc, per_client)
    row = {
        "round": r,
        "answered": len(uploads),
        "dropped": len(sampled) - len(uploads),
        "mb_down": bytes_down / 1e6,
        "mb_up": bytes_up / 1e6,
        "mb_total": 0.0,
        "seconds": time.perf_counter() - t0,
        "note": note,
        "clients": per_client,
        **{f"val_{k}": v for k, v in scores.items()},
    }
    return global_state, row


def _evaluate(
    grid: Grid,
    r: int,
    members: list[Member],
    state: State,
    conf: dict[str, Any],
    fc: FederatedConfig,
    per_client: dict[str, dict[str, Any]],
) -> dict[str, float]:
    """Example-weighted mean of the clients' validation metrics of ``state`` (NaN: no client has
    validation patches)."""
    holders = [m for m in members if int(m.info["n_val"]) > 0]
    contents = {
        m.node: RecordDict(
            {"arrays": ArrayRecord(state), "config": records_json({**conf, "round": r, "seed": 0})}
        )
        for m in holders
    }
    replies = _exchange(grid, contents, "evaluate", f"{r}-eval", fc.timeout)
    rows: list[tuple[int, dict[str, float]]] = []
    for m in holders:
        reply = replies.get(m.node)
        if reply is None or reply.has_error():
            continue
        met = metrics(reply)
        n = int(met["num-examples"])
        if n:
            rows.append((n, {k: met[k] for k in METRICS}))
            per_client.setdefault(m.name, {"answered": False}).update(
                val_map_macro=met["map_macro"], val_f1_macro=met["f1_macro"]
            )
    if not rows:
        return dict.fromkeys(METRICS, float("nan"))
    total = sum(n for n, _ in rows)
    return {k: sum(n * v[k] for n, v in rows) / total for k in METRICS}
