"""A real Flower federation on localhost: a SuperLink and SuperNodes as separate processes, each client
with its own archive; the server process tree never touches a data file (its file system calls are
traced), a client with a broken archive is left out with one line on both sides, and the result is a
task checkpoint."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("flwr")

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def archive(tmp: Path, seed: int) -> Path:
    from worldclass.data.encode import encode
    from worldclass.data.synth.bigearthnet import synth_bigearthnet

    raw = tmp / f"raw{seed}"
    synth_bigearthnet(raw, patches=40, seed=seed)
    out = tmp / f"client{seed}" / "store"
    encode(raw, out, workers=0)
    shutil.rmtree(raw)
    return out


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


@pytest.mark.slow
def test_superlink_and_supernodes_run_two_rounds_without_the_server_opening_data(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    from worldclass.models.checkpoint import load_model
    from worldclass.tasks import load_config
    from worldclass.training.federated.flower import write_app

    stores = [archive(tmp_path, 1), archive(tmp_path, 2)]
    home = tmp_path / "flwr-home"
    home.mkdir()
    link = free_port()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "local"\n\n[superlink.local]\naddress = "127.0.0.1:{link}"\ninsecure = true\n'
    )
    env = {**os.environ, "FLWR_HOME": str(home), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    cfg = load_config(
        None,
        [
            "data.bands=s2-10",
            "data.batch_size=8",
            "model.backbone=resnet10t",
            "federated.local_steps=2",
            "federated.rounds=2",
            "federated.timeout=240",
        ],
        need_root=False,
    )
    run = tmp_path / "run"
    write_app(tmp_path / "app", cfg, run_out=run, nodes=3, wait_seconds=120)
    traced = shutil.which("strace") is not None

    def start(cmd: list[str], log: Path, trace: Path | None = None) -> None:
        if trace is not None and traced:
            cmd = [
                "strace",
                "-f",
                "--seccomp-bpf",
                "-qq",
                "-e",
                "trace=open,openat,openat2",
                "-o",
                str(trace),
                *cmd,
            ]
        processes.append(
            subprocess.Popen(
                cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        )

    start(
        [
            str(BIN / "flower-superlink"),
            "--insecure",
            "--disable-runtime-dependency-installation",
            "--port",
            str(link),
        ],
        tmp_path / "superlink.log",
        tmp_path / "superlink.trace",
    )
    time.sleep(3)
    nodes = [(stores[0], "A"), (stores[1], "B"), (tmp_path / "no-such-archive", "broken")]
    for i, (data, name) in enumerate(nodes):
        start(
            [
                str(BIN / "flower-supernode"),
                "--insecure",
                "--superlink",
                f"127.0.0.1:{link}",
                "--port",
                str(free_port()),
                "--node-config",
                f'data="{data}" name="{name}"',
            ],
            tmp_path / f"node{i}.log",
        )
    r = subprocess.run(
        [str(BIN / "flwr"), "run", str(tmp_path / "app"), "local", "--stream"],
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    # the broken client: one line on its side, left out on the server's, the federation went on
    assert "worldclass client: " in (tmp_path / "node2.log").read_text()
    assert "left out" in out and "clients: A (" in out and "round 2/2: 2 clients" in out
    rows = (run / "rounds.csv").read_text().splitlines()
    assert len(rows) == 3 and all(row.split(",")[1] == "2" for row in rows[1:])
    model, meta = load_model(run / "checkpoints" / "best.ckpt")
    assert meta.bands[:2] == ["B02", "B03"] and sum(p.numel() for p in model.parameters()) > 0
    for s in stores:  # no client path reached the server's outputs either
        for f in (run / "fl.json", run / "checkpoints" / "best.ckpt"):
            assert str(s.parent).encode() not in f.read_bytes()
    if traced:
        server = (tmp_path / "superlink.trace").read_text()
        # the trace covers the ServerApp's process and shows the files it opened (its run folder) ...
        assert str(run / "checkpoints") in server
        for s in stores:  # ... and no client's archive
            assert str(s.parent) not in server


def test_flower_simulation_engine_trains_like_the_local_simulator(v2_store: Path, tmp_path: Path) -> None:
    """The same federation on Flower's simulation engine (Ray, ClientApps in worker processes) and in
    one process ends with the same global weights and traffic: both engines run the same client code."""
    pytest.importorskip("ray")
    from helpers import quick_config
    from worldclass.models.checkpoint import read_checkpoint
    from worldclass.training.federated.flower import simulate_flower
    from worldclass.training.federated.simulate import simulate

    fl = ["federated.local_steps=2", "federated.rounds=2", "federated.scheme=iid", "federated.num_clients=2"]
    local = simulate(
        quick_config(v2_store, tmp_path / "local", *fl, "federated.algorithm=scaffold"), log=lambda s: None
    )
    lines: list[str] = []
    flower = simulate_flower(
        quick_config(
            v2_store,
            tmp_path / "flower",
            *fl,
            "federated.algorithm=scaffold",
            f"federated.clients={local['manifest']}",
        ),
        log=lines.append,
    )
    a = read_checkpoint(tmp_path / "local" / "checkpoints" / "last.ckpt")["state_dict"]
    b = read_checkpoint(tmp_path / "flower" / "checkpoints" / "last.ckpt")["state_dict"]
    assert a.keys() == b.keys()
    assert max(float((a[k].double() - b[k].double()).abs().max()) for k in a) < 1e-5
    assert [r["mb_total"] for r in local["rounds"]] == pytest.approx(
        [r["mb_total"] for r in flower["rounds"]]
    )
    assert [r["answered"] for r in flower["rounds"]] == [2, 2]


def test_clients_with_other_bands_or_classes_are_left_out_on_both_sides() -> None:
    from types import SimpleNamespace

    from worldclass.errors import DataError
    from worldclass.training.federated.flower_client import _check_model
    from worldclass.training.federated.flower_server import Member, consistent

    info = {"bands": ["B02", "B03"], "classes": ["a", "b"], "n_train": 3}
    members = [
        Member(1, "A", info),
        Member(2, "B", {**info, "bands": ["B02"]}),
        Member(3, "C", {**info, "classes": ["a"]}),
        Member(4, "D", dict(info)),
    ]
    kept, notes = consistent(members)
    assert [m.name for m in kept] == ["A", "D"]
    assert len(notes) == 2 and "client B: bands" in notes[0] and "client C: classes" in notes[1]
    node = SimpleNamespace(name="B", bands=["B02"], classes=["a", "b"])
    with pytest.raises(DataError, match="client B: its archive has the bands"):
        _check_model(node, info)  # type: ignore[arg-type]
    _check_model(SimpleNamespace(name="A", **{k: info[k] for k in ("bands", "classes")}), info)  # type: ignore[arg-type]


def test_a_stopped_flower_server_resumes_to_the_same_weights(v2_store: Path, tmp_path: Path) -> None:
    """One round, stop, resume to two (run config resume): the weights of an uninterrupted two-round
    run of the in-process simulator (FedAvg: the clients keep no state between rounds)."""
    pytest.importorskip("ray")
    from helpers import quick_config
    from worldclass.models.checkpoint import read_checkpoint
    from worldclass.training.federated.flower import simulate_flower
    from worldclass.training.federated.simulate import simulate

    fl = ["federated.local_steps=2", "federated.scheme=iid", "federated.num_clients=2"]
    full = simulate(quick_config(v2_store, tmp_path / "full", *fl, "federated.rounds=2"), log=lambda s: None)
    part = [*fl, f"federated.clients={full['manifest']}"]
    simulate_flower(
        quick_config(v2_store, tmp_path / "part", *part, "federated.rounds=1"), log=lambda s: None
    )
    with pytest.raises(Exception, match="resume"):  # a finished run is not overwritten by accident
        simulate_flower(
            quick_config(v2_store, tmp_path / "part", *part, "federated.rounds=2"), log=lambda s: None
        )
    res = simulate_flower(
        quick_config(v2_store, tmp_path / "part", *part, "federated.rounds=2"),
        resume=True,
        log=lambda s: None,
    )
    assert [r["round"] for r in res["rounds"]] == [1, 2]
    a = read_checkpoint(tmp_path / "full" / "checkpoints" / "last.ckpt")["state_dict"]
    b = read_checkpoint(tmp_path / "part" / "checkpoints" / "last.ckpt")["state_dict"]
    assert max(float((a[k].double() - b[k].double()).abs().max()) for k in a) < 1e-5
