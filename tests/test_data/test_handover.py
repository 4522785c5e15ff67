"""Batches from DataLoader workers arrive on reusable shared-memory slots, stay valid while kept, and
the slot files disappear with the workers."""

import gc
import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from worldclass.data import BigEarthNet, handover
from worldclass.data.collate import collate


def _children() -> set[int]:
    """Pids of this process's live children (the DataLoader workers)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == os.getpid():
                pids.add(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


def test_worker_batches_are_shared_slots_and_stay_valid(v2_store: Path) -> None:
    ds = BigEarthNet(v2_store, split="all", sensors=("s2", "s1"), include_snow_cloud=True)
    expected = {
        s["patch_id"]: (s["image"].clone(), s["mask"].clone()) for s in ds.__getitems__(range(len(ds)))
    }
    loader = DataLoader(
        ds, batch_size=5, num_workers=2, collate_fn=collate, persistent_workers=True, shuffle=True
    )
    kept = []  # more batches than slots: the workers must fall back instead of overwriting these
    before = set(handover._MAPS)
    children: set[int] = set()
    for _epoch in range(2):
        for batch in loader:
            kept.append(batch)
            children |= _children()
    workers = {entry[2] for path, entry in handover._MAPS.items() if path not in before}
    assert len(workers) == 2 and workers <= children  # batches came through both workers' slot files
    for batch in kept:
        for k, pid in enumerate(batch["patch_id"]):
            assert torch.equal(batch["image"][k], expected[pid][0])
            assert torch.equal(batch["mask"][k], expected[pid][1])
    kept.clear()
    for batch in loader:  # slots released by the main process are written again
        pid = batch["patch_id"][0]
        assert torch.equal(batch["image"][0], expected[pid][0])
    del loader, batch
    gc.collect()
    handover.release_unused()
    assert not workers & {entry[2] for entry in handover._MAPS.values()}  # unmapped after the workers exit
    assert not [f for f in handover.SHM_DIR.glob("worldclass-*") if int(f.name.split("-")[1]) in workers]
