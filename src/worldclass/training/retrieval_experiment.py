"""``worldclass experiment retrieval``: train several self-supervised cross-sensor models on the same data
and write one uni-modal and cross-modal retrieval table (the CSMAE study's guideline question, and
SS-CM-RSIR against it).

A variant is a list of config overrides on the base config. Shorthands: ``cecd`` / ``cesd`` / ``secd``
/ ``sesd`` [``/random`` | ``/same`` | ``/complementary``] [``/norm_pix``] [``/no-uni`` | ``/no-cross`` |
``/no-contrastive``] (task ``csmae``), ``all`` (the four architectures x the three maskings), ``sscm``
(task ``sscm`` with its defaults); anything else is ``NAME=key=value;key=value``. A variant that changes
the task starts that task's own sections (model, loss, ...) from their defaults; data, optim and trainer
are shared, so every variant sees the same patches. Per variant and seed: train (``trainer.seed``),
``worldclass embed`` every split, then the retrieval protocol (queries = ``query_split``, archive =
``archive_split``, k, every direction S2→S2, S1→S1, S1→S2, S2→S1). Written under ``trainer.out``:
``runs/<variant>/seed<s>/`` (checkpoints, embeddings, ``retrieval.json``), ``results.json`` (every run,
mean and sample std), ``table.md`` (mAP@k and F1@k mean ± std per direction, in %) and ``subsets.json``
(the query and archive ids). Finished runs are read back; an interrupted training resumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.config import ExperimentConfig
from worldclass.errors import ConfigError
from worldclass.io import write_json_atomic, write_text_atomic

ARCHITECTURES = ("cecd", "cesd", "secd", "sesd")
MASKINGS = ("random", "same", "complementary")
FLAGS = {
    "norm_pix": "loss.norm_pix=true",
    "no-uni": "loss.uni_weight=0",
    "no-cross": "loss.cross_weight=0",
    "no-contrastive": "loss.contrastive_weight=0",
}
METRICS = ("map", "f1")


def parse_variants(specs: Sequence[str]) -> dict[str, list[str]]:
    """Variant name -> overrides (see the module docstring)."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        if spec == "all":
            for arch in ARCHITECTURES:
                for masking in MASKINGS:
                    out[f"{arch}/{masking}"] = [
                        "task=csmae",
                        f"model.variant={arch}",
                        f"loss.masking={masking}",
                    ]
        elif spec == "sscm":
            out["sscm"] = ["task=sscm"]
        elif "=" in spec:
            name, _, given = spec.partition("=")
            overrides = [o for o in given.split(";") if o]
            if not name or not all("=" in o for o in overrides):
                raise ConfigError(f"--variants {spec!r}: use NAME=key=value;key=value")
            out[name] = overrides
        else:
            arch, *flags = spec.split("/")
            masking = flags.pop(0) if flags and flags[0] in MASKINGS else "random"
            bad = [f for f in flags if f not in FLAGS]
            if arch not in ARCHITECTURES or bad:
                raise ConfigError(
                    f"--variants {spec!r}: use all, sscm, {'|'.join(ARCHITECTURES)}[/{'|'.join(MASKINGS)}]"
                    f"[/{'|'.join(FLAGS)}] or NAME=key=value;..."
                )
            out[spec] = ["task=csmae", f"model.variant={arch}", f"loss.masking={masking}"] + [
                FLAGS[f] for f in flags
            ]
    if not out:
        raise ConfigError("--variants: give at least one variant")
    return out


def variant_config(cfg: ExperimentConfig, overrides: Sequence[str], seed: int, out: Path) -> ExperimentConfig:
    """The base config with ``overrides``; a task change drops the base task's own sections first."""
    from worldclass.tasks import config_from_dict, get_task

    tree = cfg.to_dict()
    task = next((o.split("=", 1)[1] for o in overrides if o.startswith("task=")), cfg.task)
    if get_task(task).name != get_task(cfg.task).name:
        for section in get_task(cfg.task).sections:
            tree.pop(section, None)
    return config_from_dict(tree, [*overrides, f"trainer.seed={seed}", f"trainer.out={out}"])


def _summary(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, by_seed in runs.items():
        ms = list(by_seed.values())
        out[name] = {}
        for direction in ms[0]["directions"]:
            cell = {}
            for k in METRICS:
                vals = np.array([m["directions"][direction][k] for m in ms], float)
                cell[k] = {
                    "mean": float(vals.mean()),
                    "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                }
            out[name][direction] = cell
    return out


def table(summary: dict[str, Any], k: int, seeds: int) -> str:
    """Markdown: one row per variant, mAP@k and F1@k (mean ± std over the seeds, %) per direction."""
    directions = list(next(iter(summary.values())))
    head = ["variant", *(f"{d} mAP@{k}" for d in directions), *(f"{d} F1@{k}" for d in directions)]
    lines = [
        f"Retrieval, {seeds} seed(s), mean ± sample std in %",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name, cells in summary.items():
        vals = [
            f"{100 * cells[d][m]['mean']:.1f} ± {100 * cells[d][m]['std']:.1f}"
            for m in METRICS
            for d in directions
        ]
        lines.append("| " + " | ".join([name, *vals]) + " |")
    return "\n".join(lines) + "\n"


def run_retrieval_comparison(
    cfg: ExperimentConfig,
    *,
    variants: dict[str, list[str]],
    seeds: Sequence[int] = (0, 1, 2),
    k: int = 10,
    query_split: str = "validation",
    archive_split: str = "test",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every variant x seed (see the module docstring); returns ``results.json``'s content + ``table``."""
    from worldclass.retrieval.embed_archive import embed
    from worldclass.retrieval.embeddings import Embeddings
    from worldclass.retrieval.evaluate import retrieval_eval
    from worldclass.training.fit import train

    out = Path(cfg.trainer.out)
    configs = {
        (name, seed): variant_config(
            cfg, overrides, seed, out / "runs" / name.replace("/", "-") / f"seed{seed}"
        )
        for name, overrides in variants.items()
        for seed in seeds
    }  # every variant is checked before the first one trains
    runs: dict[str, dict[str, Any]] = {}
    ids: dict[str, list[str]] = {}
    for (name, seed), v in configs.items():
        folder = Path(v.trainer.out)
        done = folder / "retrieval.json"
        if done.is_file():
            log(f"[{name} seed {seed}] done before")
            result = json.loads(done.read_text())
        else:
            resume = (folder / "checkpoints" / "last.ckpt").is_file()
            log(f"[{name} seed {seed}] {'resuming' if resume else 'training'} -> {folder}")
            best = train(v, resume=resume, overwrite=not resume).best_checkpoint
            emb = embed(
                best,
                v.data.root,
                folder / "embeddings",
                window=v.data.patch_size if v.data.dataset != "bigearthnet" else None,
            )
            result = retrieval_eval(emb, k=k, query_split=query_split, archive_split=archive_split)
            write_json_atomic(done, result)
        runs.setdefault(name, {})[str(seed)] = result
        if not ids:
            e = Embeddings.open(folder / "embeddings")
            pids = e.rows.column("patch_id").to_pylist()
            sensor = e.info["sensors"][0]
            for role, split in (("query", query_split), ("archive", archive_split)):
                ids[role] = [pids[i] for i in e.select(sensor=sensor, split=split)]
        log(
            f"[{name} seed {seed}] "
            + ", ".join(f"{d} mAP@{k}={m['map']:.3f}" for d, m in result["directions"].items())
        )
    summary = _summary(runs)
    results = {"k": k, "seeds": list(seeds), "variants": variants, "runs": runs, "summary": summary}
    md = table(summary, k, len(seeds))
    first = next(iter(runs.values()))
    floor = np.mean([r["random"]["map"] for r in first.values()])
    md += f"\nRandom ranking of the archive (the floor label imbalance alone gives): mAP@{k} {100 * floor:.1f}\n"
    write_json_atomic(out / "results.json", results)
    write_json_atomic(
        out / "subsets.json", {"query_split": query_split, "archive_split": archive_split, **ids}, indent=None
    )
    write_text_atomic(out / "table.md", md)
    return results | {"table": md}
