"""Fault table, input side: usage errors, missing/truncated/corrupt inputs, inconsistent archives and bad
option or config values, for every command. Each case must end in its exit code with one line naming the
file or value and the fix, no traceback, and leave the outputs listed in ``keep`` byte-identical."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from faults import (
    class_map,
    first_patch,
    flip_byte,
    good_file,
    index_of,
    polygons,
    rewrite_band,
    train_config,
    truncate,
    with_labels,
)
from harness import Case, Ctx, check

from worldclass.data.bigearthnet import naming

# exit codes: 2 user input (WorldclassError), 3 incomplete store, 1 OS/library/output, usage 2


def _v2(ctx: Ctx) -> Path:
    return ctx.copy("v2_root", "reBEN")


def _store(ctx: Ctx) -> Path:
    return ctx.copy("v2_store", "store")


def _enc(ctx: Ctx, root: Path) -> list[str]:
    good_file(ctx, "prev/keep.txt", "a previous result\n")
    return ["encode", str(root), str(ctx.tmp / "out"), "--workers", "0"]


def _band_crs(ctx: Ctx) -> list[str]:
    root = _v2(ctx)
    rewrite_band(naming.v2_band_path(root, first_patch(root)[0], "B11"), crs="EPSG:4326")
    return _enc(ctx, root)


def _s1_nan(ctx: Ctx) -> list[str]:
    root = _v2(ctx)
    rewrite_band(naming.v2_s1_band_path(root, first_patch(root)[1], "VV"), fill=float("nan"))
    return _enc(ctx, root)


def _unknown_label(ctx: Ctx) -> list[str]:
    root = _v2(ctx)
    with_labels(root, lambda n: pa.array([["Moon base"], *([["Arable land"]] * (n - 1))]))
    return _enc(ctx, root)


def _string_labels(ctx: Ctx) -> list[str]:
    root = _v2(ctx)
    with_labels(root, lambda n: pa.array(["Arable land"] * n))
    return _enc(ctx, root)


def _zero_rows(ctx: Ctx) -> list[str]:
    import pyarrow.parquet as pq

    root = _v2(ctx)
    t = pq.read_table(root / naming.V2_METADATA)
    pq.write_table(t.slice(0, 0), root / naming.V2_METADATA)
    return _enc(ctx, root)


def _v1_no_train_csv(ctx: Ctx) -> list[str]:
    root = ctx.copy("v1_root", "BEN")
    (root / "bigearthnet-train.csv").unlink()
    return _enc(ctx, root)


def _truncated_band(ctx: Ctx) -> list[str]:
    root = _v2(ctx)
    truncate(naming.v2_band_path(root, first_patch(root)[0], "B04"), 0.4)
    return _enc(ctx, root)


def _truncated_store(ctx: Ctx) -> list[str]:
    store = _store(ctx)
    truncate(store / "data.mdb")
    return ["stats", str(store)]


def _garbage_store(ctx: Ctx) -> list[str]:
    store = _store(ctx)
    (store / "data.mdb").write_bytes(b"\x00" * 4096)
    return ["stats", str(store)]


def _damaged_patch_verify(ctx: Ctx) -> list[str]:
    import lmdb

    from worldclass.data.store import PATCH_PREFIX

    store = _store(ctx)
    env = lmdb.open(str(store), map_size=1 << 32)
    with env.begin(write=True) as txn:
        key = next(k for k, _ in txn.cursor() if k.startswith(PATCH_PREFIX))
        value = bytearray(txn.get(key))
        value[-50] ^= 0x55  # inside the pixel data: decodes fine, only the CRC can tell
        txn.put(key, bytes(value))
    env.close()
    ctx.notes["store"] = store
    return ["verify", str(store)]


def _damaged_patch_embed(ctx: Ctx) -> list[str]:
    _damaged_patch_verify(ctx)
    return ["embed", str(ctx.fx("ssl_checkpoint")), str(ctx.notes["store"]), "--out", str(ctx.tmp / "e")]


def _ckpt(ctx: Ctx, how: str) -> Path:
    ckpt = ctx.copy("cls_checkpoint", "model.ckpt")
    if how == "truncated":
        truncate(ckpt)
    else:
        ckpt.write_bytes(b"PK\x03\x04 not a checkpoint")
    return ckpt


def _evaluate_ckpt(how: str):  # type: ignore[no-untyped-def]
    def setup(ctx: Ctx) -> list[str]:
        good_file(ctx, "eval/metrics.json", '{"previous": 1}\n')
        return [
            "evaluate",
            str(_ckpt(ctx, how)),
            "--data",
            str(ctx.fx("v2_store")),
            "--out",
            str(ctx.tmp / "eval"),
        ]

    return setup


def _embed_truncated_ckpt(ctx: Ctx) -> list[str]:
    return ["embed", str(_ckpt(ctx, "truncated")), str(ctx.fx("v2_store")), "--out", str(ctx.tmp / "e")]


def _map_truncated_ckpt(ctx: Ctx) -> list[str]:
    scene = class_map(ctx.tmp / "scene.tif", bands=3)
    good_file(ctx, "map.tif", "previous map\n")
    return ["map", str(_ckpt(ctx, "truncated")), str(scene), "--out", str(ctx.tmp / "map.tif")]


def _map_garbage_scene(ctx: Ctx) -> list[str]:
    scene = ctx.tmp / "scene.tif"
    scene.write_bytes(b"II*\x00" + b"\x01" * 200)
    good_file(ctx, "map.tif", "previous map\n")
    return ["map", str(ctx.fx("seg_checkpoint")), str(scene), "--out", str(ctx.tmp / "map.tif")]


def _map_wrong_bands(ctx: Ctx) -> list[str]:
    scene = class_map(ctx.tmp / "scene.tif", bands=1)
    return ["map", str(ctx.fx("seg_checkpoint")), str(scene), "--out", str(ctx.tmp / "map.tif")]


def _map_option(*extra: str):  # type: ignore[no-untyped-def]
    def setup(ctx: Ctx) -> list[str]:
        scene = class_map(ctx.tmp / "scene.tif", bands=3)
        return ["map", str(ctx.fx("seg_checkpoint")), str(scene), "--out", str(ctx.tmp / "m.tif"), *extra]

    return setup


def _polygonize(*extra: str, garbage: bool = False):  # type: ignore[no-untyped-def]
    def setup(ctx: Ctx) -> list[str]:
        cmap = class_map(ctx.tmp / "map.tif", classes=["background", "building"])
        if garbage:
            flip_byte(cmap, 0.02)
            truncate(cmap, 0.3)
        good_file(ctx, "p.gpkg", "previous layer\n")
        return ["polygonize", str(cmap), "--out", str(ctx.tmp / "p.gpkg"), "--workers", "0", *extra]

    return setup


def _polygon_metrics(*extra: str, missing: bool = False):  # type: ignore[no-untyped-def]
    def setup(ctx: Ctx) -> list[str]:
        pred = polygons(ctx, "pred")
        ref = ctx.tmp / "nosuch.gpkg" if missing else pred
        return ["polygon-metrics", str(pred), str(ref), *extra]

    return setup


def _inria(kind: str):  # type: ignore[no-untyped-def]
    def setup(ctx: Ctx) -> list[str]:
        (ctx.tmp / "maps").mkdir()
        good_file(ctx, "sub/submission.zip", "previous submission\n")
        extra: list[str] = []
        if kind == "rgb":
            tile = class_map(ctx.tmp / "maps/austin1.tif", bands=3, classes=["background", "building"])
        elif kind == "no-building":
            tile = class_map(ctx.tmp / "maps/austin1.tif", classes=["background", "road"])
        else:
            tile = class_map(ctx.tmp / "maps/austin1.tif", classes=["background", "building"])
            extra = ["--building-class", "7"]
        return ["inria-submission", str(tile), "--out", str(ctx.tmp / "sub"), *extra]

    return setup


def _splits(*extra: str):  # type: ignore[no-untyped-def]
    def setup(ctx: Ctx) -> list[str]:
        good_file(ctx, "sp.csv")
        return ["splits", str(ctx.fx("v2_store")), "--out", str(ctx.tmp / "sp.csv"), *extra]

    return setup


def _index(*extra: str, nan: bool = False):  # type: ignore[no-untyped-def]
    def setup(ctx: Ctx) -> list[str]:
        emb = ctx.copy("ssl_embeddings", "emb")
        if nan:
            vec = np.load(emb / "vectors.npy", mmap_mode="r+")
            vec[3, 0] = np.nan
            vec.flush()
        good = index_of(ctx, "idx")
        del good
        return ["index", "build", str(emb), "--out", str(ctx.tmp / "idx"), *extra]

    return setup


def _index_corrupt(command: str):  # type: ignore[no-untyped-def]
    def setup(ctx: Ctx) -> list[str]:
        idx = index_of(ctx, "idx")
        flip_byte(idx / "index.faiss", 0.7)
        if command == "search":
            return ["search", str(idx), "--id", "x"]
        return ["index", command, str(idx)]

    return setup


def _search_k0(ctx: Ctx) -> list[str]:
    return ["search", str(index_of(ctx)), "--id", "x", "-k", "0"]


def _train(**sections: dict[str, object]):  # type: ignore[no-untyped-def]
    def setup(ctx: Ctx) -> list[str]:
        run = ctx.tmp / "run"
        good_file(ctx, "run/config.json", '{"previous": "run"}\n')
        return ["train", str(train_config(ctx, ctx.fx("v2_store"), run, **sections))]

    return setup


def _train_resume_nothing(ctx: Ctx) -> list[str]:
    return ["train", str(train_config(ctx, ctx.fx("v2_store"), ctx.tmp / "run")), "--resume"]


def _train_truncated_store(ctx: Ctx) -> list[str]:
    store = _store(ctx)
    truncate(store / "data.mdb")
    return ["train", str(train_config(ctx, store, ctx.tmp / "run"))]


def _train_yaml(ctx: Ctx) -> list[str]:
    cfg = ctx.tmp / "bad.yaml"
    cfg.write_text("data:\n  root: [unclosed\n")
    return ["train", str(cfg)]


def _benchmark_config(ctx: Ctx, data: str, workers: int = 0) -> str:
    cfg = ctx.tmp / "bench.yaml"
    cfg.write_text(
        f"task: segmentation\ndata: {{{data}, patch_size: 64, num_workers: {workers}, batch_size: 4}}\n"
        f"optim: {{max_epochs: 1, limit_train_batches: 2}}\nmodel: {{encoder: resnet18}}\n"
        f"trainer: {{out: {ctx.tmp / 'run'}, progress: false}}\n"
    )
    return str(cfg)


def _isprs_foreign_colour(ctx: Ctx) -> list[str]:
    """A colour outside the ISPRS code in every training label, found by a DataLoader worker process."""
    import rasterio

    from worldclass.data.synth.urban import synth_vaihingen

    root = synth_vaihingen(ctx.tmp / "vai", areas=(1, 30), size=96)
    for label in root.rglob("top_mosaic_09cm_area*.tif"):
        if label.parent.name == "top" or "noBoundary" in label.name:
            continue
        with rasterio.open(label, "r+") as dst:
            rgb = dst.read()
            rgb[:, 2:4, 2:4] = [[[254]], [[0]], [[0]]]
            dst.write(rgb)
    return ["train", _benchmark_config(ctx, f"dataset: vaihingen, root: {root}", workers=1)]


def _crowdai_swapped_annotations(ctx: Ctx) -> list[str]:
    import shutil

    from worldclass.data.synth.crowdai import synth_crowdai

    root = synth_crowdai(ctx.tmp / "crowdai", counts=(4, 2))
    shutil.copy(root / "train" / "annotation.json", root / "val" / "annotation.json")
    return ["train", _benchmark_config(ctx, f"dataset: crowdai, root: {root}")]


def _synth_existing(ctx: Ctx) -> list[str]:
    root = _v2(ctx)
    ctx.notes["root"] = root
    return ["synth", "bigearthnet", str(root), "--patches", "4", "--seed", "9"]


def _stats_classes(ctx: Ctx) -> list[str]:
    return ["stats", str(ctx.fx("v2_store")), "--num-classes", "7"]


def _retrieval_eval_missing(ctx: Ctx) -> list[str]:
    return ["retrieval-eval", str(ctx.tmp / "nosuch"), "--out", str(ctx.tmp / "r")]


def _serve_missing_data(ctx: Ctx) -> list[str]:
    return ["serve", str(index_of(ctx)), "--port", "0", "--data", str(ctx.tmp / "nosuch")]


def _serve_truncated_ckpt(ctx: Ctx) -> list[str]:
    ckpt = ctx.copy("ssl_checkpoint", "ssl.ckpt")
    truncate(ckpt)
    return ["serve", str(index_of(ctx)), "--port", "0", "--checkpoint", str(ckpt)]


def _serve_truncated_store(ctx: Ctx) -> list[str]:
    store = _store(ctx)
    truncate(store / "data.mdb")
    return ["serve", str(index_of(ctx)), "--port", "0", "--data", str(store)]


def _negative_workers(ctx: Ctx) -> list[str]:
    return ["encode", str(ctx.fx("v2_root")), str(ctx.tmp / "s"), "--workers", "-1"]


def _args(*args: str):  # type: ignore[no-untyped-def]
    return lambda ctx: [a.replace("{tmp}", str(ctx.tmp)) for a in args]


KEEP_ENC = ("prev/keep.txt",)
CASES = [
    # usage errors: the short usage message, exit 2
    Case("usage-missing-argument", _args("stats"), 2, "Missing argument", usage=True),
    Case("usage-unknown-command", _args("nosuch"), 2, "No such command", usage=True),
    Case("usage-unknown-option", _args("stats", "x", "--bogus"), 2, "No such option", usage=True),
    Case("usage-bad-integer", _args("search", "i", "-k", "abc"), 2, "Invalid value", usage=True),
    Case("usage-subcommand-missing", _args("index", "build"), 2, "Missing argument", usage=True),
    # missing, truncated, corrupt inputs
    Case("stats-missing-source", _args("stats", "{tmp}/nosuch"), 2, r"nosuch.*does not exist"),
    Case("stats-truncated-store", _truncated_store, 3, r"data\.mdb: truncated"),
    Case("stats-garbage-store", _garbage_store, 2, r"store.*not a readable LMDB"),
    Case("verify-damaged-patch", _damaged_patch_verify, 2, r"fails its checksum|damaged"),
    Case("embed-damaged-patch", _damaged_patch_embed, 2, r"fails its checksum.*verify"),
    Case("evaluate-truncated-ckpt", _evaluate_ckpt("truncated"), 2, r"model\.ckpt", ("eval",)),
    Case("evaluate-garbage-ckpt", _evaluate_ckpt("garbage"), 2, r"model\.ckpt", ("eval",)),
    Case("embed-truncated-ckpt", _embed_truncated_ckpt, 2, r"model\.ckpt"),
    Case("map-truncated-ckpt", _map_truncated_ckpt, 2, r"model\.ckpt", ("map.tif",)),
    Case("map-garbage-scene", _map_garbage_scene, 2, r"scene\.tif", ("map.tif",)),
    Case("map-wrong-band-count", _map_wrong_bands, 2, r"scene\.tif.*band"),
    Case("polygonize-corrupt-map", _polygonize(garbage=True), 2, r"map\.tif", ("p.gpkg",)),
    Case("polygon-metrics-missing-ref", _polygon_metrics(missing=True), 2, r"nosuch\.gpkg"),
    Case("train-truncated-store", _train_truncated_store, 3, r"data\.mdb: truncated"),
    Case("train-yaml-syntax", _train_yaml, 2, r"bad\.yaml"),
    Case("index-info-corrupt", _index_corrupt("info"), 2, r"index\.faiss.*checksum"),
    Case("search-corrupt-index", _index_corrupt("search"), 2, r"index\.faiss.*checksum"),
    Case("retrieval-eval-missing", _retrieval_eval_missing, 2, r"nosuch"),
    # encode: inconsistent archives must not become a complete, verified store
    Case("encode-band-in-other-crs", _band_crs, 3, r"B11\.tif: band B11 is in EPSG:4326", KEEP_ENC),
    Case("encode-all-nan-s1", _s1_nan, 3, r"VV\.tif: band VV holds no finite value", KEEP_ENC),
    Case("encode-unknown-label", _unknown_label, 2, r"Moon base", KEEP_ENC),
    Case("encode-string-labels", _string_labels, 2, r"labels.*list", KEEP_ENC),
    Case("encode-zero-rows", _zero_rows, 2, r"metadata\.parquet.*(no rows|empty|zero)", KEEP_ENC),
    Case("encode-v1-without-train-csv", _v1_no_train_csv, 2, r"bigearthnet-train\.csv|train", KEEP_ENC),
    Case("encode-truncated-band", _truncated_band, 3, r"B04\.tif: not a readable GeoTIFF", KEEP_ENC),
    Case("encode-missing-source", _args("encode", "{tmp}/nosuch", "{tmp}/s"), 2, r"nosuch"),
    Case("encode-negative-workers", _negative_workers, 2, "--workers -1"),
    # bad numbers and names
    Case("polygonize-chunk-0", _polygonize("--chunk", "0"), 2, r"--chunk", ("p.gpkg",)),
    Case("polygonize-chunk-negative", _polygonize("--chunk", "-5"), 2, r"--chunk", ("p.gpkg",)),
    Case("polygonize-unknown-class", _polygonize("--classes", "lake"), 2, r"lake", ("p.gpkg",)),
    Case(
        "polygonize-unknown-square-class", _polygonize("--regularize-classes", "hut"), 2, r"hut", ("p.gpkg",)
    ),
    Case("polygon-metrics-step-negative", _polygon_metrics("--step", "-1"), 2, r"--step"),
    Case("polygon-metrics-step-nan", _polygon_metrics("--step", "nan"), 2, r"--step"),
    Case("polygon-metrics-boundary-0", _polygon_metrics("--boundary-width", "0"), 2, r"--boundary-width"),
    Case("polygon-metrics-max-dets-0", _polygon_metrics("--max-detections", "0"), 2, r"--max-detections"),
    Case("inria-building-class-7", _inria("class7"), 2, r"--building-class 7", ("sub",)),
    Case("inria-rgb-tile", _inria("rgb"), 2, r"austin1\.tif.*band", ("sub",)),
    Case("inria-no-building-class", _inria("no-building"), 2, r"building", ("sub",)),
    Case("splits-unknown-country", _splits("--method", "country", "--test", "XX"), 2, r"XX", ("sp.csv",)),
    Case("splits-unknown-method", _splits("--method", "nope"), 2, r"nope", ("sp.csv",)),
    Case("splits-negative-distance", _splits("--leak-distance", "-3"), 2, r"--leak-distance -3", ("sp.csv",)),
    Case("stats-num-classes-7", _stats_classes, 2, r"--num-classes.* 7: BigEarthNet has 19 or 43"),
    Case("index-hnsw-m-0", _index("--hnsw-m", "0"), 2, r"--hnsw-m 0", ("idx",)),
    Case("index-bits-not-multiple", _index("--kind", "binary", "--bits", "12"), 2, r"--bits", ("idx",)),
    Case("index-unknown-kind", _index("--kind", "lsh"), 2, r"lsh", ("idx",)),
    Case("index-nan-embeddings", _index(nan=True), 2, r"(NaN|finite)", ("idx",)),
    Case("search-k-0", _search_k0, 2, r"-k 0: ask for 1"),
    Case("map-tile-0", _map_option("--tile", "0"), 2, r"--tile"),
    Case("map-overlap-too-big", _map_option("--tile", "64", "--overlap", "64"), 2, r"--overlap"),
    Case("map-batch-size-0", _map_option("--batch-size", "0"), 2, r"--batch-size 0"),
    Case("map-unknown-blend", _map_option("--blend", "max"), 2, r"max"),
    Case("train-batch-size-0", _train(data={"batch_size": 0}), 2, r"data\.batch_size", ("run",)),
    Case("train-negative-lr", _train(optim={"lr": -1.0}), 2, r"optim\.lr", ("run",)),
    Case("train-negative-workers", _train(data={"num_workers": -2}), 2, r"num_workers", ("run",)),
    Case("train-dropout-above-1", _train(model={"drop_rate": 1.5}), 2, r"drop_rate", ("run",)),
    Case("train-bad-precision", _train(trainer={"precision": "fp7"}), 2, r"precision", ("run",)),
    Case("train-unknown-accelerator", _train(trainer={"accelerator": "abacus"}), 2, r"accelerator", ("run",)),
    Case("train-max-epochs-0", _train(optim={"max_epochs": 0}), 2, r"max_epochs", ("run",)),
    Case("train-resume-without-last", _train_resume_nothing, 2, r"last\.ckpt.*nothing to resume"),
    Case("synth-into-existing-archive", _synth_existing, 2, r"reBEN", ("reBEN",)),
    # the mapping benchmarks' archives
    Case(
        "train-isprs-foreign-colour",
        _isprs_foreign_colour,
        2,
        r"area\d+\.tif: \d+ pixel\(s\) of colour \(254, 0, 0\)",
    ),
    Case(
        "train-crowdai-swapped-annotations",
        _crowdai_swapped_annotations,
        2,
        r"val/annotation\.json: .*train vs val",
    ),
    Case(
        "submission-without-format",
        _args("benchmark-submission", "massachusetts-roads", "{tmp}", "--out", "{tmp}/s"),
        2,
        r"'massachusetts-roads' has no official submission format",
    ),
    Case("serve-missing-data", _serve_missing_data, 2, r"nosuch"),
    Case("serve-truncated-checkpoint", _serve_truncated_ckpt, 2, r"ssl\.ckpt"),
    Case("serve-truncated-store", _serve_truncated_store, 3, r"data\.mdb: truncated"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_clean_line(
    case: Case, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check(case, request, tmp_path, capsys)
