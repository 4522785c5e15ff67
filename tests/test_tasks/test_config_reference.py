"""`worldclass config show` and docs/configuration.md list exactly the keys the parser accepts, each with
its help, type and default; `config check` validates a file without training."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from worldclass.config.schema import markdown, settings
from worldclass.tasks import get_task, list_tasks, load_config

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"


def _flat(tree: dict[str, object], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in tree.items():
        if isinstance(value, dict) and not prefix:
            keys |= _flat(value, f"{key}.")
        elif prefix:
            keys.add(prefix + key)
    return keys


def _base(task: str) -> list[str]:
    """The keys a task needs set away from their defaults (data.root; scene data for segmentation)."""
    kinds = get_task(task).dataset_kinds
    scenes = (
        ["data.dataset=scenes", "data.classes=[background, building]"] if "multilabel" not in kinds else []
    )
    return [f"task={task}", "data.root=/x", *scenes]


@pytest.mark.parametrize("task", list_tasks())
def test_every_key_is_listed_with_help_and_its_default_parses(task: str) -> None:
    rows = settings(get_task(task).sections)
    base = _base(task)
    parsed = load_config(None, base)
    assert {r.key for r in rows} == _flat(parsed.to_dict())  # nothing missing, nothing invented
    assert all(r.help and "\n" not in r.help for r in rows), [r.key for r in rows if not r.help]
    fixed = {b.split("=")[0] for b in base}
    for r in rows:  # the listed default is a value the parser accepts, and it is the real default
        section, name = r.key.split(".")
        assert getattr(getattr(load_config(None, base), section), name) == r.default or r.key in fixed, r.key
        if r.key in fixed:
            continue
        value = yaml.safe_dump(r.default, default_flow_style=True).strip().removesuffix("...").strip()
        cfg = load_config(None, [*base, f"{r.key}={value}"])
        assert getattr(getattr(cfg, section), name) == r.default, r.key
        if r.choices:
            assert r.default in r.choices


def test_the_reference_page_is_current() -> None:
    expected = markdown({name: get_task(name).sections for name in list_tasks()})
    assert DOCS.read_text() == expected, (
        "regenerate: worldclass config show --markdown > docs/configuration.md"
    )


def test_config_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from worldclass.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["worldclass", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        out = capsys.readouterr()
        return int(exit_.value.code or 0), out.out, out.err

    code, out, _ = run("config", "show", "segmentation", "--json")
    rows = json.loads(out)
    assert code == 0 and {"model.arch", "loss.name", "optim.lr"} <= {r["key"] for r in rows}
    good = tmp_path / "c.yaml"
    good.write_text("data:\n  root: /data/store\noptim:\n  lr: 3.0e-4\n")
    code, out, _ = run("config", "check", str(good), "--set", "optim.max_epochs=7")
    assert code == 0 and json.loads(out)["optim"] == {**json.loads(out)["optim"], "lr": 3e-4, "max_epochs": 7}
    good.write_text("data:\n  root: /data/store\noptim:\n  lr: -1\n")
    code, _, err = run("config", "check", str(good))
    assert code == 2 and err.startswith("error: ") and "optim.lr" in err and err.count("\n") == 1
