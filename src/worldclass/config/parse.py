"""YAML + ``--set key=value`` overrides -> typed, validated dataclass sections.

Every unknown key, bad choice or wrong type raises :class:`ConfigError` naming the key, with a
did-you-mean hint and the valid keys or choices. The parser knows no task: the caller hands it the
sections of the task being configured (``worldclass.tasks.load_config`` does).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from worldclass.config.sections import DataConfig, OptimConfig, TrainerConfig
from worldclass.errors import ConfigError, unknown_name

T = TypeVar("T")


@dataclass
class ExperimentConfig:
    """One run: ``task`` (a registered task name), ``name``, the common sections ``data``, ``optim``,
    ``trainer`` and the task's own sections in ``sections`` (also readable as attributes, e.g.
    ``cfg.model``)."""

    task: str = ""
    name: str = "experiment"
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    sections: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "sections":
            raise AttributeError(name)
        try:
            return self.sections[name]
        except KeyError:
            raise AttributeError(f"task {self.task!r} has no config section {name!r}") from None

    def section(self, name: str, cls: type[T]) -> T:
        """The task section ``name``, typed."""
        value = self.sections.get(name)
        if not isinstance(value, cls):
            raise ConfigError(f"task {self.task!r} has no config section {name!r} of type {cls.__name__}")
        return value

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (what checkpoints store): task, name, common and task sections."""
        out: dict[str, Any] = {"task": self.task, "name": self.name}
        for key in ("data", "optim", "trainer"):
            out[key] = dataclasses.asdict(getattr(self, key))
        for key, value in self.sections.items():
            out[key] = dataclasses.asdict(value)
        return out


def _type_name(annotation: Any) -> str:
    return str(getattr(annotation, "__name__", annotation))


def _check_type(key: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        for a in args:
            try:
                return _check_type(key, value, a)
            except ConfigError:
                continue
        raise ConfigError(f"config key {key!r}: {value!r} is not of type {annotation}")
    if annotation is type(None):
        if value is None:
            return None
        raise ConfigError(f"config key {key!r}: expected null")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"config key {key!r}: expected a list, got {value!r}")
        return [_check_type(key, v, args[0]) for v in value]
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):  # YAML 1.1 reads '3e-4' as a string
        try:
            return float(value)
        except ValueError:
            pass
    if annotation in (int, str, bool) and type(value) is annotation:
        return value
    raise ConfigError(f"config key {key!r}: {value!r} is not a {_type_name(annotation)}")


def build_section(cls: type[T], values: Mapping[str, Any], prefix: str) -> T:
    """Dataclass ``cls`` from ``values``; ``prefix`` (e.g. ``"data."``) names keys in errors."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"config key {prefix.rstrip('.')!r} must be a mapping of keys")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        full = f"{prefix}{key}"
        if key not in fields:
            raise unknown_name("config key", full, [f"{prefix}{n}" for n in fields])
        options = fields[key].metadata.get("choices")
        if isinstance(value, bool) and options is not None and {"on", "off"} <= set(options):
            value = "on" if value else "off"  # YAML 1.1 reads a bare on/off as a boolean
        kwargs[key] = _check_type(full, value, hints[key])
        if options is not None and kwargs[key] not in options:
            raise ConfigError(f"config key {full!r}: {value!r} is not valid; choose one of {list(options)}")
    return cls(**kwargs)


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {p!r} is not a section")
    node[parts[-1]] = value


def apply_overrides(tree: dict[str, Any], overrides: list[str] | None) -> None:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to ``tree`` in place."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: use key=value, e.g. --set optim.lr=3e-4")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML") from None
        _set(tree, key.strip(), value)


def read_tree(path: str | Path | None, overrides: list[str] | None) -> dict[str, Any]:
    """The raw config mapping of YAML ``path`` (optional) with ``overrides`` applied."""
    tree: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            tree = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: invalid YAML ({str(exc).splitlines()[0]})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read the config ({exc})") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"{p}: the config must be a mapping of sections")
    tree = copy.deepcopy(tree)
    apply_overrides(tree, overrides)
    return tree


def parse_experiment(
    tree: Mapping[str, Any], task: str, task_sections: Mapping[str, type]
) -> ExperimentConfig:
    """Validated :class:`ExperimentConfig` of ``task`` from a raw mapping; ``task_sections`` are the
    sections the task contributes (name -> dataclass)."""
    common: dict[str, type] = {"data": DataConfig, "optim": OptimConfig, "trainer": TrainerConfig}
    known = ["task", "name", *common, *task_sections]
    kwargs: dict[str, Any] = {"task": task}
    sections: dict[str, Any] = {}
    for key, value in tree.items():
        if key == "task":
            continue
        if key == "name":
            kwargs["name"] = _check_type("name", value, str)
        elif key in common:
            kwargs[key] = build_section(common[key], value or {}, f"{key}.")
        elif key in task_sections:
            sections[key] = build_section(task_sections[key], value or {}, f"{key}.")
        else:
            raise unknown_name(f"config section (task {task!r})", key, known)
    for key, cls in task_sections.items():
        sections.setdefault(key, cls())
    return ExperimentConfig(**kwargs, sections=sections)
