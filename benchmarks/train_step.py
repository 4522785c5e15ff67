"""Training throughput of ResNet50 on S1+S2 (12 bands: S2 without 60 m + VV, VH) at 120x120.

Model step, in one run: (a) naive fp32 eager NCHW, against worldclass settings: (b) channels_last,
(c) + bf16 autocast, (d) + ``torch.compile`` (``--compile``; default on CUDA: inductor needs minutes on
a CPU). Data: the share of step time spent waiting for the store-backed DataLoader, with (e) the CPU
path (workers resample and normalise; float32 batches cross to the device) and (f) the GPU data path
(native uint16/float32 groups cross pinned and non-blocking, :class:`DeviceTransform` on the device),
each with the best model settings. Prints one JSON object.

    python benchmarks/train_step.py --batch-size 32 --steps 4 [--compile]
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
from worldclass.data.device import DeviceTransform, pop_native  # noqa: E402
from worldclass.data.encode import encode  # noqa: E402
from worldclass.data.synth.bigearthnet import synth_bigearthnet  # noqa: E402
from worldclass.models.classifier import create_classifier  # noqa: E402
from worldclass.models.compiled import compile_in_place  # noqa: E402


def _model(device: str, channels_last: bool, compiled: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_classifier("resnet50", 12, 19).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if compiled:
        compile_in_place(model)
    return model


def images_per_s(
    device: str, batch: int, steps: int, *, channels_last: bool, bf16: bool, compiled: bool = False
) -> float:
    model = _model(device, channels_last, compiled)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
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

    step()  # warm-up (and compilation)
    step()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def loader_split(
    store: Path, device: str, batch: int, steps: int, workers: int, *, native: bool, settings: dict[str, bool]
) -> dict[str, Any]:
    """Train ``steps`` batches from the store; time waiting for the loader (+ the copy) vs the step."""
    kw: dict[str, Any] = dict(split="all", sensors=("s2", "s1"), bands="s2-10+s1", include_snow_cloud=True)
    ds = BigEarthNet(store, native=native, **kw)
    transform = DeviceTransform(ds.transform.describe()).to(device)
    loader = DataLoader(
        ds,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device == "cuda",
        persistent_workers=workers > 0,
        drop_last=True,
    )
    model = _model(device, settings["channels_last"], settings["compiled"])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ctx = torch.autocast(device_type=device, dtype=torch.bfloat16) if settings["bf16"] else nullcontext()
    wait = compute = 0.0
    crossed = 0
    it = iter(loader)
    for step in range(steps + 2):  # two warm-up steps (workers start, compilation)
        t0 = time.perf_counter()
        try:
            b = next(it)
        except StopIteration:
            it = iter(loader)
            b = next(it)
        groups = pop_native(b)
        parts = groups if groups is not None else {"image": b["image"]}
        moved = {k: v.to(device, non_blocking=True) for k, v in parts.items()}
        y = b["label"].to(device, non_blocking=True)
        t1 = time.perf_counter()
        x = transform(moved) if groups is not None else moved["image"]
        if settings["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        with ctx:
            loss = F.binary_cross_entropy_with_logits(model(x).float(), y)
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        if step >= 2:
            wait, compute = wait + t1 - t0, compute + t2 - t1
            crossed += sum(v.numel() * v.element_size() for v in parts.values())
    return {
        "images_per_s": round(batch * steps / (wait + compute), 1),
        "loader_wait_s_per_step": round(wait / steps, 4),
        "step_s": round(compute / steps, 4),
        "data_wait_share": round(wait / (wait + compute), 3),
        "bytes_to_device_per_image": crossed // (batch * steps),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    compiled = device == "cuda" if args.compile is None else args.compile
    out: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    b, n = args.batch_size, args.steps
    rates = {
        "naive_fp32_eager": images_per_s(device, b, n, channels_last=False, bf16=False),
        "channels_last_fp32": images_per_s(device, b, n, channels_last=True, bf16=False),
        "channels_last_bf16": images_per_s(device, b, n, channels_last=True, bf16=True),
    }
    if compiled:
        rates["channels_last_bf16_compiled"] = images_per_s(
            device, b, n, channels_last=True, bf16=True, compiled=True
        )
    out["model_step_img_s"] = {k: round(v, 1) for k, v in rates.items()}
    best = max(rates, key=lambda k: rates[k])
    out["best_settings"] = best
    out["speedup_vs_naive"] = round(rates[best] / rates["naive_fp32_eager"], 2)
    settings = {
        "channels_last": best != "naive_fp32_eager",
        "bf16": "bf16" in best,
        "compiled": "compiled" in best,
    }
    work = Path(tempfile.mkdtemp(prefix="wc-train-"))
    synth_bigearthnet(work / "a", patches=max(4 * b, 128), workers=os.cpu_count() or 1)
    encode(work / "a", work / "s", workers=os.cpu_count() or 1)
    out["with_data"] = {
        "cpu_preprocessing": loader_split(
            work / "s", device, b, n, args.workers, native=False, settings=settings
        ),
        "device_preprocessing": loader_split(
            work / "s", device, b, n, args.workers, native=True, settings=settings
        ),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
