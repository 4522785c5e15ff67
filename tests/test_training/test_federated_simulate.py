"""The in-process federation: a stopped run resumes to the same weights, traffic is the measured size of
what travels (SCAFFOLD about twice FedAvg, FedBN less), clients that drop out leave the global model as it
was when too few answer, the final checkpoint is a task checkpoint, bad inputs are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers import quick_config
from test_reliability.harness import run_cli
from worldclass.models.checkpoint import load_model, read_checkpoint
from worldclass.tasks import get_task
from worldclass.training.federated.simulate import payload_bytes, simulate

FL = ("federated.local_steps=2", "federated.lr=0.05", "federated.scheme=country")


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return dict(read_checkpoint(ckpt)["state_dict"])


def test_resume_equals_an_uninterrupted_run(v2_store: Path, tmp_path: Path) -> None:
    full = simulate(quick_config(v2_store, tmp_path / "full", *FL, "federated.rounds=2"), log=lambda s: None)
    quick = quick_config(v2_store, tmp_path / "part", *FL, "federated.rounds=1")
    simulate(quick, log=lambda s: None)
    lines: list[str] = []
    resumed = simulate(
        quick_config(v2_store, tmp_path / "part", *FL, "federated.rounds=2"), resume=True, log=lines.append
    )
    assert any("resuming after round 1" in s for s in lines)
    a, b = (
        weights(tmp_path / "full" / "checkpoints" / "last.ckpt"),
        weights(tmp_path / "part" / "checkpoints" / "last.ckpt"),
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["val_map_macro"] for r in full["rounds"]] == [r["val_map_macro"] for r in resumed["rounds"]]
    m0 = next(iter(weights(tmp_path / "full" / "checkpoints" / "last.ckpt").values()))
    assert m0.abs().sum() > 0


def test_traffic_is_the_serialised_payload(v2_store: Path, tmp_path: Path) -> None:
    res = {}
    for algo in ("fedavg", "scaffold", "fedbn"):
        cfg = quick_config(
            v2_store, tmp_path / algo, *FL, "federated.rounds=1", f"federated.algorithm={algo}"
        )
        res[algo] = simulate(cfg, log=lambda s: None)["rounds"][0]
    model, _ = load_model(tmp_path / "fedavg" / "checkpoints" / "best.ckpt")
    one = payload_bytes(model.state_dict()) / 1e6
    n = res["fedavg"]["answered"]
    assert n >= 2 and res["fedavg"]["mb_down"] == pytest.approx(n * one)
    assert res["fedavg"]["mb_up"] == pytest.approx(n * one)
    assert 1.9 < res["scaffold"]["mb_total"] / res["fedavg"]["mb_total"] < 2.05
    assert res["fedbn"]["mb_total"] < res["fedavg"]["mb_total"]
    assert (tmp_path / "fedavg" / "index.html").is_file()
    manifest = json.loads((tmp_path / "fedavg" / "clients" / "clients.json").read_text())["clients"]
    with_val = {n for n, c in manifest.items() if c["validation"]}
    assert with_val and {n for n, c in res["fedavg"]["clients"].items() if "val_map_macro" in c} == with_val
    rows = (tmp_path / "fedavg" / "rounds.csv").read_text().splitlines()
    assert rows[0].startswith("round,answered,dropped,mb_down") and len(rows) == 2
    # a task checkpoint: evaluate takes it like any other
    result = get_task("classification").evaluate(
        tmp_path / "fedavg" / "checkpoints" / "best.ckpt",
        data=None,
        split="test",
        out=None,
        options=_options(),
    )
    assert "map_macro" in result


def _options():  # type: ignore[no-untyped-def]
    from worldclass.tasks import EvalOptions

    return EvalOptions(report=False)


def test_too_few_answers_keep_the_global_model(v2_store: Path, tmp_path: Path) -> None:
    cfg = quick_config(
        v2_store,
        tmp_path / "drop",
        *FL,
        "federated.rounds=1",
        "federated.drop_rate=0.9",
        "federated.min_clients=6",
    )
    torch.manual_seed(cfg.trainer.seed)
    start = {k: v.clone() for k, v in get_task("classification").setup(cfg).module.model.state_dict().items()}
    (row,) = simulate(cfg, log=lambda s: None)["rounds"]
    assert row["dropped"] >= 1 and "global model kept" in row["note"]
    end = {k[len("model.") :]: v for k, v in weights(tmp_path / "drop" / "checkpoints" / "last.ckpt").items()}
    assert all(torch.equal(start[k], end[k]) for k in start)


def test_cli_partition_and_errors(v2_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(["fl", "partition", str(v2_store), "--out", str(tmp_path / "c"), "--json"], capsys)
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    assert Path(summary["manifest"]).is_file() and summary["non_iid"] > 0
    out = tmp_path / "run"
    sets = [
        f"data.root={v2_store}",
        f"trainer.out={out}",
        f"federated.clients={summary['manifest']}",
        "federated.rounds=1",
    ]
    sets += [
        "federated.local_steps=1",
        "model.backbone=resnet10t",
        "data.batch_size=8",
    ]
    cfg = Path(__file__).parents[2] / "configs" / "federated-reben.yaml"
    args = ["fl", "simulate", str(cfg), *(x for s in sets for x in ("--set", s))]
    r = run_cli(args, capsys)
    assert r.code == 0, r.err
    assert json.loads(r.out.strip().splitlines()[-1])["rounds"] == 1
    r = run_cli(args, capsys)
    assert r.code != 0 and "--resume" in r.err and "Traceback" not in r.err
    r = run_cli(
        [
            *args[:-2],
            "--set",
            f"federated.clients={tmp_path / 'none.json'}",
            "--set",
            f"trainer.out={tmp_path / 'r2'}",
        ],
        capsys,
    )
    assert r.code != 0 and "client manifest not found" in r.err and len(r.err.strip().splitlines()) == 1


def test_experiment_compares_with_centralised_and_local_training(v2_store: Path, tmp_path: Path) -> None:
    from worldclass.training.federated.experiment import run_federated

    cfg = quick_config(v2_store, tmp_path / "exp", *FL, "federated.rounds=1", "federated.local_steps=1")
    res = run_federated(cfg, algorithms=["fedavg"], seeds=[0], target=0.0, log=lambda s: None)
    assert list(res["variants"]) == ["fedavg", "centralised", "local-only"]
    fed = res["variants"]["fedavg"]
    assert fed["mean"]["mb_total"] > 0 and fed["to_target"] == [
        {"round": 1, "mb": fed["runs"]["0"]["mb_total"]}
    ]
    clients = json.loads((tmp_path / "exp" / "subsets.json").read_text())["clients"]
    local = [
        json.loads((tmp_path / "exp" / "local" / c / "seed0" / "result.json").read_text()) for c in clients
    ]
    assert res["variants"]["local-only"]["mean"]["map_macro"] == pytest.approx(
        sum(r["map_macro"] for r in local) / len(local)
    )
    union = (tmp_path / "exp" / "splits" / "union.csv").read_text()
    assert all(p in union for c in clients.values() for p in c["train"])
    assert set(res["cross_group"]["0"]) <= set(clients) and "| fedavg |" in res["table"]
    again = run_federated(
        cfg, algorithms=["fedavg"], seeds=[0], log=lambda s: None
    )  # read back, not retrained
    assert again["variants"]["fedavg"]["runs"] == res["variants"]["fedavg"]["runs"]


def test_a_manifest_naming_unknown_patches_is_one_line(
    v2_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from worldclass.training.federated.partition import write_manifest

    manifest = write_manifest(
        tmp_path / "c",
        {"a": ["S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_99_99"], "b": []},
        scheme="iid",
        source="x",
        seed=0,
    )
    cfg = Path(__file__).parents[2] / "configs" / "federated-reben.yaml"
    sets = [f"data.root={v2_store}", f"trainer.out={tmp_path / 'r'}", f"federated.clients={manifest}"]
    r = run_cli(["fl", "simulate", str(cfg), *(x for s in sets for x in ("--set", s))], capsys)
    assert r.code != 0 and "client a names 1 patches" in r.err and len(r.err.strip().splitlines()) == 1
