"""Clients of a federation from an archive's patch table, and their stored manifests.

Schemes (over the patches of the ``train`` split; validation and test stay with whoever evaluates):

- ``country``: one client per country (BigEarthNet's natural decentralisation, medium non-IID);
- ``country-season``: one client per country × season of the S2 acquisition (high non-IID); seasons by
  month: winter DJF, spring MAM, summer JJA, autumn SON;
- ``iid``: ``clients`` random equal shares (low non-IID);
- ``dirichlet``: per class, the patches whose rarest label is that class are spread over ``clients`` by
  proportions drawn from Dir(``alpha``) (small alpha: strong label skew).

A manifest (``clients.json``) names, per client, its training and local-validation patch ids
(``val_share`` of each client's patches, drawn seeded); ``client_splits`` writes the ``patch_id,split``
file a client's run reads as ``data.splits``, so each client opens only its own patches. Non-IID measure:
the mean over clients of the Jensen-Shannon divergence (base 2, in [0, 1]) between the client's label
distribution (share of each class among all its label occurrences) and the federation's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from worldclass.data.bigearthnet.naming import acquisition_season
from worldclass.errors import ConfigError, DataError
from worldclass.io import write_json_atomic

SCHEMES = ("country", "country-season", "iid", "dirichlet")
season_of = acquisition_season


def partition(
    table: pa.Table,
    classes: Sequence[str],
    scheme: str,
    *,
    clients: int = 5,
    alpha: float = 0.5,
    seed: int = 0,
) -> dict[str, list[str]]:
    """``{client name: patch ids}`` of the train split of ``table`` (canonical patch table) by ``scheme``;
    clients with no patch are left out; ids keep the table's order."""
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown partition scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    split = table.column("split").to_pylist()
    train = [i for i, s in enumerate(split) if s == "train"]
    if not train:
        raise DataError(
            "the archive has no train split to partition; assign splits first (`worldclass splits`)"
        )
    ids = [str(table.column("patch_id")[i]) for i in train]
    if scheme in ("country", "country-season"):
        country = [table.column("country")[i].as_py() for i in train]
        if any(c is None for c in country):
            raise DataError("partition by country needs the country of every patch; this archive has none")
        keys = country
        if scheme == "country-season":
            seasons = [season_of(p) for p in ids]
            if any(s is None for s in seasons):
                raise DataError(
                    "partition by season needs acquisition dates in the patch names (BigEarthNet)"
                )
            keys = [f"{c}-{s}" for c, s in zip(country, seasons, strict=True)]
        out: dict[str, list[str]] = {}
        for k, pid in zip(keys, ids, strict=True):
            out.setdefault(str(k), []).append(pid)
        return dict(sorted(out.items()))
    if clients < 2:
        raise ConfigError(f"--clients {clients}: a federation needs at least 2 clients")
    rng = np.random.default_rng(seed)
    if scheme == "iid":
        owner = rng.permutation(len(ids)) % clients
    else:
        if alpha <= 0:
            raise ConfigError(f"--alpha {alpha}: the Dirichlet concentration must be > 0")
        labels = label_matrix(table, classes)[train]
        freq = labels.sum(0)
        rarest = np.where(labels.any(1), np.argmin(np.where(labels, freq, np.inf), 1), len(classes))
        owner = np.empty(len(ids), np.int64)
        for c in np.unique(rarest):
            members = rng.permutation(np.flatnonzero(rarest == c))
            shares = rng.dirichlet(np.full(clients, alpha))
            cuts = np.round(np.cumsum(shares)[:-1] * len(members)).astype(int)
            for k, part in enumerate(np.split(members, cuts)):
                owner[part] = k
    width = len(str(clients - 1))
    named = {
        f"client{k:0{width}d}": [p for p, o in zip(ids, owner, strict=True) if o == k] for k in range(clients)
    }
    return {k: v for k, v in named.items() if v}


def label_matrix(table: pa.Table, classes: Sequence[str]) -> np.ndarray:
    """(N, K) bool multi-hot labels of ``table``'s ``labels`` column in ``classes`` order."""
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((table.num_rows, len(classes)), bool)
    for r, names in enumerate(table.column("labels").to_pylist()):
        for n in names or []:
            if n in index:
                out[r, index[n]] = True
    return out


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2) of two distributions (normalised here)."""
    p, q = p / max(p.sum(), 1e-12), q / max(q.sum(), 1e-12)
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / b[nz])).sum())

    return (kl(p, m) + kl(q, m)) / 2


def summarise(parts: dict[str, list[str]], table: pa.Table, classes: Sequence[str]) -> dict[str, Any]:
    """Patches and class counts per client, each client's JS divergence to the federation's label
    distribution, and their mean (the non-IID measure)."""
    labels = label_matrix(table, classes)
    row = {p: i for i, p in enumerate(table.column("patch_id").to_pylist())}
    counts = {c: labels[[row[p] for p in ids]].sum(0) for c, ids in parts.items()}
    total = sum(counts.values(), np.zeros(len(classes)))
    per = {
        c: {
            "patches": len(parts[c]),
            "class_counts": dict(zip(classes, map(int, counts[c]), strict=True)),
            "js_divergence": round(js_divergence(counts[c], total), 4),
        }
        for c in parts
    }
    return {
        "clients": per,
        "patches": int(sum(len(v) for v in parts.values())),
        "non_iid": round(float(np.mean([v["js_divergence"] for v in per.values()])), 4),
    }


def write_manifest(
    out: Path,
    parts: dict[str, list[str]],
    *,
    scheme: str,
    source: str,
    seed: int,
    val_share: float = 0.1,
    summary: dict[str, Any] | None = None,
) -> Path:
    """Write ``out/clients.json`` (scheme, source, seed, per client its ``train`` and ``validation`` ids)
    and one ``out/<client>.csv`` split file per client; returns the manifest path."""
    if not 0 <= val_share < 1:
        raise ConfigError(f"--val-share {val_share}: use a share in [0, 1)")
    rng = np.random.default_rng([seed, 7])
    clients: dict[str, dict[str, list[str]]] = {}
    for name, ids in parts.items():
        n_val = round(val_share * len(ids)) if len(ids) > 1 else 0
        val = set(rng.choice(len(ids), n_val, replace=False).tolist())
        clients[name] = {
            "train": [p for i, p in enumerate(ids) if i not in val],
            "validation": [p for i, p in enumerate(ids) if i in val],
        }
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "clients.json"
    write_json_atomic(
        manifest,
        {"scheme": scheme, "source": source, "seed": seed, "clients": clients, "summary": summary or {}},
        indent=None,
    )
    for name in clients:
        client_splits(manifest, name, out / f"{name}.csv")
    return manifest


def read_manifest(path: Path) -> dict[str, Any]:
    """A client manifest; one clear error for a missing or malformed file."""
    import json

    if not path.is_file():
        raise DataError(f"{path}: client manifest not found; write one with `worldclass fl partition`")
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        clients = data["clients"]
        assert isinstance(clients, dict) and all("train" in v for v in clients.values())
    except (ValueError, KeyError, AssertionError, TypeError):
        raise DataError(
            f"{path}: not a client manifest (expected clients.json of `worldclass fl partition`)"
        ) from None
    return data


def client_splits(manifest: Path, client: str, out: Path) -> Path:
    """Write ``out``: the ``patch_id,split`` file of one client of ``manifest`` (its data.splits)."""
    import pyarrow.csv as pcsv

    data = read_manifest(manifest)
    if client not in data["clients"]:
        raise ConfigError(f"{manifest}: no client {client!r} (has {sorted(data['clients'])})")
    c = data["clients"][client]
    ids = [*c["train"], *c.get("validation", [])]
    split = ["train"] * len(c["train"]) + ["validation"] * len(c.get("validation", []))
    out.parent.mkdir(parents=True, exist_ok=True)
    pcsv.write_csv(pa.table({"patch_id": ids, "split": split}), out)
    return out
