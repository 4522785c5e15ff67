"""``worldclass labels check``: rank the (patch, class) label entries most likely wrong, with cleanlab.

Probabilities come from a trained checkpoint (``checkpoint=``; in-sample when the model was trained on
the checked patches, which makes cleanlab over-trust the labels) or, by default, from K-fold cross-fitting
(``folds=K`` with a classification ``config``): the checked patches are cut into K folds (seeded), and K
models each trained on K - 2 folds (one more fold for model selection) predict the fold they never saw, so
every probability is out-of-sample as confident learning requires.

cleanlab's multi-label functions then flag entries (``find_multilabel_issues_per_class``, pruned by noise
rate) and score them (``get_label_quality_scores_per_class``, self-confidence). Written to ``out``:
``label_issues.csv`` (flagged entries, most suspicious first: rank, patch_id, class, given 0/1,
probability, quality), ``summary.json`` (counts per class, and precision/recall of the flags against the
truth when the checked labels are a noisy view of the archive: an entry is truly wrong where the view
differs from the archive's own label) and ``index.html`` (the table with RGB previews of the top
patches). cleanlab is optional (``pip install 'worldclass[noise]'``).
"""

from __future__ import annotations

import copy
import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from worldclass.config import ExperimentConfig
from worldclass.errors import ConfigError
from worldclass.io import atomic_open, write_json_atomic

PREVIEWS = 24


def _cleanlab() -> Any:
    try:
        from cleanlab.multilabel_classification import filter as cl_filter
        from cleanlab.multilabel_classification import rank as cl_rank
    except ImportError:
        raise ConfigError(
            "labels check needs cleanlab: pip install 'worldclass[noise]' (or cleanlab>=2.9)"
        ) from None
    return cl_filter, cl_rank


def _dataset(cfg: ExperimentConfig, split: str, labels: str | None) -> Any:
    """The ``split`` of ``cfg.data`` through its registered dataset, with the label view ``labels``, in
    the evaluated classes (the 19 parents under attribute encoding, like the predicted scores)."""
    from worldclass.datasets import get_dataset

    d = cfg.data
    return get_dataset(d.dataset).open(d, split, labels=labels, return_mask=False, num_classes=d.num_classes)


def cross_fit(
    cfg: ExperimentConfig, folds: int, split: str, out: Path, log: Callable[[str], None] = print
) -> tuple[list[str], np.ndarray]:
    """Out-of-sample probabilities (N, C) of the ``split`` patches of ``cfg.data`` (with its label view)
    by ``folds``-fold cross-fitting; runs go to ``out/fold<k>`` (finished folds are reused)."""
    from worldclass.tasks.classification.evaluate import dataset_for, predict_scores
    from worldclass.training.fit import train

    if folds < 3:
        raise ConfigError(f"--folds {folds}: use at least 3 (train, model-selection and predicted folds)")
    ids = list(_dataset(cfg, split, cfg.data.labels).patch_ids)
    order = np.random.default_rng(cfg.trainer.seed).permutation(len(ids))
    fold_of = np.empty(len(ids), np.int64)
    fold_of[order] = np.arange(len(ids)) % folds
    probs: dict[str, np.ndarray] = {}
    for k in range(folds):
        run = out / f"fold{k}"
        names = np.where(fold_of == k, "test", np.where(fold_of == (k + 1) % folds, "validation", "train"))
        run.mkdir(parents=True, exist_ok=True)
        split_file = run / "splits.parquet"
        pq.write_table(pa.table({"patch_id": ids, "split": names.tolist()}), split_file)
        best = run / "checkpoints" / "best.ckpt"
        v = copy.deepcopy(cfg)
        v.data.splits, v.trainer.out = str(split_file), str(run)
        if not best.is_file():
            log(f"[labels check] fold {k + 1}/{folds}: training on {int((names == 'train').sum())} patches")
            best = train(v, overwrite=True).best_checkpoint
        from worldclass.models.checkpoint import model_from_checkpoint, read_checkpoint

        model, meta = model_from_checkpoint(read_checkpoint(best), best)
        meta.config["data"]["splits"], meta.config["data"]["labels"] = str(split_file), cfg.data.labels
        _, scores, pids = predict_scores(model, dataset_for(meta, cfg.data.root, "test"))  # type: ignore[arg-type]
        probs.update(zip(pids, scores, strict=True))
    return ids, np.stack([probs[i] for i in ids])


def checkpoint_scores(checkpoint: Path, cfg: ExperimentConfig, split: str) -> tuple[list[str], np.ndarray]:
    """Probabilities (N, C) of a trained checkpoint on the ``split`` patches (in-sample if it saw them)."""
    from worldclass.models.checkpoint import model_from_checkpoint, read_checkpoint
    from worldclass.tasks.classification.evaluate import dataset_for, predict_scores

    model, meta = model_from_checkpoint(read_checkpoint(checkpoint), checkpoint)
    meta.config["data"]["labels"] = cfg.data.labels
    _, scores, pids = predict_scores(model, dataset_for(meta, cfg.data.root, split))  # type: ignore[arg-type]
    return list(pids), scores


def rank_issues(
    given: np.ndarray, probs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Given multi-hot labels (N, C) and probabilities (N, C) -> flags (N, C) bool (cleanlab, pruned by
    noise rate), quality (N, C) (self-confidence; low = suspicious) and the flagged entries' (patch, class)
    indices ordered from the most suspicious."""
    cl_filter, cl_rank = _cleanlab()
    lists = [np.flatnonzero(y).tolist() for y in given]
    # n_jobs=1: cleanlab's process pool would inherit the CLI's signal handlers (tracebacks at shutdown)
    flags = np.asarray(cl_filter.find_multilabel_issues_per_class(lists, probs, n_jobs=1), bool)
    if flags.shape != given.shape:  # older cleanlab: one (N,) mask per class
        flags = flags.T
    quality = np.asarray(cl_rank.get_label_quality_scores_per_class(lists, probs))
    pi, ci = np.nonzero(flags)
    order = np.argsort(quality[pi, ci], kind="stable")
    return flags, quality, pi[order], ci[order]


def check_labels(
    cfg: ExperimentConfig,
    out: Path,
    *,
    checkpoint: Path | None = None,
    folds: int = 5,
    split: str = "train",
    top: int = 200,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Flag and rank suspicious label entries of ``split`` (labels: the archive's, or ``cfg.data.labels``);
    returns the summary (also written to ``out/summary.json``)."""
    _cleanlab()  # refuse before any training when cleanlab is missing
    if checkpoint is not None:
        ids, probs = checkpoint_scores(checkpoint, cfg, split)
    else:
        ids, probs = cross_fit(cfg, folds, split, out / "folds", log)
    ds = _dataset(cfg, split, cfg.data.labels)
    row = {pid: i for i, pid in enumerate(ds.patch_ids)}
    given = ds.labels()[[row[i] for i in ids]].astype(np.int64)
    classes = list(ds.classes)
    flags, quality, pi, ci = rank_issues(given, probs)
    summary: dict[str, Any] = {
        "patches": len(ids),
        "entries": int(given.size),
        "flagged": len(pi),
        "probabilities": "given checkpoint (in-sample if it saw these patches)"
        if checkpoint is not None
        else f"{folds}-fold cross-fitting (out-of-sample)",
        "labels": cfg.data.labels or "archive",
        "flagged_per_class": {classes[c]: int(flags[:, c].sum()) for c in range(len(classes))},
    }
    if cfg.data.labels:
        clean = _dataset(cfg, split, None)
        crow = {pid: i for i, pid in enumerate(clean.patch_ids)}
        truth = clean.labels()[[crow[i] for i in ids]].astype(np.int64) != given
        tp = int((flags & truth).sum())
        summary["truth"] = {
            "wrong_entries": int(truth.sum()),
            "precision": tp / max(int(flags.sum()), 1),
            "recall": tp / max(int(truth.sum()), 1),
            "precision_top": _precision_at(truth, pi, ci, top),
        }
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "label_issues.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rank", "patch_id", "class", "given", "probability", "quality"])
        for r, (p, c) in enumerate(zip(pi, ci, strict=True), 1):
            w.writerow(
                [r, ids[p], classes[c], int(given[p, c]), f"{probs[p, c]:.4f}", f"{quality[p, c]:.4f}"]
            )
    _html(out, cfg, ids, classes, given, probs, quality, pi[:top], ci[:top], summary)
    write_json_atomic(out / "summary.json", summary)
    return summary


def _precision_at(truth: np.ndarray, pi: np.ndarray, ci: np.ndarray, k: int) -> float | None:
    """Share of truly wrong entries among the ``k`` highest-ranked flags."""
    n = min(k, len(pi))
    return float(truth[pi[:n], ci[:n]].mean()) if n else None


def _html(
    out: Path,
    cfg: ExperimentConfig,
    ids: list[str],
    classes: list[str],
    given: np.ndarray,
    probs: np.ndarray,
    quality: np.ndarray,
    pi: np.ndarray,
    ci: np.ndarray,
    summary: dict[str, Any],
) -> None:
    from worldclass.data.dataset import BigEarthNet
    from worldclass.data.sensors import RGB
    from worldclass.report import Report
    from worldclass.report.plots import patch_previews

    r = Report("worldclass label check")
    r.text(
        f"{summary['flagged']} of {summary['entries']} label entries flagged over {summary['patches']} patches; "
        f"probabilities from {summary['probabilities']}; labels: {summary['labels']}."
    )
    if "truth" in summary:
        t = summary["truth"]
        r.text(
            f"Against the archive's own labels ({t['wrong_entries']} entries differ): precision "
            f"{t['precision']:.3f}, recall {t['recall']:.3f}."
        )

    def verdict(p: int, c: int) -> str:
        return "label may be missing" if given[p, c] == 0 else "label may be wrong"

    rows = [
        [k + 1, ids[p], classes[c], verdict(p, c), float(probs[p, c]), float(quality[p, c])]
        for k, (p, c) in enumerate(zip(pi, ci, strict=True))
    ]
    r.heading("Most suspicious entries")
    r.table(["rank", "patch", "class", "issue", "probability", "quality"], rows)
    if len(pi) and "s2" in cfg.data.sensors:
        raw = BigEarthNet(
            cfg.data.root,
            split="all",
            sensors=("s2",),
            bands=list(RGB),
            normalize="none",
            include_snow_cloud=True,
            return_mask=False,
        )
        where = {pid: i for i, pid in enumerate(raw.patch_ids)}
        items = [
            {
                "rgb": raw[where[ids[p]]]["image"].numpy().transpose(1, 2, 0),
                "title": f"#{k + 1} {classes[c][:22]}: {'missing?' if given[p, c] == 0 else 'wrong?'}",
            }
            for k, (p, c) in enumerate(zip(pi[:PREVIEWS], ci[:PREVIEWS], strict=True))
        ]
        r.heading("Previews (RGB) of the top entries")
        r.figure(patch_previews(items), "previews of the most suspicious label entries")
    r.write(out)
