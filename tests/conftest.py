"""Shared fixtures: small synthetic archives (v1, v2) in the official layouts, their stores, and the real
BigEarthNet v1 sample patches. Session-scoped: each archive is generated once per test run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):  # one intra-op thread per worker: -n 2 on 2 cores, not 2 x 2
    os.environ["OMP_NUM_THREADS"] = "1"  # also in the CLI subprocesses, so their floats match in-process runs
    import torch

    torch.set_num_threads(1)

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()

REAL = Path(__file__).parent / "data" / "bigearthnet-v1-real"


@pytest.fixture(scope="session", autouse=True)
def _derived_files_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """VRT stacks and other derived files go to the test run's folders, never to ~/.cache."""
    os.environ["WORLDCLASS_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def sen12ms_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldclass.data.synth.sen12ms import synth_sen12ms

    return synth_sen12ms(tmp_path_factory.mktemp("sen12ms") / "SEN12MS", scenes=2, patches=2, seed=5)


@pytest.fixture(scope="session")
def dfc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldclass.data.synth.sen12ms import synth_dfc2020

    return synth_dfc2020(tmp_path_factory.mktemp("dfc") / "DFC2020", validation=12, test=6, seed=6)


@pytest.fixture(scope="session")
def real_v1() -> Path:
    return REAL


@pytest.fixture(scope="session")
def v2_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldclass.data.synth.bigearthnet import synth_bigearthnet

    return synth_bigearthnet(tmp_path_factory.mktemp("v2") / "reBEN", version=2, patches=48, seed=3)


@pytest.fixture(scope="session")
def v1_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldclass.data.synth.bigearthnet import synth_bigearthnet

    return synth_bigearthnet(tmp_path_factory.mktemp("v1") / "BEN", version=1, patches=32, seed=4)


@pytest.fixture(scope="session")
def v2_store(v2_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldclass.data.encode import encode

    out = tmp_path_factory.mktemp("v2store") / "store"
    encode(v2_root, out, workers=0)
    return out


@pytest.fixture(scope="session")
def v1_store(v1_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldclass.data.encode import encode

    out = tmp_path_factory.mktemp("v1store") / "store"
    encode(v1_root, out, workers=0)
    return out


def _rico_maker():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("rico_make", Path(__file__).parent / "data/rico/make.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_rico_lmdb


@pytest.fixture(scope="session")
def rico_lmdb(v2_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _rico_maker()(v2_root, tmp_path_factory.mktemp("rico") / "lmdb")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def rico_s2_only(v2_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LMDB rico-hdl writes from the S2 folder alone: no S1 patches, no reference maps."""
    out = tmp_path_factory.mktemp("rico-s2") / "lmdb"
    return _rico_maker()(v2_root, out, s1=False, maps=False)  # type: ignore[no-any-return]


@pytest.fixture()
def v2_copy(v2_root: Path, tmp_path: Path) -> Path:
    """A private, mutable copy of the v2 archive (for corruption tests)."""
    dst = tmp_path / "reBEN"
    shutil.copytree(v2_root, dst)
    return dst


@pytest.fixture(scope="session")
def inria_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Inria layout: 5 training cities x 6 tiles (5 val + 1 train each) and 5 test tiles, 256 px."""
    from worldclass.data.synth.aerial import synth_inria

    return synth_inria(tmp_path_factory.mktemp("inria"), size=256, tiles=6, seed=1)


@pytest.fixture(scope="session")
def scenes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generic layout: two 384 px scenes with label rasters and labels.gpkg."""
    from worldclass.data.synth.aerial import synth_scenes

    return synth_scenes(tmp_path_factory.mktemp("scenes"), size=384, scenes=2, seed=2)


@pytest.fixture(scope="session")
def seg_checkpoint(scenes_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny U-Net trained for one short epoch on the vector-labelled scenes."""
    from helpers import scenes_config
    from worldclass.training import train

    return train(scenes_config(scenes_root, tmp_path_factory.mktemp("segrun"))).best_checkpoint


def _quick_train(store: Path, out: Path, *extra: str) -> Path:
    from worldclass.tasks import load_config
    from worldclass.training import train

    cfg = load_config(
        None,
        [
            f"data.root={store}",
            "data.bands=s2-10+s1",
            "data.batch_size=8",
            "data.num_workers=0",
            "optim.max_epochs=1",
            "optim.limit_train_batches=2",
            "optim.limit_val_batches=1",
            "optim.warmup_steps=1",
            f"trainer.out={out}",
            "trainer.progress=false",
            *extra,
        ],
    )
    return train(cfg).best_checkpoint


@pytest.fixture(scope="session")
def cls_checkpoint(v2_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny S2+S1 early-fusion classifier (resnet10t), trained for two batches."""
    return _quick_train(
        v2_store, tmp_path_factory.mktemp("clsrun"), "model.backbone=resnet10t", "model.drop_path_rate=0"
    )


@pytest.fixture(scope="session")
def ssl_checkpoint(v2_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny cross-sensor masked autoencoder, trained for two batches."""
    from worldclass.tasks import get_task

    return _quick_train(v2_store, tmp_path_factory.mktemp("sslrun"), "task=csmae", *get_task("csmae").smoke)


@pytest.fixture(scope="session")
def ssl_embeddings(ssl_checkpoint: Path, v2_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldclass.retrieval.embed_archive import embed

    return embed(ssl_checkpoint, v2_store, tmp_path_factory.mktemp("sslemb") / "emb", chunk=16)


@pytest.fixture(scope="session")
def learn_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 160-patch synthetic reBEN store: enough patches for a short run to show that a model learns."""
    from worldclass.data.encode import encode
    from worldclass.data.synth.bigearthnet import synth_bigearthnet

    base = tmp_path_factory.mktemp("learn")
    root = synth_bigearthnet(base / "reBEN", version=2, patches=160, seed=11)
    encode(root, base / "store", workers=0)
    return base / "store"
