"""The pool-based loop: fit on what is answered -> evaluate -> score the pool -> propose the next batch.

The pool is one split of an embedding set written by `worldclass embed` (any registered classification or
self-supervised model; rows of one sensor), evaluation another split of it. Every step is one
transaction: answers of the pending batch come from the journal, the model is refitted from scratch with a
seed of (run seed, round), and ``state.json`` is replaced only at the end, so a step killed half-way is
simply run again and gives the same result, and no answer is lost (:mod:`worldclass.training.active.run`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from worldclass.errors import ConfigError
from worldclass.io import atomic_open, atomic_path
from worldclass.training.active.learners import HeadLearner, HeadSettings
from worldclass.training.active.pairs import MetricModel, candidate_pairs, select_pairs
from worldclass.training.active.run import ActiveSettings, Run, State, pair_key, similar
from worldclass.training.active.strategies import fill_cost, select
from worldclass.training.active.task_learner import TaskLearner


@dataclass
class Pool:
    """``ids`` (N) pool patch ids, ``x`` (N, D) embeddings (labels mode: standardised per dimension with the
    pool's mean and std; pairs mode: the stored unit vectors), ``y`` (N, C) labels stored with the embeddings
    (the simulated oracle's truth; all False when the pool is unlabelled), the evaluation rows likewise."""

    ids: list[str]
    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.bool_]
    eval_ids: list[str]
    eval_x: npt.NDArray[np.float32]
    eval_y: npt.NDArray[np.bool_]
    classes: list[str]
    split_of: dict[str, str]  # every row of the sensor (all splits): patch_id -> split

    def row(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.ids)}

    def names(self, i: int) -> list[str]:
        """Stored class names of pool row ``i``, in class order."""
        return [c for c, v in zip(self.classes, self.y[i], strict=True) if v]


def load_pool(s: ActiveSettings) -> Pool:
    from worldclass.retrieval.embeddings import Embeddings

    emb = Embeddings.open(s.embeddings)
    sensors = sorted(set(emb.rows.column("sensor").to_pylist()))
    sensor = s.sensor or (sensors[0] if len(sensors) == 1 else None)
    if sensor is None or sensor not in sensors:
        raise ConfigError(f"{emb.path}: pass --sensor, one of {sensors} (the pool is one sensor's rows)")
    if not emb.classes:
        raise ConfigError(f"{emb.path}: the embedding set names no classes; embed an archive with labels")
    parts = []
    for split in (s.pool_split, s.eval_split):
        rows = emb.select(sensor=sensor, split=split)
        if len(rows) == 0:
            raise ConfigError(
                f"{emb.path}: no {sensor} rows in split {split!r}; choose --pool-split/--eval-split"
            )
        parts.append(
            (
                emb.rows.column("patch_id").take(rows).to_pylist(),
                np.asarray(emb.vectors[rows]),
                emb.multi_hot(rows),
            )
        )
    (ids, x, y), (eids, ex, ey) = parts
    if s.mode == "labels":  # z-scores with the pool's own (label-free) statistics: the head fits far better
        mu, sd = x.mean(0), x.std(0) + 1e-6
        x, ex = ((x - mu) / sd).astype(np.float32), ((ex - mu) / sd).astype(np.float32)
    rows = emb.select(sensor=sensor)
    split_of = dict(
        zip(
            emb.rows.column("patch_id").take(rows).to_pylist(),
            emb.rows.column("split").take(rows).to_pylist(),
            strict=True,
        )
    )
    return Pool(ids, x, y, eids, ex, ey, emb.classes, split_of)


def init_run(path: str | Path, s: ActiveSettings, *, overwrite: bool = False) -> Run:
    """Create ``path`` and propose round 0: ``initial`` random patches (or random candidate pairs)."""
    s.check()
    pool = load_pool(s)
    capacity = len(pool.ids) if s.mode == "labels" else len(pool.ids) * (len(pool.ids) - 1) // 2
    if s.budget > capacity:
        raise ConfigError(
            f"--budget {s.budget} is larger than the pool ({capacity} {'patches' if s.mode == 'labels' else 'pairs'} in {s.embeddings})"
        )
    run = Run.create(path, s, overwrite=overwrite)
    state = State(run=run.id)
    if s.mode == "labels":
        rows = np.random.default_rng(s.seed).permutation(len(pool.ids))[: s.initial]
        keys = [pool.ids[i] for i in rows]
    else:
        keys = _propose_pairs(
            s, pool, MetricModel(pool.x.shape[1], _head(s)), set(), s.initial, "random", seed=s.seed
        )
    state.pending = {"round": 0, "items": keys}
    run.save(state)
    run.write_batch(state, batch_extra(pool))
    return run


def _head(s: ActiveSettings) -> HeadSettings:
    return HeadSettings(hidden=s.hidden, dropout=s.dropout, steps=s.steps)


def batch_extra(pool: Pool, suggestions: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """What a person needs beside the keys: class names and model suggestions (labels mode)."""
    return {"classes": pool.classes, "suggestions": suggestions or {}}


def simulated_answer(pool: Pool, where: dict[str, int], key: str, s: ActiveSettings) -> Any:
    if s.mode == "labels":
        return pool.names(where[key])
    a, b = key.split("|")
    return similar(set(pool.names(where[a])), set(pool.names(where[b])), s.rule)


def seed_of(s: ActiveSettings, round_: int) -> int:
    return s.seed * 10007 + round_


def step(run: Run, *, partial: bool = False, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Absorb the pending batch's answers (asking the simulated oracle for missing ones when the run uses
    it), refit, evaluate and propose the next batch. Returns the history row of this step."""
    s = run.settings
    state = run.state()
    if state.pending is None:
        raise ConfigError(
            f"{run.path}: the budget of {s.budget} is spent; nothing left to do (see history.csv)"
        )
    pool = load_pool(s)
    where = pool.row()
    images = {p for k in [*state.answered, *state.pending["items"]] for p in k.split("|")}
    gone = sorted(images - set(where))
    if gone:
        raise ConfigError(
            f"{s.embeddings}: {len(gone)} patches of this run (e.g. {gone[0]}) are not in the pool any more; the "
            "embedding set changed since `al init`: restore it or start a new run"
        )
    given = run.pending_answers(state)
    missing = [k for k in state.pending["items"] if k not in given]
    if missing and s.oracle == "simulated":
        answers = [
            {
                "round": state.pending["round"],
                "key": k,
                "answer": simulated_answer(pool, where, k, s),
                "by": "oracle",
            }
            for k in missing
        ]
        run.record(answers)
        given.update({a["key"]: a["answer"] for a in answers})
        missing = []
    if missing and not partial:
        raise ConfigError(
            f"{run.path}: {len(missing)} of {len(state.pending['items'])} items of round {state.pending['round']} are not answered "
            "(`worldclass al serve` or `al answer`); pass --partial to put them back into the pool"
        )
    if not given:
        raise ConfigError(
            f"{run.path}: no answer for round {state.pending['round']} yet; answer some items first"
        )
    state.answered.update(given)
    round_ = state.pending["round"]
    seed = seed_of(s, round_)
    if s.mode == "labels":
        row, model, scored = _fit_labels(s, pool, where, state, round_, seed, run.path)
    else:
        row, model, scored = _fit_pairs(s, pool, where, state, seed)
    row = {"round": round_, **_spent(s, pool, where, state), **row}
    state.history.append(row)
    left = s.budget - row["cost"]
    state.round = round_ + 1
    state.pending = None
    if left >= 1:
        keys, extra = scored(int(left))
        if keys:
            state.pending = {"round": round_ + 1, "items": keys}
    with atomic_path(run.path / "model.pt") as tmp:
        torch.save(model.state_dict(), tmp)
    run.save(state)  # the commit point of the step
    write_history(run.path / "history.csv", state.history)
    if state.pending is not None:
        run.write_batch(state, extra)
    if log:
        log(
            f"[al] round {round_}: {row['annotations']} answered, cost {row['cost']:g}, "
            + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k.startswith(("f1_", "map")))
        )
    return row


def _spent(s: ActiveSettings, pool: Pool, where: dict[str, int], state: State) -> dict[str, Any]:
    """Annotation counts: items, cost units, and label assignments (labels: labels given; pairs: the labels
    the distinct images of the answered pairs carry, i.e. what labelling them instead would have cost)."""
    if s.mode == "labels":
        assignments = sum(len(a) for a in state.answered.values())
        cost = sum(1 + s.cost_per_label * len(a) for a in state.answered.values())
    else:
        images = {p for k in state.answered for p in k.split("|")}
        assignments = int(sum(pool.y[where[p]].sum() for p in images if p in where))
        cost = float(len(state.answered))
    return {"annotations": len(state.answered), "cost": float(cost), "label_assignments": int(assignments)}


def _fit_labels(
    s: ActiveSettings, pool: Pool, where: dict[str, int], state: State, round_: int, seed: int, out: Path
) -> tuple[dict[str, Any], Any, Any]:
    from worldclass.metrics.multilabel import multilabel_metrics

    rows = np.array([where[k] for k in state.answered], np.int64)
    y = np.zeros((len(rows), len(pool.classes)), bool)
    index = {c: i for i, c in enumerate(pool.classes)}
    for i, ans in enumerate(state.answered.values()):
        y[i, [index[c] for c in ans]] = True
    learner: Any
    if s.learner == "task":
        assert s.config is not None
        learner = TaskLearner(s.config, s.overrides, out / "task", pool.split_of)
        learner.fit(dict(state.answered), round_, seed)
        eval_probs = learner.predict(pool.eval_ids)

        def probs_of(free: npt.NDArray[np.int64]) -> Any:
            return learner.predict([pool.ids[i] for i in free])

        def mc_of(free: npt.NDArray[np.int64]) -> Any:
            return learner.predict_mc([pool.ids[i] for i in free], s.mc_passes, seed)
    else:
        learner = HeadLearner(pool.x.shape[1], len(pool.classes), _head(s))
        learner.fit(pool.x[rows], y, seed)
        eval_probs = learner.predict(pool.eval_x)

        def probs_of(free: npt.NDArray[np.int64]) -> Any:
            return learner.predict(pool.x[free])

        def mc_of(free: npt.NDArray[np.int64]) -> Any:
            return learner.predict_mc(pool.x[free], s.mc_passes, seed)

    m = multilabel_metrics(pool.eval_y, eval_probs)
    row: dict[str, Any] = {k: float(m[k]) for k in ("f1_macro", "f1_micro", "map_macro")}

    def scored(left: int) -> tuple[list[str], dict[str, Any]]:
        free = np.setdiff1d(np.arange(len(pool.ids)), rows)
        if len(free) == 0:
            return [], {}
        probs = probs_of(free)
        mc = mc_of(free) if "bald" in s.strategy else None
        k = min(s.batch, left)
        cost = 1 + s.cost_per_label * probs.sum(1)
        want = k if s.cost_per_label == 0 else min(len(free), 4 * k)
        order = select(
            s.strategy,
            want,
            seed=seed,
            probs=probs,
            mc=mc,
            features=pool.x[free],
            labelled=pool.x[rows],
            pre_factor=s.pre_factor,
        )
        if s.cost_per_label > 0:
            order = fill_cost(order, cost, k)
        keys = [pool.ids[free[i]] for i in order]
        sugg = {
            pool.ids[free[i]]: [c for c, p in zip(pool.classes, probs[i], strict=True) if p >= 0.5]
            for i in order
        }
        return keys, batch_extra(pool, sugg)

    return row, learner, scored


def _propose_pairs(
    s: ActiveSettings,
    pool: Pool,
    model: MetricModel,
    answered: set[tuple[int, int]],
    k: int,
    strategy: str,
    seed: int,
    z: npt.NDArray[np.float32] | None = None,
) -> list[str]:
    """``k`` pairs to ask; ``z``: the pool already embedded by ``model`` (computed when not given)."""
    z = model.embed(pool.x) if z is None else z
    rng = np.random.default_rng(seed)
    anchors = np.sort(rng.permutation(len(pool.ids))[: s.anchors]).astype(np.int64)
    cand = candidate_pairs(z, anchors, s.neighbours, answered)
    chosen = cand[select_pairs(strategy, k, model, z, cand, seed, s.pre_factor)]
    return [pair_key(pool.ids[a], pool.ids[b]) for a, b in chosen]


def retrieval_map(
    pool: Pool,
    z_pool: npt.NDArray[np.float32],
    z_eval: npt.NDArray[np.float32],
    k: int,
    rule: str = "overlap",
) -> float:
    """mAP@k of the evaluation rows as queries against the whole pool, cosine in the given spaces; a result
    is relevant when the pair ``rule`` calls it similar (``overlap``: the BigEarthNet protocol)."""
    import faiss

    from worldclass.metrics.retrieval import average_precision_at_k, retrieval_metrics

    index = faiss.IndexFlatIP(z_pool.shape[1])
    index.add(np.ascontiguousarray(z_pool, np.float32))
    _, idx = index.search(np.ascontiguousarray(z_eval, np.float32), k)
    if rule == "overlap":
        return float(retrieval_metrics(pool.eval_y, pool.y[idx])["map"])
    names = np.array(pool.classes)
    rel = [
        [similar(set(names[q]), set(names[pool.y[j]]), rule) for j in row]
        for q, row in zip(pool.eval_y, idx, strict=True)
    ]
    return float(average_precision_at_k(rel).mean())


def _fit_pairs(
    s: ActiveSettings, pool: Pool, where: dict[str, int], state: State, seed: int
) -> tuple[dict[str, Any], Any, Any]:
    keys = list(state.answered)
    pairs = np.array([[where[p] for p in k.split("|")] for k in keys], np.int64).reshape(-1, 2)
    sim = np.array([bool(state.answered[k]) for k in keys], bool)
    model = MetricModel(pool.x.shape[1], _head(s))
    model.fit(pool.x, pairs, sim, seed)
    z = model.embed(pool.x)  # once: scored here and searched for candidates below
    m = retrieval_map(pool, z, model.embed(pool.eval_x), s.k, s.rule)
    row = {f"map@{s.k}": m, "threshold": model.t, "similar_share": float(sim.mean()) if len(sim) else 0.0}
    done = {(int(min(a, b)), int(max(a, b))) for a, b in pairs}

    def scored(left: int) -> tuple[list[str], dict[str, Any]]:
        keys = _propose_pairs(s, pool, model, done, min(s.batch, left), s.strategy, seed, z)
        return keys, batch_extra(pool)

    return row, model, scored


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    """Rows as CSV (atomically), columns in order of first appearance (rows may lack some)."""
    cols: list[str] = []
    for r in history:
        cols += [c for c in r if c not in cols]
    with atomic_open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(history)


def run_loop(
    run: Run, *, rounds: int | None = None, log: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Steps until the budget is spent (or ``rounds`` steps); needs the simulated oracle or answers."""
    done = 0
    while run.state().pending is not None and (rounds is None or done < rounds):
        step(run, log=log)
        done += 1
    return run.state().history
