"""Things found by name (tasks, datasets, models): one small registry type shared by all of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from worldclass.errors import unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (``what``, e.g. "task"); ``load`` imports the built-in entries on first
    use, so importing a registry stays cheap."""

    def __init__(self, what: str, load: Callable[[], None]) -> None:
        self.what, self._load, self._loaded = what, load, False
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def add(self, name: str, item: T, aliases: Sequence[str] = ()) -> None:
        """Register ``item`` under ``name`` (and ``aliases``); a second, different item is refused."""
        if (
            name in self._items
            and self._items[name] is not item
            and type(self._items[name]) is not type(item)
        ):
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self._items[name] = item
        for alias in aliases:
            self._aliases[alias] = name

    def _ensure(self) -> None:
        if not self._loaded:
            self._loaded = True
            self._load()

    def names(self) -> list[str]:
        """Every registered name, sorted (aliases not included)."""
        self._ensure()
        return sorted(self._items)

    def get(self, name: str) -> T:
        """The entry ``name`` (or an alias of it); a did-you-mean error otherwise."""
        self._ensure()
        key = self._aliases.get(name, name)
        if key not in self._items:
            raise unknown_name(self.what, name, sorted(self._items))
        return self._items[key]


def lazy_attributes(where: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``name`` from module ``where[name]`` on first access, so a
    package can re-export heavy classes without importing them up front."""

    def __getattr__(name: str) -> object:
        if name in where:
            import importlib

            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(name)

    return __getattr__
