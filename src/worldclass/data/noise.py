"""Synthetic label noise for multi-label classification, with the noise mask and the realised rates.

``labels``: (N, C) {0, 1} multi-hot (samples x classes, in the dataset's class order). Modes; ``rate`` r may be
overridden per class (``per_class``, (C,) rates; the class of the entry decides):

- ``flip``: every entry flips 0 <-> 1 with probability r (uniform noise: adds and removes).
- ``subtractive``: every present label is removed with probability r (a present class goes missing).
- ``additive``: absent labels are set so that, in expectation, r x (present labels) are added: each absent
  entry of class c is set with probability r_c x P / A (P present, A absent entries of the archive);
  label sets grow by about r.
- ``mixed``: subtractive and additive at r / 2 each (about r x P noisy entries, half of each kind).
- ``substitute``: every present label is, with probability r, moved to a random class absent from the sample
  (GRID's substitution; the label count of each sample is kept).

Unlike the GRID script (whose row test indexes the wrong array), the realised rates follow the request:
:func:`noise_report` gives them per class and overall, and the tests check them within sampling error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MODES = ("flip", "subtractive", "additive", "mixed", "substitute")


def _rates(rate: float, per_class: np.ndarray | None, c: int) -> np.ndarray:
    r = np.full(c, float(rate)) if per_class is None else np.asarray(per_class, np.float64)
    if r.shape != (c,) or (r < 0).any() or (r > 1).any():
        raise ValueError(f"noise rates must be {c} values in [0, 1], got {r.tolist()}")
    return r


def _subtract(y: np.ndarray, r: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    drop = (y == 1) & (rng.random(y.shape) < r[None])
    return np.where(drop, 0, y)


def _add(
    y: np.ndarray, r: np.ndarray, rng: np.random.Generator, present: int, absent: np.ndarray
) -> np.ndarray:
    """Set entries among ``absent`` (the clean labels' absent entries) at r x present / |absent|."""
    n_absent = int(absent.sum())
    if not n_absent:
        return y
    p = np.clip(r * present / n_absent, 0, 1)
    add = absent & (rng.random(y.shape) < p[None])
    return np.where(add, 1, y)


def inject_label_noise(
    labels: np.ndarray, mode: str, rate: float, per_class: np.ndarray | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(noisy labels (N, C) uint8, noise mask (N, C) bool = entries that differ from ``labels``)."""
    if mode not in MODES:
        raise ValueError(f"noise mode {mode!r}: choose from {list(MODES)}")
    y = (np.asarray(labels) > 0).astype(np.uint8)
    if y.ndim != 2:
        raise ValueError(f"labels must be (samples, classes), got shape {y.shape}")
    r = _rates(rate, per_class, y.shape[1])
    rng = np.random.default_rng(seed)
    present = int(y.sum())
    if mode == "flip":
        noisy = np.where(rng.random(y.shape) < r[None], 1 - y, y).astype(np.uint8)
    elif mode == "subtractive":
        noisy = _subtract(y, r, rng)
    elif mode == "additive":
        noisy = _add(y, r, rng, present, y == 0)
    elif mode == "mixed":
        noisy = _add(_subtract(y, r / 2, rng), r / 2, rng, present, y == 0)  # removals stay removed
    else:
        noisy = y.copy()
        for i, j in zip(*np.nonzero((y == 1) & (rng.random(y.shape) < r[None])), strict=True):
            free = np.flatnonzero((y[i] == 0) & (noisy[i] == 0))  # never restore a moved label
            if len(free):
                noisy[i, j] = 0
                noisy[i, rng.choice(free)] = 1
    noisy = noisy.astype(np.uint8)
    return noisy, noisy != y


def noise_report(clean: np.ndarray, noisy: np.ndarray, classes: list[str] | None = None) -> dict[str, Any]:
    """Realised noise: per class ``removed`` (share of present labels dropped) and ``added`` (share of absent
    entries set); overall ``removed``, ``added_per_present`` (added labels / present labels, additive's unit),
    ``noisy_entries`` / ``noisy_samples`` shares, and samples left without any label."""
    y, z = (np.asarray(clean) > 0), (np.asarray(noisy) > 0)
    names = classes or [str(i) for i in range(y.shape[1])]
    pos, neg = y.sum(0), (~y).sum(0)
    removed = (y & ~z).sum(0)
    added = (~y & z).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = {
            n: {
                "removed": float(removed[k] / pos[k]) if pos[k] else float("nan"),
                "added": float(added[k] / neg[k]) if neg[k] else float("nan"),
            }
            for k, n in enumerate(names)
        }
    present = int(y.sum())
    return {
        "removed": float(removed.sum() / present) if present else float("nan"),
        "added_per_present": float(added.sum() / present) if present else float("nan"),
        "noisy_entries": float((y != z).mean()),
        "noisy_samples": float((y != z).any(1).mean()),
        "emptied_samples": int((y.any(1) & ~z.any(1)).sum()),
        "per_class": per_class,
    }
