"""The import graph of ``src/worldclass`` follows the rule in the package docstring: each package imports
only the packages allowed for it (so there are no cycles), and Lightning stays out of inference."""

from __future__ import annotations

import ast
from pathlib import Path

import worldclass

SRC = Path(worldclass.__file__).parent
BASE = {"errors", "compat", "registry", "io"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "io": {"errors"},
    "compat": set(),
    "__init__": set(),
    "config": {"errors"},
    "registry": {"errors"},
    "data": {"config", "registry", "errors", "compat", "io"},
    "datasets": {"data", "config", *BASE},
    "metrics": {"data", "errors"},
    "losses": {"data", "errors"},
    "models": {"data", *BASE},
    "report": {"io"},
    "mapping": {"models", "data", "datasets", "metrics", "report", *BASE},
    "retrieval": {"models", "data", "datasets", "metrics", "mapping", "report", *BASE},
}
ALLOWED["tasks"] = {"config", "data", "datasets", "metrics", "losses", "models", "report", "mapping", *BASE}
ALLOWED["training"] = ALLOWED["tasks"] | {"tasks", "retrieval"}
ALLOWED["demo"] = set(ALLOWED) | {"tasks", "training"}
ALLOWED["cli"] = ALLOWED["demo"] | {"demo"}
ALLOWED["__main__"] = {"cli"}
LIGHTNING_OK = {"tasks", "training", "data/datamodule.py"}


def _imports() -> list[tuple[str, str, str]]:
    """(package, file, imported module) for every import statement, function-level ones included."""
    out = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        package = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            out += [(package, str(rel), n) for n in names]
    return out


def test_packages_import_only_what_the_rule_allows() -> None:
    bad = []
    for package, file, name in _imports():
        if name.startswith("worldclass."):
            target = name.split(".")[1]
            if target != package and target not in ALLOWED[package]:
                bad.append(f"{file} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_allowed_graph_has_no_cycles() -> None:
    seen: dict[str, int] = {}

    def visit(node: str, stack: tuple[str, ...]) -> None:
        assert node not in stack, f"cycle: {' -> '.join((*stack, node))}"
        if seen.get(node):
            return
        for dep in ALLOWED.get(node, set()) - {node}:
            visit(dep, (*stack, node))
        seen[node] = 1

    for package in ALLOWED:
        visit(package, ())


def test_lightning_stays_out_of_inference() -> None:
    bad = [
        f"{file} imports {name}"
        for package, file, name in _imports()
        if name.split(".")[0] in ("lightning", "pytorch_lightning")
        and package not in LIGHTNING_OK
        and file not in LIGHTNING_OK
    ]
    assert not bad, "\n".join(bad)
