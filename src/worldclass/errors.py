"""One exception type per user mistake; the CLI turns each into one line and a non-zero exit.

Every message names the offending file/column/value and says how to fix it.
"""

from __future__ import annotations


class WorldclassError(Exception):
    """Base class for every error caused by user input (never by a bug in worldclass)."""

    exit_code = 2


class DataError(WorldclassError):
    """An archive, store or file is missing, corrupt or not in the expected layout."""


class MissingFileError(DataError):
    """A file the layout requires is absent (e.g. one band of a patch)."""


class CorruptFileError(DataError):
    """A file exists but cannot be decoded, or has the wrong size/dtype/CRS."""


class LabelError(DataError):
    """A label name or class code is not part of the nomenclature."""


class ConfigError(WorldclassError):
    """A configuration value or command-line option is invalid."""


class OutputError(WorldclassError):
    """An output could not be written (disk full, permissions, a file where a folder is expected); the
    previous output, if any, is unchanged."""

    exit_code = 1


class IncompleteStoreError(DataError):
    """A store was interrupted or failed verification; re-run `worldclass encode` to resume."""

    exit_code = 3


def unknown_name(what: str, name: object, known: list[str]) -> ConfigError:
    """One error for an unknown ``what`` (e.g. "task"), with a did-you-mean hint and the valid names."""
    import difflib

    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown {what} {name!r}{hint}; valid: {known}")
