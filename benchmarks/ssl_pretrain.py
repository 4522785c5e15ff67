"""Self-supervised pretraining throughput on 256 x 256 px x 15 channels (S2 13 bands + VV, VH).

SimSiam steps (two views, ResNet18 encoder, lightly heads) in one run: **naive** = views made sample by
sample on the CPU (crop, resize, flip, jitter in a Python loop), fp32, NCHW; **ours** = one batched
:func:`worldclass.models.ssl.augment_views` call on the training device, channels_last, bf16 autocast.
Also SSCL's CoRe step (batched degradation + U-Net reconstruction) with our settings. Prints JSON:
samples/s and the ratio; CPU always, the GPU when there is one.

    python benchmarks/ssl_pretrain.py [--batch 16] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()

from worldclass.models.ssl import SSLNet, augment_views, degrade  # noqa: E402

SIDE, BANDS = 256, 15


def naive_views(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """One view per sample, made one sample at a time on the CPU (the way a Dataset transform does)."""
    out = []
    for sample in x.cpu():
        side = int(SIDE * (0.35 + 0.65 * float(torch.rand(1, generator=g))) ** 0.5)
        y0, x0 = (int(torch.randint(0, SIDE - side + 1, (1,), generator=g)) for _ in range(2))
        v = F.interpolate(
            sample[None, :, y0 : y0 + side, x0 : x0 + side], size=(SIDE, SIDE), mode="bilinear"
        )[0]
        if float(torch.rand(1, generator=g)) < 0.5:
            v = v.flip(2)
        gain = 0.8 + 0.4 * torch.rand(BANDS, 1, 1, generator=g)
        v = v * gain + 0.05 * torch.randn(v.shape, generator=g)
        out.append(v)
    return torch.stack(out).to(x.device)


def simsiam_rate(device: str, batch: int, steps: int, *, ours: bool) -> float:
    torch.manual_seed(0)
    net = SSLNet("simsiam", "resnet18", BANDS, proj_dim=128, hidden_dim=512).to(device)
    if ours:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    x = torch.randn(batch, BANDS, SIDE, SIDE, device=device)
    g = torch.Generator().manual_seed(0)
    ctx = torch.autocast(device_type=device, dtype=torch.bfloat16) if ours else nullcontext()

    def step() -> None:
        v1, v2 = (
            (augment_views(x, g), augment_views(x, g)) if ours else (naive_views(x, g), naive_views(x, g))
        )
        if ours:
            v1, v2 = (
                v1.contiguous(memory_format=torch.channels_last),
                v2.contiguous(memory_format=torch.channels_last),
            )
        opt.zero_grad(set_to_none=True)
        with ctx:
            z1, z2 = net.projector(net.encoder(v1)), net.projector(net.encoder(v2))
            p1, p2 = net.predictor(z1), net.predictor(z2)
            loss = (
                1
                - (
                    F.cosine_similarity(p1.float(), z2.detach().float()).mean()
                    + F.cosine_similarity(p2.float(), z1.detach().float()).mean()
                )
                / 2
            )
        loss.backward()
        opt.step()

    return _rate(step, device, batch, steps)


def core_rate(device: str, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    net = SSLNet("sscl", "resnet18", BANDS).to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    x = torch.randn(batch, BANDS, SIDE, SIDE, device=device)
    g = torch.Generator().manual_seed(0)

    def step() -> None:
        d, holes = degrade(x, g, channel_drop=0.33, cutouts=2, blur_sigma=1.5)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            rec = net.reconstruct(d.contiguous(memory_format=torch.channels_last))
        w = 1 + holes.float()
        ((rec.float() - x) ** 2 * w).sum().div(w.sum()).backward()
        opt.step()

    return _rate(step, device, batch, steps)


def _rate(step: Any, device: str, batch: int, steps: int) -> float:
    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out: dict[str, Any] = {
        "input": [BANDS, SIDE, SIDE],
        "batch": a.batch,
        "torch_threads": torch.get_num_threads(),
    }
    for dev in devices:
        naive = simsiam_rate(dev, a.batch, a.steps, ours=False)
        ours = simsiam_rate(dev, a.batch, a.steps, ours=True)
        out[dev] = {
            "device": torch.cuda.get_device_name()
            if dev == "cuda"
            else torch.backends.cpu.get_cpu_capability(),
            "simsiam_naive_samples_per_s": round(naive, 2),
            "simsiam_ours_samples_per_s": round(ours, 2),
            "simsiam_speedup": round(ours / naive, 2),
            "sscl_core_ours_samples_per_s": round(core_rate(dev, a.batch, a.steps), 2),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
