"""The active-learning loop: learning on a controlled pool, resume without losing answers, person
answers and their checks, ANNEAL pair mode."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from active_pool import CLASSES, make_pool
from worldclass.errors import ConfigError
from worldclass.training.active import ActiveSettings, Run, init_run, run_loop, step
from worldclass.training.active.answers import import_answers
from worldclass.training.active.pairs import (
    MetricModel,
    candidate_pairs,
    contrastive,
    select_pairs,
    threshold,
)
from worldclass.training.active.run import similar


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pool(tmp_path_factory.mktemp("al") / "emb")


def _settings(pool: Path, **kw: object) -> ActiveSettings:
    base = {
        "embeddings": str(pool),
        "batch": 20,
        "budget": 80,
        "initial": 20,
        "steps": 150,
        "oracle": "simulated",
    }
    return ActiveSettings(**{**base, **kw})  # type: ignore[arg-type]


def test_the_model_learns_and_every_round_spends_one_batch(pool: Path, tmp_path: Path) -> None:
    run = init_run(tmp_path / "run", _settings(pool, strategy="entropy+kmeans"))
    history = run_loop(run)
    assert [h["annotations"] for h in history] == [20, 40, 60, 80]
    assert history[-1]["f1_macro"] > history[0]["f1_macro"] + 0.05
    state = run.state()
    assert state.pending is None and len(state.answered) == 80
    # answers are the stored labels (simulated oracle), and the history counts them
    labels = dict(zip(*_rows(pool), strict=True))
    assert all(state.answered[k] == labels[k] for k in state.answered)
    assert history[-1]["label_assignments"] == sum(len(v) for v in state.answered.values())
    with pytest.raises(ConfigError, match="budget of 80 is spent"):
        step(run)


def _rows(pool: Path) -> tuple[list[str], list[list[str]]]:
    import pyarrow.parquet as pq

    t = pq.read_table(pool / "rows.parquet")
    return t.column("patch_id").to_pylist(), t.column("labels").to_pylist()


def test_a_step_killed_half_way_is_rerun_to_the_same_result(
    pool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _settings(pool, strategy="bald", budget=60)
    whole = init_run(tmp_path / "whole", s)
    run_loop(whole)
    cut = init_run(tmp_path / "cut", s)
    step(cut)
    real_save = Run.save

    def crash(self: Run, state: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Run, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        step(Run.open(tmp_path / "cut"))  # killed before the step's commit point
    monkeypatch.setattr(Run, "save", real_save)
    assert Run.open(tmp_path / "cut").state().round == 1  # nothing of the killed step was committed
    run_loop(Run.open(tmp_path / "cut"))
    a, b = whole.state(), Run.open(tmp_path / "cut").state()
    assert a.history == b.history and list(a.answered) == list(b.answered)


def test_person_answers_survive_a_kill_between_steps(pool: Path, tmp_path: Path) -> None:
    run = init_run(tmp_path / "run", _settings(pool, oracle="person", strategy="margin"))
    batch = json.loads((run.path / "batch.json").read_text())
    keys = [it["key"] for it in batch["items"]]
    truth = dict(zip(*_rows(pool), strict=True))
    half = tmp_path / "half.csv"
    half.write_text(
        "run,round,key,answer\n" + "".join(f"{run.id},0,{k},{';'.join(truth[k]) or '-'}\n" for k in keys[:12])
    )
    assert import_answers(run, half, CLASSES) == 12
    # the process stops here; a new one finds the answers, refuses to step on a half batch ...
    again = Run.open(tmp_path / "run")
    with pytest.raises(ConfigError, match="8 of 20 items of round 0 are not answered"):
        step(again)
    assert len(again.pending_answers(again.state())) == 12
    # ... and with --partial learns from the 12, the other 8 go back to the pool
    row = step(again, partial=True)
    assert row["annotations"] == 12
    assert set(again.state().answered) == set(keys[:12])


def test_bad_answers_are_refused_whole_and_lose_nothing(pool: Path, tmp_path: Path) -> None:
    run = init_run(tmp_path / "run", _settings(pool, oracle="person"))
    keys = [it["key"] for it in json.loads((run.path / "batch.json").read_text())["items"]]
    good = tmp_path / "good.csv"
    good.write_text(f"run,round,key,answer\n{run.id},0,{keys[0]},Urban;Forest\n")
    import_answers(run, good, CLASSES)
    journal = (run.path / "answers.jsonl").read_text()
    cases = {
        "answers of run other": f"other,0,{keys[1]},Urban",
        "answers for round 3": f"{run.id},3,{keys[1]},Urban",
        "is not in the pending batch": f"{run.id},0,S2B_unknown,Urban",
        "unknown class": f"{run.id},0,{keys[1]},Urban;Mangrove",
    }
    for message, bad_row in cases.items():
        f = tmp_path / "bad.csv"
        f.write_text(f"run,round,key,answer\n{run.id},0,{keys[2]},Water\n{bad_row}\n")
        with pytest.raises(ConfigError, match=message):
            import_answers(run, f, CLASSES)
        assert (run.path / "answers.jsonl").read_text() == journal  # the good first row was not kept either
    assert run.pending_answers(run.state()) == {keys[0]: ["Urban", "Forest"]}
    with pytest.raises(ConfigError, match="larger than the pool"):
        init_run(tmp_path / "big", _settings(pool, budget=601))
    with pytest.raises(ConfigError, match="already an active-learning run"):
        init_run(tmp_path / "run", _settings(pool))


def test_cost_aware_batches_stay_within_the_round_budget(pool: Path, tmp_path: Path) -> None:
    run = init_run(
        tmp_path / "run", _settings(pool, strategy="entropy", cost_per_label=1.0, budget=200, batch=30)
    )
    h = run_loop(run, rounds=2)
    # round 0 is the random start; round 1's batch was filled up to 30 cost units by expected label count
    assert h[1]["cost"] - h[0]["cost"] <= 30 + 1e-9 + 3.0 * 6  # actual labels may exceed the expected ones
    assert h[1]["annotations"] - h[0]["annotations"] < 30  # fewer items than units: patches cost > 1


# ---- pairs (ANNEAL) --------------------------------------------------------------------------------------


def test_pair_rules_and_loss_by_hand() -> None:
    a, b = {"Urban", "Forest"}, {"Forest", "Water"}
    assert similar(a, b, "overlap") and not similar(a, b, "same") and not similar(a, b, "jaccard:0.5")
    assert similar(a, b, "jaccard:0.3")
    za = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    zb = torch.tensor([[0.0, 1.0], [0.6, 0.8]])
    d = torch.tensor([2**0.5, (0.16 + 0.64) ** 0.5])
    loss = contrastive(za, zb, torch.tensor([1.0, 0.0]), margin=1.0)
    assert loss.item() == pytest.approx(float((d[0] ** 2 + (1 - d[1]) ** 2) / 2), rel=1e-5)
    assert threshold([0.1, 0.2, 0.5, 0.6], [1, 1, 0, 0]) == pytest.approx(0.35)
    assert threshold([0.1, 0.5, 0.2, 0.6], [1, 0, 0, 1]) in (pytest.approx(0.15), pytest.approx(0.55))


def test_candidates_are_nearest_neighbours_minus_answered_pairs() -> None:
    z = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.1, 0.99], [-1, 0]], np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    pairs = candidate_pairs(z, np.array([0, 2]), 1, set())
    assert pairs.tolist() == [[0, 1], [2, 3]]
    assert candidate_pairs(z, np.array([0, 2]), 1, {(0, 1)}).tolist() == [[2, 3]]


def test_mgue_asks_for_the_pairs_nearest_the_threshold() -> None:
    m = MetricModel(2)
    m.t = 0.5
    ang = np.linspace(0, np.pi / 2, 12)
    z = np.stack([np.cos(ang), np.sin(ang)], 1).astype(np.float32)
    cand = np.array([[0, j] for j in range(1, 12)], np.int64)
    d = np.linalg.norm(z[0] - z[cand[:, 1]], axis=1)
    picked = select_pairs("mgue", 2, m, z, cand, seed=0)
    assert set(picked.tolist()) == set(np.argsort(np.abs(d - 0.5))[:2].tolist())
    assert len(select_pairs("mgue+kmeans", 3, m, z, cand, seed=0)) == 3


def test_bcgue_asks_where_the_pair_classifier_is_least_sure_and_kmeans_spreads_pairs() -> None:
    m = MetricModel(2)
    with torch.no_grad():  # a fixed classifier on [|a-b|, a*b]: logit = 10 * (0.3 - |a-b|_0), nothing else
        for layer in m.clf:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
                layer.bias.zero_()
        m.clf[0].weight[0, 0], m.clf[0].bias[0] = -10.0, 3.0
        m.clf[2].weight[0, 0] = 1.0
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 2)).astype(np.float32)
    cand = np.array([[i, j] for i in range(40) for j in range(i + 1, 40)][:300], np.int64)
    p = m.pair_probability(z, cand)
    assert np.allclose(
        p,
        1 / (1 + np.exp(-np.maximum(0, 10 * (0.3 - np.abs(z[cand[:, 0], 0] - z[cand[:, 1], 0]))))),
        atol=1e-5,
    )
    picked = select_pairs("bcgue", 5, m, z, cand, seed=0)
    assert set(picked.tolist()) == set(np.argsort(np.abs(p - 0.5), kind="stable")[:5].tolist())
    # diversity on pair representations: duplicated uncertain pairs collapse into one cluster each
    z2 = np.repeat(np.array([[0, 0], [5, 5], [10, 0], [0, 10]], np.float32), 10, axis=0)
    z2 += 0.01 * rng.normal(size=z2.shape).astype(np.float32)
    groups = np.repeat(np.arange(4), 10)
    cand2 = np.array([[i, i + 1] for i in range(0, 40, 2)], np.int64)  # 5 pairs inside each group
    m.t = 0.0
    spread = select_pairs("mgue+kmeans", 4, m, z2, cand2, seed=0, pre_factor=5)
    assert sorted(groups[cand2[spread, 0]]) == [0, 1, 2, 3]


def test_pair_mode_learns_to_ignore_a_nuisance_direction(tmp_path: Path) -> None:
    """Raw embeddings dominated by a label-free nuisance factor: answered pairs teach the metric to drop it,
    so mAP@10 rises above the raw space's (round 0 ranks exactly like the raw embeddings)."""
    emb = make_pool(tmp_path / "emb", n=500, n_test=200, dim=24, noise=0.3, seed=3, nuisance=4.0)
    s = ActiveSettings(
        embeddings=str(emb),
        mode="pairs",
        strategy="mgue+kmeans",
        batch=60,
        budget=300,
        initial=60,
        oracle="simulated",
        steps=300,
        seed=1,
    )
    run = init_run(tmp_path / "run", s)
    h = run_loop(run)
    from worldclass.training.active.loop import load_pool, retrieval_map

    p = load_pool(s)
    raw = retrieval_map(p, p.x, p.eval_x, 10)
    # the rule-aware mAP equals the BigEarthNet-protocol one when the rule is label overlap
    assert retrieval_map(p, p.x, p.eval_x, 10, "jaccard:0.000001") == pytest.approx(raw)
    assert retrieval_map(p, p.x, p.eval_x, 10, "same") < raw
    assert [r["annotations"] for r in h] == [60, 120, 180, 240, 300]
    assert h[-1]["map@10"] > raw + 0.05
    assert h[-1]["label_assignments"] > 0  # what labelling the paired images would have cost
    # answers are the overlap rule on the stored labels
    truth = dict(zip(*_rows(emb), strict=True))
    for key, ans in list(run.state().answered.items())[:20]:
        a, b = key.split("|")
        assert ans == bool(set(truth[a]) & set(truth[b]))


def test_experiment_writes_curves_subsets_and_resumes(pool: Path, tmp_path: Path) -> None:
    from worldclass.training.active.experiment import run_active_experiment

    base = _settings(pool, budget=40)
    summary = run_active_experiment(base, tmp_path / "x", ["random", "margin"], [0, 1], log=lambda m: None)
    c = summary["curves"]["random"]
    assert [p["annotations"] for p in c] == [20, 40] and all(p["seeds"] == 2 for p in c)
    rows = [
        r
        for r in _csv(tmp_path / "x" / "curves.csv")
        if r["strategy"] == "random" and r["annotations"] == "40"
    ]
    vals = [float(r["f1_macro"]) for r in rows]
    assert c[1]["mean"] == pytest.approx(np.mean(vals)) and c[1]["std"] == pytest.approx(np.std(vals, ddof=1))
    subsets = json.loads((tmp_path / "x" / "subsets.json").read_text())
    assert len(subsets["margin"]["1"]) == 40
    assert "± " in (tmp_path / "x" / "active.md").read_text()
    again = run_active_experiment(base, tmp_path / "x", ["random", "margin"], [0, 1], log=lambda m: None)
    assert again["curves"] == summary["curves"]
    changed = run_active_experiment(
        dataclasses.replace(base, budget=60), tmp_path / "x", ["random"], [0], log=lambda m: None
    )
    assert [p["annotations"] for p in changed["curves"]["random"]] == [20, 40, 60]


def _csv(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_changed_embedding_set_is_one_clear_error(tmp_path: Path) -> None:
    emb = make_pool(tmp_path / "emb", n=100, n_test=50)
    run = init_run(tmp_path / "run", _settings(emb, budget=40))
    step(run)
    make_pool(tmp_path / "emb", n=10, n_test=50)  # re-embedded with another pool: answered patches gone
    with pytest.raises(ConfigError, match="not in the pool any more"):
        step(Run.open(tmp_path / "run"))
    assert len(Run.open(tmp_path / "run").state().answered) == 20
