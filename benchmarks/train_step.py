"""Training throughput of ResNet50 on S1+S2 (12 bands: S2 without 60 m + VV, VH) at 120x120.

Compares, in one run: (a) naive fp32 eager NCHW, against (b) worldclass settings: channels_last and bf16
autocast (on CUDA always; on CPU reported separately since only CPUs with bf16 units gain). Also reports
the data-loading vs step time split for the store-backed DataLoader. Prints one JSON object.

    python benchmarks/train_step.py --batch-size 32 --steps 4
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()

from torch.utils.data import DataLoader  # noqa: E402

from worldclass.data import BigEarthNet  # noqa: E402
from worldclass.data.collate import collate  # noqa: E402
from worldclass.data.encode import encode  # noqa: E402
from worldclass.data.synth.bigearthnet import synth_bigearthnet  # noqa: E402
from worldclass.models import create_classifier  # noqa: E402


def images_per_s(device: str, batch: int, steps: int, *, channels_last: bool, bf16: bool) -> float:
    torch.manual_seed(0)
    model = create_classifier("resnet50", 12, 19).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)  # type: ignore[call-overload]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 12, 120, 120, device=device).contiguous(memory_format=fmt)
    y = (torch.rand(batch, 19, device=device) < 0.15).float()
    ctx = torch.autocast(device_type=device, dtype=torch.bfloat16) if bf16 else nullcontext()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with ctx:
            loss = F.binary_cross_entropy_with_logits(model(x).float(), y)
        loss.backward()
        opt.step()

    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def loader_split(store: Path, device: str, batch: int, steps: int, workers: int) -> dict[str, Any]:
    ds = BigEarthNet(store, split="all", sensors=("s2", "s1"), bands="s2-10+s1", include_snow_cloud=True)
    loader = DataLoader(
        ds,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device == "cuda",
        persistent_workers=workers > 0,
    )
    model = create_classifier("resnet50", 12, 19).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    wait = compute = 0.0
    it = iter(loader)
    next(it)
    for _ in range(steps):
        t0 = time.perf_counter()
        try:
            b = next(it)
        except StopIteration:
            it = iter(loader)
            b = next(it)
        x, y = b["image"].to(device, non_blocking=True), b["label"].to(device)
        t1 = time.perf_counter()
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(x), y).backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        wait, compute = wait + t1 - t0, compute + t2 - t1
    return {
        "loader_wait_s_per_step": round(wait / steps, 4),
        "step_s": round(compute / steps, 4),
        "loader_share": round(wait / (wait + compute), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    out: dict[str, Any] = {
        "device": device,
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    naive = images_per_s(device, args.batch_size, args.steps, channels_last=False, bf16=False)
    out["naive_fp32_eager_img_s"] = round(naive, 1)
    cl = images_per_s(device, args.batch_size, args.steps, channels_last=True, bf16=False)
    out["channels_last_fp32_img_s"] = round(cl, 1)
    ours = images_per_s(device, args.batch_size, args.steps, channels_last=True, bf16=True)
    out["channels_last_bf16_img_s"] = round(ours, 1)
    best = max(cl, ours) if device == "cpu" else ours
    out["speedup_vs_naive"] = round(best / naive, 2)
    work = Path(tempfile.mkdtemp(prefix="wc-train-"))
    synth_bigearthnet(work / "a", patches=max(4 * args.batch_size, 128), workers=os.cpu_count() or 1)
    encode(work / "a", work / "s", workers=os.cpu_count() or 1)
    out["loader_vs_step"] = loader_split(work / "s", device, args.batch_size, args.steps, args.workers)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
