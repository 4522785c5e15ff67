"""The Flower ClientApp: one client of a federation, reading only the archive its SuperNode names.

Its data: the node config's ``data`` (+ optional ``splits``, ``name``, ``modality``; see
:mod:`.flower`), or, under Flower's simulation engine, client ``partition-id`` (in name order) of the
config's ``federated.clients`` manifest, read through that client's split file. The model is the task's own, built from the config
the server sends; local training is :func:`~worldclass.training.federated.simulate.local_train`, the same
code the in-process simulator runs, so both engines train alike. The algorithm's per-client state
(SCAFFOLD's control variate, MOON's previous model, FedBN's BatchNorm layers) lives in the node's
Flower context between rounds. Bad input (no data, other bands or classes than the server's model)
answers with an error message naming the file and the fix; the server counts that client as dropped.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from worldclass.errors import DataError, WorldclassError
from worldclass.tasks.federated import FederatedConfig
from worldclass.training.federated.algorithms import Algorithm, algorithm_for
from worldclass.training.federated.flower import QUIET_ENV, arrays, from_record, records_json
from worldclass.training.federated.simulate import Client, evaluate_state, local_train

app = ClientApp()

if os.environ.get(QUIET_ENV):
    logging.getLogger("flwr").setLevel(logging.ERROR)

#: error code of a reply whose client cannot take part (bad data or config)
CLIENT_ERROR = 1


@dataclass
class Node:
    """What a client process keeps while it answers messages of one config."""

    name: str
    modality: str
    module: Any
    client: Client
    algo: Algorithm
    fc: FederatedConfig
    batch_size: int
    bands: list[str]
    classes: list[str]


_CACHE: dict[str, Node] = {}


def _data_overrides(context: Context, config: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """(client name, config overrides that point the config at this client's own data, the names of
    the federation's clients when a manifest gives them, else [])."""
    nc = context.node_config
    if "data" in nc:
        over = [f"data.root={nc['data']}"]
        if nc.get("splits"):
            over.append(f"data.splits={nc['splits']}")
        return str(nc.get("name") or f"node{context.node_id}"), over, []
    listed = (config.get("federated") or {}).get("clients")
    if "partition-id" in nc and listed:  # Flower's simulation engine: client partition-id of the manifest
        from pathlib import Path

        from worldclass.training.federated.partition import client_splits, read_manifest

        manifest = Path(str(listed))
        names = sorted(read_manifest(manifest)["clients"])
        name = names[int(nc["partition-id"]) % len(names)]
        splits = client_splits(manifest, name, manifest.parent / f"{name}.csv")
        return name, [f"data.splits={splits}"], names
    raise DataError(
        f"SuperNode {context.node_id}: no data in its node config; start it with "
        "--node-config 'data=\"/path/to/its/archive\"'"
    )


def _node(config: dict[str, Any], context: Context) -> Node:
    from worldclass.tasks import config_from_dict, get_task

    name, over, names = _data_overrides(context, config)
    key = json.dumps([config, over], sort_keys=True)
    if key in _CACHE:
        return _CACHE[key]
    cfg = config_from_dict(config, over)
    fc = cfg.section("federated", FederatedConfig)
    torch.manual_seed(cfg.trainer.seed)
    try:
        setup = get_task(cfg.task).setup(cfg)
    except DataError as exc:
        raise DataError(f"client {name}: {exc}") from None
    module = setup.module
    if len(setup.datamodule.datasets["train"]) == 0:
        raise DataError(f"client {name}: {cfg.data.root} holds no training patches for this client")
    meta = module.hparams["meta"]
    algo = algorithm_for(fc)
    algo.setup(module.model, 1)
    modality = str(context.node_config.get("modality", "both"))  # a SuperNode says what it holds
    if names and "modality" not in context.node_config and (fc.modalities or fc.algorithm == "mmfl"):
        from worldclass.training.federated.multimodal import assign_modalities

        modality = assign_modalities(names, fc.modalities)[name]
    client = Client(name, setup.datamodule.datasets["train"], setup.datamodule.datasets.get("validation"))
    node = Node(name, modality, module, client, algo, fc, cfg.data.batch_size, meta["bands"], meta["classes"])
    _CACHE.clear()
    _CACHE[key] = node
    return node


def _load_state(context: Context) -> dict[str, Any]:
    rec = context.state.get("worldclass")
    if rec is None:
        return {}
    out: dict[str, Any] = torch.load(io.BytesIO(rec["state"]), map_location="cpu", weights_only=True)  # type: ignore[arg-type]
    return out


def _save_state(context: Context, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save({k: v for k, v in state.items() if not k.startswith("_")}, buf)
    context.state["worldclass"] = ConfigRecord({"state": buf.getvalue()})


def _refuse(msg: Message, exc: WorldclassError) -> Message:
    """An error reply (and the same line on this client's console)."""
    print(f"worldclass client: {exc}", file=sys.stderr)
    return Message(Error(code=CLIENT_ERROR, reason=str(exc)), reply_to=msg)


def _check_model(node: Node, conf: dict[str, Any]) -> None:
    for what in ("bands", "classes"):
        mine, theirs = getattr(node, what), conf[what]
        if mine != theirs:
            raise DataError(
                f"client {node.name}: its archive has the {what} {mine}, the federation's model expects "
                f"{theirs}; encode this client's archive with the federation's {what}"
            )


def _prepare(msg: Message, context: Context) -> tuple[Node, dict[str, Any]] | Message:
    """This client's node for a train/evaluate message and the message's config, or the error reply."""
    conf = from_record(msg.content["config"])
    try:
        node = _node(conf["config"], context)
        _check_model(node, conf)
    except WorldclassError as exc:
        return _refuse(msg, exc)
    return node, conf


@app.query()
def query(msg: Message, context: Context) -> Message:
    """This client's description: name, modality, model metadata, label counts, patches."""
    config = from_record(msg.content["config"])
    try:
        node = _node(config, context)
    except WorldclassError as exc:
        return _refuse(msg, exc)
    hp = dict(node.module.hparams)  # with the server's config: this client's paths stay here
    hp["config"], hp["meta"] = config, {**hp["meta"], "config": config}
    info = {
        "name": node.name,
        "modality": node.modality,
        "bands": node.bands,
        "classes": node.classes,
        "n_train": node.client.size,
        "n_val": len(node.client.val) if node.client.val is not None else 0,
        "hparams": hp,
    }
    return Message(RecordDict({"info": records_json(info)}), reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Local training from the received global weights; replies with the upload of the algorithm."""
    ready = _prepare(msg, context)
    if isinstance(ready, Message):
        return ready
    node, conf = ready
    t0 = time.perf_counter()
    client = node.client
    client.state = _load_state(context)
    client.state["modality"] = node.modality
    model = node.module.model
    received = arrays(msg)
    global_state = {**{k: v.detach().clone() for k, v in model.state_dict().items()}, **received}
    payload = arrays(msg, "payload")
    u = local_train(
        model,
        node.module.loss,
        client,
        node.algo,
        global_state,
        payload,
        node.fc,
        node.batch_size,
        seed=int(conf["seed"]),
    )
    _save_state(context, client.state)
    record = MetricRecord(
        {
            "num-examples": u.num_examples,
            "steps": u.steps,
            "loss": float(np.nan_to_num(u.loss)),
            "seconds": time.perf_counter() - t0,
        }
    )
    content = RecordDict({"arrays": ArrayRecord(u.state), "extras": ArrayRecord(u.extras), "metrics": record})
    return Message(content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Metrics of the received global weights (with this client's local layers) on its validation
    patches."""
    ready = _prepare(msg, context)
    if isinstance(ready, Message):
        return ready
    node, _ = ready
    model = node.module.model
    state = _load_state(context)
    local = {k: v for k, v in state.get("local", {}).items() if k in node.algo.local_keys()}
    full = {**model.state_dict(), **arrays(msg), **local}
    model.load_state_dict(node.algo.evaluation_state(full, [(state, node.client.size)]))
    val = node.client.val
    if val is None or len(val) == 0:
        return Message(RecordDict({"metrics": MetricRecord({"num-examples": 0})}), reply_to=msg)
    m = evaluate_state(model, val, node.batch_size, None, None)
    return Message(RecordDict({"metrics": MetricRecord({"num-examples": len(val), **m})}), reply_to=msg)
