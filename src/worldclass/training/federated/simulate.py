"""``worldclass fl simulate``: a federation run in one process, deterministic and resumable.

Each client opens only its own patches (its manifest split file as ``data.splits``); one working copy of
the model visits the sampled clients in turn (memory: the global model, one working copy and the
clients' persistent algorithm state). Per round ``r``: clients sampled by ``federated.fraction`` (seeded by
``(seed, r)``), each may drop out (``drop_rate``, seeded), answers are aggregated when at least
``min_clients`` came back (else the global model stays); the global model is scored on the archive's
validation split. Traffic is measured on the serialised payloads (safetensors bytes of what is sent
down and up). After every round the whole state is saved (``fl_state.pt``): a stopped run resumes and
ends with the same weights as an uninterrupted one.

Written to ``trainer.out``: ``clients.json`` (when partitioned here), ``rounds.csv`` and ``fl.json`` (per
round: clients answered / dropped, MB down / up / cumulative, seconds, mean local loss per client,
validation metrics), ``checkpoints/best.ckpt`` (best validation macro mAP) and ``last.ckpt`` (task
checkpoints: ``evaluate``, ``embed``, ``predict`` take them), ``index.html``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from worldclass.config import ExperimentConfig
from worldclass.errors import ConfigError, DataError
from worldclass.tasks.federated import FederatedConfig
from worldclass.training.federated.algorithms import Algorithm, State, Upload, algorithm_for
from worldclass.training.federated.outputs import save_checkpoint, save_state, start_state, write_history


def payload_bytes(tensors: State) -> int:
    """Bytes of ``tensors`` serialised as safetensors (what travels over the wire)."""
    if not tensors:
        return 0
    from safetensors.torch import save

    return len(save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}))


@dataclass
class Client:
    """A client of the simulation: its name, training data, local validation data (None: none) and
    persistent algorithm state."""

    name: str
    data: Any
    val: Any = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.data)


def client_manifest(cfg: ExperimentConfig, fc: FederatedConfig, log: Callable[[str], None]) -> Path:
    """The run's client manifest: ``federated.clients``, else the train split partitioned by
    ``federated.scheme`` and written to ``<out>/clients``."""
    from worldclass.datasets import get_dataset
    from worldclass.training.federated.partition import partition, summarise, write_manifest

    if fc.clients:
        return Path(fc.clients)
    out = Path(cfg.trainer.out) / "clients"
    if (out / "clients.json").is_file():
        return out / "clients.json"
    ds: Any = get_dataset(cfg.data.dataset).open(cfg.data, "all")
    parts = partition(
        ds.table, ds.classes, fc.scheme, clients=fc.num_clients, alpha=fc.alpha, seed=cfg.trainer.seed
    )
    summary = summarise(parts, ds.table, ds.classes)
    log(
        f"partitioned the train split by {fc.scheme}: {len(parts)} clients, non-IID (mean JS) {summary['non_iid']}"
    )
    return write_manifest(
        out,
        parts,
        scheme=fc.scheme,
        source=str(cfg.data.root),
        seed=cfg.trainer.seed,
        val_share=fc.val_share,
        summary=summary,
    )


def open_clients(cfg: ExperimentConfig, manifest: Path) -> list[Client]:
    """Each client's training dataset: the archive seen through the client's own split file."""
    from worldclass.datasets import get_dataset
    from worldclass.training.federated.partition import client_splits, read_manifest

    listed = read_manifest(manifest)["clients"]
    if len(listed) < 1:
        raise DataError(f"{manifest}: no clients")
    dataset = get_dataset(cfg.data.dataset)
    known = set(getattr(dataset.open(cfg.data, "all"), "patch_ids", []))
    out = []
    for name in sorted(listed):
        ids = [*listed[name]["train"], *listed[name].get("validation", [])]
        unknown = [p for p in ids if p not in known]
        if unknown:
            raise DataError(
                f"{manifest}: client {name} names {len(unknown)} patches that {cfg.data.root} does not hold "
                f"(e.g. {unknown[0]}); partition this archive again with `worldclass fl partition`"
            )
        data = copy.deepcopy(cfg.data)
        data.splits = str(client_splits(manifest, name, manifest.parent / f"{name}.csv"))
        try:
            ds = dataset.open(data, "train")
        except DataError as exc:
            raise DataError(f"client {name}: {exc}") from None
        if len(ds) == 0:  # type: ignore[arg-type]
            raise DataError(f"client {name} of {manifest}: none of its patches is in {cfg.data.root}")
        val = dataset.open(data, "validation") if listed[name].get("validation") else None
        out.append(Client(name, ds, val))
    return out


def sample_round(n: int, fc: FederatedConfig, seed: int, r: int) -> tuple[list[int], np.random.Generator]:
    """Indexes of the clients (of ``n``, in name order) sampled for round ``r`` (``fraction``, at least
    ``min_clients``), and the round's generator for further draws; both engines sample this way."""
    rng = np.random.default_rng([seed, r])
    m = max(min(fc.min_clients, n), round(fc.fraction * n))
    return sorted(rng.choice(n, m, replace=False).tolist()), rng


def client_seed(seed: int, r: int, i: int) -> int:
    """Seed of client ``i``'s local training in round ``r`` (resume and both engines give the same)."""
    return int(np.random.default_rng([seed, r, i]).integers(2**31))


def local_train(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    client: Client,
    algo: Algorithm,
    global_state: State,
    payload: State,
    fc: FederatedConfig,
    batch_size: int,
    seed: int,
) -> Upload:
    """One client's round: global weights in (its local keys kept), local SGD, the upload out."""
    local = algo.local_keys()
    own = client.state.get("local", {})
    model.load_state_dict({**global_state, **{k: v for k, v in own.items() if k in local}})
    model.train()
    algo.begin(model, client.state, payload)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=fc.lr, momentum=fc.momentum)
    torch.manual_seed(seed)  # dropout & co.: a function of (run seed, round, client), so resume is exact
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(client.data, batch_size=batch_size, shuffle=True, generator=g, drop_last=False)
    steps, total = 0, 0.0
    for _ in range(fc.local_epochs):
        for batch in loader:
            if fc.local_steps is not None and steps >= fc.local_steps:
                break
            feats, logits = algo.forward(model, batch["image"], client.state)
            loss = loss_fn(logits, batch["label"])
            extra = algo.loss_term(model, batch["image"], feats, client.state)
            if extra is not None:
                loss = loss + extra
            opt.zero_grad(set_to_none=True)
            loss.backward()
            algo.before_step(model, client.state)
            opt.step()
            steps, total = steps + 1, total + float(loss.detach())
    extras = algo.end(model, client.state, global_state, steps, fc.lr)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if local:
        client.state["local"] = {k: state[k] for k in local}
    sent = {k: state[k] for k in algo.upload_keys(list(state), client.state)}
    return Upload(sent, client.size, steps, extras, total / max(steps, 1))


def evaluate_state(
    model: torch.nn.Module, data: Any, batch_size: int, counts: list[int] | None, limit: int | None
) -> dict[str, float]:
    """Macro/micro mAP and F1 (+ minority F1) of ``model`` on ``data``."""
    from worldclass.metrics import multilabel_metrics

    model.eval()
    ys, ss = [], []
    with torch.no_grad():
        for i, batch in enumerate(DataLoader(data, batch_size=batch_size)):
            if limit is not None and i >= limit:
                break
            logits = model(batch["image"])
            ys.append(model.targets(batch["label"]))  # type: ignore[operator]
            ss.append(model.scores(logits))  # type: ignore[operator]
    m = multilabel_metrics(torch.cat(ys), torch.cat(ss), train_counts=counts)
    return {k: float(m[k]) for k in ("map_macro", "map_micro", "f1_macro", "f1_micro", "f1_minor")}


def simulate(
    cfg: ExperimentConfig, *, resume: bool = False, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the federation of ``cfg`` (its ``federated`` section); returns ``{"rounds", "best_checkpoint",
    "best_round", "manifest"}``."""
    from worldclass.tasks import get_task

    fc = cfg.section("federated", FederatedConfig)
    task = get_task(cfg.task)
    if "federated" not in task.sections:
        raise ConfigError(f"task {cfg.task!r} has no federated training; use a classification config")
    out = Path(cfg.trainer.out)
    state_file = out / "fl_state.pt"
    if state_file.is_file() and not resume:
        raise ConfigError(
            f"{out}: holds a federated run; pass --resume to continue it or choose another trainer.out"
        )
    torch.manual_seed(cfg.trainer.seed)
    setup = task.setup(cfg)
    module: Any = setup.module
    model = module.model
    manifest = client_manifest(cfg, fc, log)
    clients = open_clients(cfg, manifest)
    if fc.min_clients > len(clients):
        raise ConfigError(
            f"federated.min_clients {fc.min_clients} > the {len(clients)} clients of {manifest}"
        )
    algo = algorithm_for(fc)
    algo.setup(model, len(clients))
    mods: dict[str, str] = {}
    if fc.modalities or fc.algorithm == "mmfl":
        from worldclass.training.federated.multimodal import assign_modalities

        mods = assign_modalities([c.name for c in clients], fc.modalities)
        log("modalities: " + ", ".join(f"{n} {m}" for n, m in mods.items()))
    val = setup.datamodule.datasets["validation"]
    counts = module.hparams["eval_counts"]
    global_state, history, best, saved = start_state(state_file, model, algo, log)
    for c in clients:
        c.state = saved.get(c.name, {})
    for c in clients:
        if mods:
            c.state["modality"] = mods[c.name]
    work = copy.deepcopy(model)
    ckpt_dir = out / "checkpoints"
    for r in range(len(history) + 1, fc.rounds + 1):
        t0 = time.perf_counter()
        sampled, rng = sample_round(len(clients), fc, cfg.trainer.seed, r)
        dropped = {i for i in sampled if rng.uniform() < fc.drop_rate}
        payload = algo.server_payload()
        bytes_down = sum(
            payload_bytes(
                {k: global_state[k] for k in algo.upload_keys(list(global_state), clients[i].state)}
            )
            + payload_bytes(payload)
            for i in sampled
        )
        uploads, bytes_up = [], 0
        per_client: dict[str, dict[str, Any]] = {}
        for i in sampled:
            c = clients[i]
            if i in dropped:
                per_client[c.name] = {"answered": False}
                continue
            tc = time.perf_counter()
            u = local_train(
                work,
                module.loss,
                c,
                algo,
                global_state,
                payload,
                fc,
                cfg.data.batch_size,
                seed=client_seed(cfg.trainer.seed, r, i),
            )
            up = payload_bytes(u.state) + payload_bytes(u.extras)
            bytes_up += up
            uploads.append(u)
            per_client[c.name] = {
                "answered": True,
                "loss": u.loss,
                "steps": u.steps,
                "seconds": time.perf_counter() - tc,
                "mb_up": up / 1e6,
            }
        if len(uploads) >= fc.min_clients:
            global_state = algo.aggregate(global_state, uploads)
            note = ""
        else:
            note = f"only {len(uploads)} of {len(sampled)} clients answered (min {fc.min_clients}): global model kept"
            log(f"round {r}: {note}")
        work.load_state_dict(algo.evaluation_state(global_state, [(c.state, c.size) for c in clients]))
        metrics = evaluate_state(work, val, cfg.data.batch_size, counts, cfg.optim.limit_val_batches)
        for i in sampled:  # the global model on each client's own validation patches
            c = clients[i]
            if c.val is not None and len(c.val):
                local_m = evaluate_state(work, c.val, cfg.data.batch_size, None, None)
                per_client[c.name].update(
                    val_map_macro=local_m["map_macro"], val_f1_macro=local_m["f1_macro"]
                )
        cum = (history[-1]["mb_total"] if history else 0.0) + (bytes_down + bytes_up) / 1e6
        row = {
            "round": r,
            "answered": len(uploads),
            "dropped": len(dropped),
            "mb_down": bytes_down / 1e6,
            "mb_up": bytes_up / 1e6,
            "mb_total": cum,
            "seconds": time.perf_counter() - t0,
            "note": note,
            "clients": per_client,
            **{f"val_{k}": v for k, v in metrics.items()},
        }
        history.append(row)
        log(
            f"round {r}/{fc.rounds}: {len(uploads)} clients, {cum:.1f} MB so far, val mAP {metrics['map_macro']:.3f}"
        )
        eval_state = {k: v.detach().clone() for k, v in work.state_dict().items()}
        if metrics["map_macro"] > best[0]:
            best = (metrics["map_macro"], r)
            save_checkpoint(ckpt_dir / "best.ckpt", module, eval_state, r)
        save_checkpoint(ckpt_dir / "last.ckpt", module, eval_state, r)
        save_state(state_file, global_state, history, best, algo, clients)
        write_history(out, history, manifest, fc)
    return {
        "rounds": history,
        "best_checkpoint": ckpt_dir / "best.ckpt",
        "best_round": best[1],
        "manifest": manifest,
    }
