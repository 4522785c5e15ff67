"""The CLI as a user meets it: help texts, commands end to end, one-line errors without traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = [
    [],
    ["encode"],
    ["stats"],
    ["splits"],
    ["synth"],
    ["synth", "bigearthnet"],
    ["demo"],
    ["al", "init"],
    ["experiment", "active"],
]


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


def test_encode_verify_stats_of_a_dfc2020_archive(dfc_root: Path, tmp_path: Path) -> None:
    store = tmp_path / "dfc.store"
    r = run("encode", str(dfc_root), str(store), "--workers", "2", "--chunk", "5")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {
        "store": str(store),
        "patches": 18,
        "encoded": 18,
        "skipped_existing": 0,
        "missing": [],
        "complete": True,
    }
    r = run("verify", str(store))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["patches"] == 18
    r = run("stats", str(store), "--split", "train", "--json")
    found = json.loads(r.stdout)
    assert (
        r.returncode == 0
        and list(found["splits"]) == ["train"]
        and len(found["band_statistics"]["bands"]) == 15
    )
    r = run("stats", str(store), "--label-scheme", "dfc-no-savanna")
    assert r.returncode == 0 and "Savanna" not in r.stdout and "B8A" in r.stdout
    r = run("splits", str(store))  # BigEarthNet-only commands refuse a triplet store in one line
    assert r.returncode == 2 and "data.dataset=sen12ms or dfc2020" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


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
        (["stats", "x", "--bogus"], "--bogus"),
        (["map", "a.ckpt", "b.tif", "--tile", "abc"], "Invalid value for '--tile'"),
    ],
)
def test_usage_errors_print_short_usage_and_exit_2(args: list[str], message: str) -> None:
    """Usage errors (typer's vendored click raises its own exception classes) are the short usage
    message and exit 2, never a traceback."""
    r = subprocess.run([sys.executable, "-m", "worldclass", *args], capture_output=True, text=True)
    assert r.returncode == 2 and message.lower() in r.stderr.lower() and r.stderr.startswith("Usage: ")
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) <= 5


#: commands whose default output is a table or text: each must offer --json
TABLE_COMMANDS = {
    ("stats",),
    ("search",),
    ("retrieval-eval",),
    ("tasks",),
    ("datasets",),
    ("experiment", "imbalance"),
    ("experiment", "active"),
    ("al", "next"),
    ("al", "report"),
    ("experiment", "noise"),
    ("config", "show"),
    ("report",),
}


def _leaf_commands() -> dict[tuple[str, ...], object]:
    import typer.main

    from worldclass.cli import app

    out: dict[tuple[str, ...], object] = {}

    def walk(cmd: object, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, (*path, name))
        else:
            out[path] = cmd

    walk(typer.main.get_command(app), ())
    return out


def test_table_commands_offer_json_and_the_rest_print_json() -> None:
    leaves = _leaf_commands()
    assert set(leaves) >= TABLE_COMMANDS
    for path, cmd in leaves.items():
        options = {o for p in cmd.params for o in getattr(p, "opts", [])}  # type: ignore[attr-defined]
        if path in TABLE_COMMANDS:
            assert "--json" in options, path
        else:  # their results are JSON lines on stdout; the source says so
            import inspect

            src = inspect.getsource(cmd.callback)  # type: ignore[attr-defined]
            assert "json.dumps" in src or path in {
                ("synth", "bigearthnet"),
                ("synth", "aerial"),
                ("synth", "sen12ms"),
                ("synth", "dfc2020"),
                ("demo",),
                ("serve",),
                ("al", "serve"),
            }, path


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    from test_reliability.harness import run_cli

    r = run_cli(["--help"], capsys)
    text = " ".join(r.out.split())
    assert r.code == 0 and "Exit codes:" in text
    for code in (
        "0 done",
        "1 output or OS error",
        "2 bad input",
        "3 incomplete store",
        "70 a worldclass bug",
        "130 Ctrl-C",
        "143 SIGTERM",
    ):
        assert code in text, code


def test_registries_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    from test_reliability.harness import run_cli
    from worldclass.datasets import list_datasets
    from worldclass.tasks import list_tasks

    tasks = json.loads(run_cli(["tasks", "--json"], capsys).out)
    assert [t["name"] for t in tasks] == list_tasks() and all(t["monitor"].startswith("val/") for t in tasks)
    datasets = json.loads(run_cli(["datasets", "--json"], capsys).out)
    assert [d["name"] for d in datasets] == list_datasets()
    (card,) = json.loads(run_cli(["datasets", "bigearthnet", "--json"], capsys).out)
    assert "BigEarthNet" in card["card"]


def test_report_command(cls_checkpoint: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from test_reliability.harness import run_cli

    run = cls_checkpoint.parents[1]
    r = run_cli(["report", str(run), "--json", "--out", str(tmp_path / "r.html")], capsys)
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    assert summary["epochs"] == len(summary["rows"]) == 1 and summary["monitor"] == "val/map_macro"
    assert (tmp_path / "r.html").read_text().count("<img") == 2
    r = run_cli(["report", str(tmp_path)], capsys)
    assert r.code == 2 and "config.json: not found" in r.err and "Traceback" not in r.err
