"""Federated simulation: overhead per round against centralised training on the same data and steps, and
traffic per round.

A synthetic reBEN-like archive (``--patches``, countries and seasons differ) is encoded and split into one
client per country. ``worldclass fl simulate`` runs ``--rounds`` FedAvg rounds (one local epoch each,
SGD); the naive reference trains the same model with the same optimiser, batch size and number of steps
on the pooled patches in one loop (what the clients' compute would cost without federation). The ratio
is the simulator's overhead (weight loading per client, serialising payloads to count bytes, validation
each round). Prints one JSON object.

    python benchmarks/federated.py --patches 400 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patches", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backbone", default="mobilenetv3_small_100")
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()

    from torch.utils.data import ConcatDataset, DataLoader

    from worldclass.data.encode import encode
    from worldclass.data.synth.bigearthnet import synth_bigearthnet
    from worldclass.tasks import get_task, load_config
    from worldclass.training.federated.simulate import simulate

    with tempfile.TemporaryDirectory() as tmp:
        root = synth_bigearthnet(Path(tmp) / "reben", patches=args.patches, seed=0, domains=True)
        store = Path(tmp) / "store"
        encode(root, store, workers=0)
        sets = [
            f"data.root={store}",
            "data.bands=s2-10",
            f"data.batch_size={args.batch_size}",
            f"model.backbone={args.backbone}",
            "model.drop_rate=0",
            "model.drop_path_rate=0",
            f"federated.rounds={args.rounds}",
            "federated.scheme=country",
            "federated.momentum=0.9",
            "trainer.progress=false",
        ]
        cfg = load_config(None, [*sets, f"trainer.out={Path(tmp) / 'fl'}"])
        t0 = time.perf_counter()
        res = simulate(cfg, log=lambda s: None)
        fl_s = time.perf_counter() - t0
        rounds = res["rounds"]
        steps = sum(c["steps"] for r in rounds for c in r["clients"].values() if c.get("answered"))
        train_s = sum(c["seconds"] for r in rounds for c in r["clients"].values() if c.get("answered"))

        # naive reference: the same model, optimiser, batch size and number of steps on the pooled patches
        from worldclass.training.federated.simulate import open_clients

        clients = open_clients(cfg, res["manifest"])
        pooled = ConcatDataset([c.data for c in clients])
        torch.manual_seed(0)
        module = (
            get_task("classification")
            .setup(load_config(None, [*sets, f"trainer.out={Path(tmp) / 'c'}"]))
            .module
        )
        model, loss_fn = module.model, module.loss
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        model.train()
        t0 = time.perf_counter()
        done = 0
        while done < steps:
            for batch in DataLoader(pooled, batch_size=args.batch_size, shuffle=True):
                loss = loss_fn(model(batch["image"]), batch["label"])
                opt.zero_grad()
                loss.backward()
                opt.step()
                done += 1
                if done >= steps:
                    break
        central_s = time.perf_counter() - t0
    out = {
        "patches": args.patches,
        "clients": len(clients),
        "rounds": args.rounds,
        "backbone": args.backbone,
        "local_steps_total": steps,
        "federated_seconds": round(fl_s, 2),
        "federated_local_training_seconds": round(train_s, 2),
        "centralised_same_steps_seconds": round(central_s, 2),
        "overhead_ratio_total": round(fl_s / central_s, 3),
        "overhead_ratio_training_only": round(train_s / central_s, 3),
        "mb_per_round": round(rounds[-1]["mb_down"] + rounds[-1]["mb_up"], 3),
        "mb_total": round(rounds[-1]["mb_total"], 3),
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
