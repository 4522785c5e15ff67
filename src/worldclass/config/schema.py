"""Every config key, generated from the section dataclasses (so it cannot drift from what the parser
accepts): dotted key, type, default, valid choices and the one-line help each field declares.

``worldclass config show TASK`` prints it; ``docs/configuration.md`` is :func:`markdown` of every task
(``tests/test_tasks/test_config_reference.py`` checks that the file is current and that every key has its help).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from worldclass.config.sections import DataConfig, OptimConfig, TrainerConfig

COMMON: dict[str, type] = {"data": DataConfig, "optim": OptimConfig, "trainer": TrainerConfig}


@dataclass(frozen=True)
class Setting:
    """One key: ``key`` dotted (``optim.lr``), ``type`` as written in the schema, ``default`` (JSON-able),
    ``choices`` (empty: any value of the type), ``help`` (one line), ``path`` (an input path: relative
    ones are resolved against the folder of the config file that sets them)."""

    key: str
    type: str
    default: Any
    choices: tuple[Any, ...]
    help: str
    path: bool = False


def _type_text(annotation: Any) -> str:
    text = str(annotation) if not isinstance(annotation, type) else annotation.__name__
    return text.replace("typing.", "").replace("NoneType", "None")


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def settings(sections: Mapping[str, type]) -> list[Setting]:
    """The settings of the common sections followed by ``sections`` (name -> dataclass), in field order."""
    out = []
    for name, cls in {**COMMON, **sections}.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            out.append(
                Setting(
                    key=f"{name}.{f.name}",
                    type=_type_text(hints[f.name]),
                    default=_default(f),
                    choices=tuple(f.metadata.get("choices", ())),
                    help=str(f.metadata.get("help", "")),
                    path=bool(f.metadata.get("path", False)),
                )
            )
    return out


def table(rows: list[Setting]) -> str:
    """Aligned plain-text listing: key, type, default, help (+ choices)."""
    cells = [(r.key, r.type, json.dumps(r.default)) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    lines = []
    for r, c in zip(rows, cells, strict=True):
        extra = f" [{' | '.join(map(str, r.choices))}]" if r.choices else ""
        extra += " (path: relative to the config file)" if r.path else ""
        lines.append("  ".join(f"{v:<{w}}" for v, w in zip(c, widths, strict=True)) + f"  {r.help}{extra}")
    return "\n".join(lines)


def as_json(rows: list[Setting]) -> str:
    return json.dumps([dataclasses.asdict(r) for r in rows], indent=1)


def markdown(tasks: Mapping[str, Mapping[str, type]]) -> str:
    """``docs/configuration.md``: the common sections once, then each task's own sections."""
    parts = [
        "# Configuration reference",
        "",
        "Generated from the config schema by `worldclass config show --markdown`; do not edit by hand.",
        "Every key can be set in the YAML file (`section: {key: value}`) or with `--set section.key=value`.",
        "Input paths (marked *path*) written in a config file are relative to that file's folder; given with",
        "`--set` they are relative to the working folder, like `trainer.out` always is.",
        "`worldclass train CONFIG --smoke` shrinks any recipe to a run of a minute or two (see the README).",
        "",
        "## Common sections (every task)",
        "",
        _md_rows(settings({})),
    ]
    for task, sections in tasks.items():
        own = [s for s in settings(sections) if s.key.split(".")[0] not in COMMON]
        parts += ["", f"## Task `{task}`", "", _md_rows(own) if own else "(no sections of its own)"]
    return "\n".join(parts) + "\n"


def _md_rows(rows: list[Setting]) -> str:
    head = "| key | type | default | help |\n|---|---|---|---|"
    body = []
    for r in rows:
        extra = f". One of: {', '.join(f'`{c}`' for c in r.choices)}." if r.choices else ""
        extra += " *path*" if r.path else ""
        cell = r.type.replace("|", "\\|")
        body.append(f"| `{r.key}` | {cell} | `{json.dumps(r.default)}` | {r.help}{extra} |")
    return "\n".join([head, *body])
