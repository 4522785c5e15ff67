"""The CLI as a user meets it: help texts, commands end to end, one-line errors without traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = [[], ["encode"], ["stats"], ["splits"], ["synth"], ["synth", "bigearthnet"], ["demo"]]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worldclass", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help(cmd: list[str]) -> None:
    r = run(*cmd, "--help")
    assert r.returncode == 0, r.stderr
    if cmd:
        assert "Example: worldclass" in r.stdout or cmd == ["synth"]


def test_synth_encode_stats_splits(tmp_path: Path) -> None:
    assert (
        run("synth", "bigearthnet", str(tmp_path / "a"), "--version", "2", "--patches", "12").returncode == 0
    )
    r = run("encode", str(tmp_path / "a"), str(tmp_path / "s"), "--workers", "0")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["complete"] is True
    r = run("stats", str(tmp_path / "s"), "--json")
    stats = json.loads(r.stdout)
    assert r.returncode == 0 and set(stats["splits"]) <= {"train", "validation", "test"}
    assert {"mean_ir", "max_ir", "cvir", "scumble", "cardinality", "irlbl"} <= set(
        next(iter(stats["splits"].values()))
    )
    r = run("splits", str(tmp_path / "s"), "--method", "random", "--out", str(tmp_path / "sp.csv"))
    assert r.returncode == 0 and (tmp_path / "sp.csv").is_file()
    leak = json.loads(r.stdout)["leak"]
    assert leak["frame"].startswith("EPSG:4978") and len(leak["pairs"]) == 6
    r = run("splits", str(tmp_path / "s"), "--method", "random", "--buffer", "--out", str(tmp_path / "b.csv"))
    rep = json.loads(r.stdout)
    assert all(v["leaked"] == 0 for v in rep["leak"]["pairs"].values())
    kept = (tmp_path / "b.csv").read_text().splitlines()[1:]
    assert (
        len(kept)
        == sum(rep["sizes"].values())
        == len((tmp_path / "sp.csv").read_text().splitlines()[1:]) - rep["dropped_by_buffer"]
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["stats", "/no/such/folder"], "does not exist"),
        (["splits", "{tmp}", "--method", "nope"], "not a BigEarthNet root"),
        (["synth", "bigearthnet", "{tmp}/x", "--version", "3"], "versions are 1 and 2"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    r = run(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert r.returncode != 0
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("cmd", [["train"], ["evaluate"], ["experiment", "imbalance"]])
def test_training_commands_help(cmd: list[str]) -> None:
    r = run(*cmd, "--help")
    assert r.returncode == 0 and "Example: worldclass" in r.stdout


def test_config_typo_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  root: x\nmodel:\n  backbon: resnet18\n")
    r = run("train", str(cfg))
    assert r.returncode == 2 and "did you mean 'model.backbone'" in r.stderr and "Traceback" not in r.stderr
    cfg.write_text("data:\n  root: x\n")
    r = run("train", str(cfg), "--set", "loss.name=softmax")
    assert r.returncode == 2 and "choose one of" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stats"], "Missing argument 'source'"),
        (["nosuch"], "No such command 'nosuch'"),
        (["stats", "x", "--bogus"], "No such option: --bogus"),
        (["map", "a.ckpt", "b.tif", "--tile", "abc"], "Invalid value for '--tile'"),
    ],
)
def test_usage_errors_print_short_usage_and_exit_2(args: list[str], message: str) -> None:
    """Usage errors (typer's vendored click raises its own exception classes) are the short usage
    message and exit 2, never a traceback."""
    r = subprocess.run([sys.executable, "-m", "worldclass", *args], capture_output=True, text=True)
    assert r.returncode == 2 and message in r.stderr and r.stderr.startswith("Usage: ")
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) <= 5
