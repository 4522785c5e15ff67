"""Collation for batches produced by ``BigEarthNet.__getitems__``.

``__getitems__`` already builds one (B, C, H, W) tensor per batch and hands out per-sample views of it;
:func:`collate` returns that tensor as is instead of copying the views into a new one (as
``default_collate`` would), and stacks labels/masks. Falls back to stacking for any other list.
In DataLoader workers, batch tensors on shared-memory slots travel by reference
(:mod:`worldclass.data.handover`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from worldclass.data.handover import hand_over


def _stack(items: list[torch.Tensor]) -> torch.Tensor:
    base = items[0]._base
    if (
        base is not None
        and base.shape[0] == len(items)
        and base.shape[1:] == items[0].shape
        and all(t._base is base for t in items)
        and all(t.data_ptr() == base[i].data_ptr() for i, t in enumerate(items))
    ):
        return base
    return torch.stack(items)


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Dict of batched fields: tensors stacked (zero-copy for ``__getitems__`` views), others as lists.
    In a DataLoader worker, batch tensors on shared slots travel as slot references (no copy)."""
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        out[key] = hand_over(_stack(values)) if isinstance(values[0], torch.Tensor) else values
    return out
