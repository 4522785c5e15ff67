"""Shared fixtures: small synthetic archives (v1, v2) in the official layouts, their stores, and the real
BigEarthNet v1 sample patches. Session-scoped: each archive is generated once per test run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()

REAL = Path(__file__).parent / "data" / "bigearthnet-v1-real"


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


@pytest.fixture(scope="session")
def rico_lmdb(v2_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import importlib.util

    spec = importlib.util.spec_from_file_location("rico_make", Path(__file__).parent / "data/rico/make.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_rico_lmdb(v2_root, tmp_path_factory.mktemp("rico") / "lmdb")


@pytest.fixture()
def v2_copy(v2_root: Path, tmp_path: Path) -> Path:
    """A private, mutable copy of the v2 archive (for corruption tests)."""
    dst = tmp_path / "reBEN"
    shutil.copytree(v2_root, dst)
    return dst
