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


class IncompleteStoreError(DataError):
    """A store was interrupted or failed verification; re-run `worldclass encode` to resume."""

    exit_code = 3
