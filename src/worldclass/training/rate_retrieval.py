"""``worldclass experiment rate-retrieval``: bits per pixel against retrieval mAP@k for the learned codec
(hash codes from its own encoder, searched without decoding) and for storage by Deflate (lossless) and
JPEG2000 at several compression ratios, each followed by post-hoc hashing of features of the decoded
pixels (the way an archive stored with a standard codec is indexed).

Codec points: the ``codec`` config trained once per ``--bpp`` target and seed, the store compressed
(:class:`worldclass.retrieval.archive.CompressJob`), its real bitstream size as the rate and
:func:`~worldclass.retrieval.archive.archive_retrieval_eval` as the retrieval. Baseline points: every
patch's bands at the codec's 10 m grid as uint16 (S2 reflectance; S1 is not stored this way) written
with GDAL (GTiff Deflate, JP2OpenJPEG with ``QUALITY`` = the compressed size in % of the raw), read
back, embedded by ``--features`` (a classifier checkpoint on the same bands, pooled features), then a
hash head of the same bit count trained on the training split with label supervision
(:func:`worldclass.retrieval.hashing.train_hash_head`) and Hamming search: queries = validation,
archive = test, k. Written under ``trainer.out``: ``runs/`` (codec runs and archives), ``results.json``
(every point; mean ± std over seeds for the codec), ``table.md``, ``curve.png``, ``subsets.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldclass.config import ExperimentConfig
from worldclass.errors import ConfigError
from worldclass.io import write_json_atomic, write_text_atomic

S1 = ("VV", "VH")


def _raw_patches(store: str, meta: Any) -> tuple[Any, np.ndarray]:
    """(dataset with ``image`` in raw units at the codec's grid, raw -> normalised offsets) of ``store``."""
    from worldclass.data.dataset import BigEarthNet

    ds = BigEarthNet(
        store, split="all", sensors=("s2",), bands=list(meta.bands), normalize="none", return_mask=False
    )
    return ds, np.asarray(ds.labels(), bool)


def _gdal_round_trip(pixels: np.ndarray, driver: str, options: dict[str, str]) -> tuple[np.ndarray, int]:
    """(decoded uint16 (C, H, W), encoded bytes) of one patch through a GDAL driver in memory (pixel grid:
    no georeferencing, so rasterio's warning about it is silenced)."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
    c, h, w = pixels.shape
    with MemoryFile() as mem:
        with mem.open(driver=driver, height=h, width=w, count=c, dtype="uint16", **options) as dst:
            dst.write(pixels)
        size = len(mem.getbuffer())
        with mem.open() as src:
            return src.read(), size


@torch.no_grad()
def _features(model: Any, meta: Any, raw: np.ndarray) -> np.ndarray:
    pre = meta.preprocessing
    mean = torch.tensor(pre["mean"], dtype=torch.float32)[None, :, None, None]
    std = torch.tensor(pre["std"], dtype=torch.float32)[None, :, None, None]
    x = (torch.from_numpy(raw.astype(np.float32)) - mean) / std
    e = model.embed(x, "s2", "features")
    return torch.nn.functional.normalize(e, dim=1).numpy()


def storage_baselines(
    store: str,
    features: str | Path,
    *,
    bits: int,
    ratios: Sequence[float],
    k: int = 10,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Deflate and JPEG2000 (``ratios``: compressed size in % of raw) points: {method, bpp, map}."""
    from worldclass.models.checkpoint import load_model
    from worldclass.retrieval.archive import hamming_metrics
    from worldclass.retrieval.hashing import HashConfig, train_hash_head

    model, meta = load_model(features, device=torch.device("cpu"))
    if any(b in S1 for b in meta.bands) or not hasattr(model, "embed"):
        raise ConfigError(f"{features}: --features needs a classifier on S2 bands only (uint16 storage)")
    ds, labels = _raw_patches(store, meta)
    splits = np.asarray([str(s) for s in ds.table.column("split").to_pylist()])
    methods: list[tuple[str, str, dict[str, str]]] = [
        ("deflate", "GTiff", {"compress": "deflate", "predictor": "2"})
    ]
    methods += [
        (f"jpeg2000 {r:g}%", "JP2OpenJPEG", {"QUALITY": f"{r:g}", "REVERSIBLE": "NO"}) for r in ratios
    ]
    out = []
    for name, driver, options in methods:
        feats, size = [], 0
        for i in range(len(ds)):
            raw = np.clip(np.round(ds[i]["image"].numpy()), 0, 65535).astype(np.uint16)
            decoded, n = _gdal_round_trip(raw, driver, options)
            size += n
            feats.append(_features(model, meta, decoded[None])[0])
        f = np.stack(feats)
        train = splits == "train"
        head, _ = train_hash_head(
            f[train], HashConfig(dim=f.shape[1], bits=bits, supervision="labels", seed=seed), labels[train]
        )
        codes = head.codes(f)
        side = int(meta.preprocessing.get("size", 120))
        point = {
            "method": name,
            "bpp": 8 * size / (len(ds) * side * side),
            "map": hamming_metrics(
                codes, labels, np.flatnonzero(splits == "validation"), np.flatnonzero(splits == "test"), k
            )["map"],
        }
        log(f"[{name}] bpp {point['bpp']:.3f}, mAP@{k} {point['map']:.3f}")
        out.append(point)
    return out


def run_rate_retrieval(
    cfg: ExperimentConfig,
    *,
    bpps: Sequence[float],
    seeds: Sequence[int] = (0, 1, 2),
    features: str | Path | None = None,
    ratios: Sequence[float] = (2, 5, 10),
    k: int = 10,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Codec points (per target bpp, mean ± std over seeds) and storage baselines; see the module docstring."""
    from worldclass.retrieval.archive import Archive, CompressJob, archive_retrieval_eval
    from worldclass.tasks import config_from_dict
    from worldclass.training.fit import train

    if cfg.task != "codec":
        raise ConfigError(f"rate-retrieval trains codec configs, not task {cfg.task!r}")
    out = Path(cfg.trainer.out)
    runs: dict[str, dict[str, Any]] = {}
    for bpp in bpps:
        for seed in seeds:
            folder = out / "runs" / f"bpp-{bpp:g}" / f"seed{seed}"
            done = folder / "point.json"
            if done.is_file():
                point = json.loads(done.read_text())
                log(f"[codec {bpp:g} bpp seed {seed}] done before")
            else:
                v = config_from_dict(
                    cfg.to_dict(),
                    [f"codec.target_bpp={bpp}", f"trainer.seed={seed}", f"trainer.out={folder}"],
                )
                resume = (folder / "checkpoints" / "last.ckpt").is_file()
                best = train(v, resume=resume, overwrite=not resume).best_checkpoint
                with CompressJob(cfg.data.root, best, folder / "archive") as job:
                    job.run_local(job.prepare(), 0)
                    job.finalize()
                ev = archive_retrieval_eval(folder / "archive", k=k)
                info = Archive(folder / "archive").info
                stored = info["bytes"]["bitstreams"] + info["bytes"]["codes"]
                point = {
                    "bpp": ev["bpp"],
                    "map": ev["directions"]["codes→codes"]["map"],
                    "random_map": ev["random"]["map"],
                    "ratio": info["source_bytes"] / stored,
                }
                write_json_atomic(done, point)
            runs.setdefault(f"{bpp:g}", {})[str(seed)] = point
            log(f"[codec {bpp:g} bpp seed {seed}] bpp {point['bpp']:.3f}, mAP@{k} {point['map']:.3f}")
    summary = {
        target: {
            key: {
                "mean": float(np.mean([p[key] for p in by_seed.values()])),
                "std": float(np.std([p[key] for p in by_seed.values()], ddof=1)) if len(by_seed) > 1 else 0.0,
            }
            for key in ("bpp", "map", "ratio")
        }
        for target, by_seed in runs.items()
    }
    from worldclass.tasks.codec.task import CodecModelConfig

    bits = cfg.section("model", CodecModelConfig).hash_bits
    baselines: list[dict[str, Any]] = []
    if features:
        from worldclass.io import file_sha256

        key = {"features": file_sha256(features), "ratios": list(ratios), "bits": bits, "k": k}
        cached = out / "baselines.json"
        if cached.is_file() and json.loads(cached.read_text()).get("key") == key:
            baselines = json.loads(cached.read_text())["points"]
            log("[baselines] done before")
        else:
            baselines = storage_baselines(cfg.data.root, features, bits=bits, ratios=ratios, k=k, log=log)
            write_json_atomic(cached, {"key": key, "points": baselines})
    results = {"k": k, "seeds": list(seeds), "runs": runs, "summary": summary, "baselines": baselines}
    archive = Archive(out / "runs" / f"bpp-{bpps[0]:g}" / f"seed{seeds[0]}" / "archive")
    write_json_atomic(
        out / "subsets.json",
        {split: [archive.ids[i] for i in archive.select(split)] for split in ("train", "validation", "test")},
        indent=None,
    )
    lines = [
        f"Rate vs retrieval (mAP@{k}, queries validation, archive test); codec: mean ± std over {len(seeds)} seed(s)",
        "",
        "| method | bpp | mAP@k (%) | store bytes / stored bytes |",
        "|---|---|---|---|",
    ]
    for target, s in summary.items():
        lines.append(
            f"| codec (target {target}) | {s['bpp']['mean']:.3f} ± {s['bpp']['std']:.3f} | "
            f"{100 * s['map']['mean']:.1f} ± {100 * s['map']['std']:.1f} | {s['ratio']['mean']:.0f} |"
        )
    for b in baselines:
        lines.append(f"| {b['method']} + post-hoc hashing | {b['bpp']:.3f} | {100 * b['map']:.1f} | |")
    table = "\n".join(lines) + "\n"
    write_json_atomic(out / "results.json", results)
    write_text_atomic(out / "table.md", table)
    _plot(results, out / "curve.png")
    return results | {"table": table}


def _plot(results: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    s = results["summary"]
    xs = [v["bpp"]["mean"] for v in s.values()]
    ax.errorbar(
        xs,
        [100 * v["map"]["mean"] for v in s.values()],
        yerr=[100 * v["map"]["std"] for v in s.values()],
        marker="o",
        capsize=3,
        label="learned codec (codes, no decoding)",
    )
    for b in results["baselines"]:
        ax.scatter([b["bpp"]], [100 * b["map"]], marker="s", label=b["method"] + " + hashing")
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("mAP@k (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
