"""Retrieval part of the demo: pretrain a cross-sensor masked autoencoder on the demo archive (labels
unused), embed the archive with it and with the supervised classifier of the demo, compare both on the
BigEarthNet retrieval protocol, build an HNSW index and show a cross-sensor query (S1 patch -> S2
archive) in the report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.report import Report

#: CPU-sized cross-sensor pretraining (a real run uses the defaults of the ``ssl`` section).
DEMO_SSL = [
    "task=csmae",
    "data.bands=s2-10+s1",
    "data.batch_size=32",
    "data.num_workers=0",
    "optim.lr=0.001",
    "optim.warmup_steps=10",
    "optim.patience=20",
    "trainer.progress=false",
    "model.embed_dim=128",
    "model.depth=3",
    "model.heads=4",
    "model.decoder_depth=1",
]


def _items(store: Path, hits: list[dict[str, Any]], query: dict[str, Any]) -> list[dict[str, Any]]:
    from worldclass.demo.previews import preview_dataset, preview_item

    ds = preview_dataset(store)
    where = {p: i for i, p in enumerate(ds.patch_ids)}
    items = []
    for rank, h in enumerate([query, *hits]):
        head = (
            f"query [{query['sensor'].upper()}]"
            if rank == 0
            else f"#{rank} {h['score']:.2f} [{h['sensor'].upper()}]"
        )
        labels = ", ".join(n[:16] for n in (h.get("labels") or [])[:2])
        items.append(preview_item(ds, where[h["patch_id"]], f"{head}\n{labels}"))
    return items


def run_retrieval_demo(
    report: Report,
    store: Path,
    out: Path,
    supervised: Path,
    *,
    epochs: int = 8,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    from worldclass.report import plots
    from worldclass.retrieval import build_index
    from worldclass.retrieval.embed_archive import embed
    from worldclass.retrieval.evaluate import results_table, retrieval_eval
    from worldclass.retrieval.service import SearchService
    from worldclass.tasks import load_config
    from worldclass.training import train

    run = out / "runs" / "csmae"
    log(f"  cross-sensor masked autoencoder, {epochs} epochs, labels unused -> {run}")
    result = train(
        load_config(
            None, [f"data.root={store}", f"trainer.out={run}", f"optim.max_epochs={epochs}", *DEMO_SSL]
        ),
        overwrite=True,  # the demo owns its output folder
    )
    emb_dir = out / "embeddings"
    log(f"  embed the archive (supervised features, SSL S2 + S1) -> {emb_dir}")
    sets = {
        "supervised (MROS+DCW classifier)": embed(supervised, store, emb_dir / "supervised", overwrite=True),
        "self-supervised (CSMAE-style)": embed(
            result.best_checkpoint, store, emb_dir / "csmae", overwrite=True
        ),
    }
    evals = {name: retrieval_eval(path, k=10) for name, path in sets.items()}
    header, rows = results_table(evals)
    index = build_index(
        sets["self-supervised (CSMAE-style)"], out / "indexes" / "csmae-s2", "hnsw", sensor="s2"
    )
    service = SearchService(index.path)
    query_id = str(index.rows.column("patch_id")[0].as_py())
    cross = service.by_id(query_id, sensor="s1", k=5)
    log(
        f"  index: {len(index)} S2 vectors (HNSW); S1 query {query_id} -> {[h['patch_id'][-8:] for h in cross['results']]}"
    )
    report.heading("Retrieval: find patches like this one, also across sensors")
    report.text(
        f"Self-supervised pretraining on the unlabeled S1/S2 pairs ({result.epochs} epochs, best validation loss "
        f"{result.best_score:.3f}), embedding of every patch with it and with the supervised classifier above, "
        "and the BigEarthNet protocol: queries = validation, archive = test, k = 10, label-overlap P/R/F1, "
        "mAP@10 and weighted mAP@10 (ACG: shared labels, divided by the ideal, in %). The supervised model sees S2+S1 stacked, so it "
        "has one direction; the cross-sensor model embeds each sensor alone into one space. 'random ranking' "
        "is the floor from label frequencies. A short CPU run on a small synthetic archive: it shows the "
        "pipeline, not a benchmark."
    )
    report.table(header, rows)
    report.text(
        f"HNSW index of the {len(index)} S2 embeddings ({index.info['build_seconds']:.2f} s to build). Query: the "
        f"S1 patch of {query_id} (stored vector, no recomputation); results: S2 patches (score = cosine). "
        f"Browse it with `worldclass serve {index.path}`."
    )
    report.figure(plots.patch_previews(_items(store, cross["results"], cross["query"]), cols=6), "retrieval")
    return {
        "evals": evals,
        "query": cross,
        "index": str(index.path),
        "ssl_f1": float(
            np.mean([m["f1"] for m in evals["self-supervised (CSMAE-style)"]["directions"].values()])
        ),
    }
