"""The canonical patch table shared by every source (v1, v2, rico-hdl LMDB, worldclass store).

Columns (pyarrow): ``patch_id`` str (S2 name; for S1-only v1 archives the S1 name), ``s1_name`` str|null,
``split`` str|null (``train``/``validation``/``test``), ``labels`` list<str> (19-class names, canonical
order) or null when not yet read, ``labels43`` list<str>|null, ``country`` str|null, ``tile`` str|null,
``snow`` bool, ``cloud`` bool, ``x``/``y`` float64|null (patch centre, m, in ``crs``), ``crs`` str|null.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from worldclass.errors import ConfigError

SCHEMA = pa.schema(
    [
        ("patch_id", pa.string()),
        ("s1_name", pa.string()),
        ("split", pa.string()),
        ("labels", pa.list_(pa.string())),
        ("labels43", pa.list_(pa.string())),
        ("country", pa.string()),
        ("tile", pa.string()),
        ("snow", pa.bool_()),
        ("cloud", pa.bool_()),
        ("x", pa.float64()),
        ("y", pa.float64()),
        ("crs", pa.string()),
    ]
)
SPLITS = ("train", "validation", "test")
_SPLIT_ALIASES = {"train": "train", "validation": "validation", "val": "validation", "test": "test"}


def normalize_split(split: str) -> str:
    """Canonical split name; accepts ``val`` as alias of ``validation`` and ``all``."""
    if split == "all":
        return "all"
    try:
        return _SPLIT_ALIASES[split]
    except KeyError:
        raise ConfigError(
            f"unknown split {split!r}; use one of train, validation (or val), test, all"
        ) from None


def make_table(columns: dict[str, Sequence[Any]]) -> pa.Table:
    """Build a table in :data:`SCHEMA`; missing columns are filled with nulls (False for snow/cloud)."""
    n = len(columns["patch_id"])
    arrays = []
    for field in SCHEMA:
        if field.name in columns:
            arrays.append(pa.array(list(columns[field.name]), type=field.type))
        elif field.type == pa.bool_():
            arrays.append(pa.array([False] * n, type=pa.bool_()))
        else:
            arrays.append(pa.nulls(n, type=field.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def conform(table: pa.Table) -> pa.Table:
    """Cast/complete any table with at least ``patch_id`` to :data:`SCHEMA`."""
    cols = {name: table.column(name).to_pylist() for name in table.column_names if name in SCHEMA.names}
    return make_table(cols)
