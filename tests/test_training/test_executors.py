"""Batch work on executors: the embed work manifest run locally and on a local Ray instance (2 CPUs)
gives the same embedding set, and a run stopped under one executor resumes under the other."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from worldclass.errors import ConfigError, WorldclassError
from worldclass.retrieval.embed_archive import EmbedJob, embed
from worldclass.retrieval.embeddings import Embeddings
from worldclass.training.executors import run_units

HAS_RAY = importlib.util.find_spec("ray") is not None


class Stop(Exception):
    pass


def test_local_executor_resumes_from_the_manifest(
    ssl_checkpoint: Path, v2_store: Path, tmp_path: Path
) -> None:
    whole = embed(ssl_checkpoint, v2_store, tmp_path / "whole", chunk=16)
    job = EmbedJob(ssl_checkpoint, v2_store, tmp_path / "cut", chunk=16)
    todo = job.prepare()
    assert [u.id for u in todo] == [u.id for u in job.units()] and len(todo) >= 4
    job.run_unit(todo[0])
    job.run_unit(todo[2])  # units run in any order
    with pytest.raises(ConfigError, match="chunks not embedded yet"):
        job.finalize()
    again = EmbedJob(ssl_checkpoint, v2_store, tmp_path / "cut", chunk=16)
    left = again.prepare()
    assert [u.id for u in left] == [u.id for u in todo if u not in (todo[0], todo[2])]
    run_units(again, left, executor="local")
    a, b = Embeddings.open(whole), Embeddings.open(again.finalize())
    assert np.array_equal(a.vectors, b.vectors) and a.fingerprint == b.fingerprint
    assert a.rows.equals(b.rows)


@pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'worldclass[ray]')")
def test_ray_executor_gives_the_local_result_and_resumes_a_local_run(
    ssl_checkpoint: Path, v2_store: Path, tmp_path: Path
) -> None:
    local = Embeddings.open(embed(ssl_checkpoint, v2_store, tmp_path / "local", chunk=16))
    job = EmbedJob(ssl_checkpoint, v2_store, tmp_path / "ray", chunk=16)
    todo = job.prepare()
    job.run_unit(todo[1])  # a local run that stopped after one unit
    before = (tmp_path / "ray" / "parts" / f"{todo[1].id}.npz").stat().st_mtime_ns
    left = EmbedJob(ssl_checkpoint, v2_store, tmp_path / "ray", chunk=16).prepare()
    seen: list[tuple[int, int]] = []
    rows = run_units(job, left, executor="ray", workers=2, cpus=2, progress=lambda d, t: seen.append((d, t)))
    total = len(local)
    assert rows == total and seen[-1] == (total, total) and len(seen) == len(left)
    assert (tmp_path / "ray" / "parts" / f"{todo[1].id}.npz").stat().st_mtime_ns == before  # not redone
    ray_set = Embeddings.open(job.finalize())
    assert np.allclose(ray_set.vectors, local.vectors, atol=1e-6, rtol=0)
    assert ray_set.rows.equals(local.rows)
    import ray

    assert not ray.is_initialized()  # the local instance it started is shut down again


@pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'worldclass[ray]')")
def test_map_scenes_on_ray_are_bit_identical_and_resume_a_local_run(
    seg_checkpoint: Path, scenes_root: Path, tmp_path: Path
) -> None:
    import rasterio
    from rasterio.windows import Window

    from worldclass.mapping.job import MapJob

    (tmp_path / "in").mkdir()
    found = sorted((scenes_root / "images").glob("*.tif"))
    scenes = []
    for i in range(3):  # 192 x 192 px crops of the fixture scenes, georeferenced: three small units
        with rasterio.open(found[i % len(found)]) as src:
            win = Window(0, 0, 192, 192)
            prof = {**src.profile, "height": 192, "width": 192, "transform": src.window_transform(win)}
            prof = {k: v for k, v in prof.items() if k not in ("blockxsize", "blockysize", "tiled")}
            with rasterio.open(tmp_path / "in" / f"s{i}.tif", "w", **prof) as dst:
                dst.write(src.read(window=win))
        scenes.append(tmp_path / "in" / f"s{i}.tif")

    def job(out: Path) -> MapJob:
        return MapJob(seg_checkpoint, scenes, out, tile=128, overlap=32, batch_size=4, device="cpu")

    local = job(tmp_path / "local")
    run_units(local, local.prepare(), executor="local")
    assert job(tmp_path / "local").prepare() == []  # a rerun has nothing left to map
    mixed = job(tmp_path / "mixed")
    todo = mixed.prepare()
    mixed.run_unit(todo[0])
    mixed.record(todo[0])  # a local run stopped after the first scene
    mixed.run_unit(todo[1])  # ... and in the middle of the second: written, never recorded
    left = job(tmp_path / "mixed").prepare()
    assert [u.id for u in left] == [todo[1].id, todo[2].id]
    run_units(mixed, left, executor="ray", workers=2, cpus=2)
    for scene in scenes:
        a, b = tmp_path / "local" / f"{scene.stem}.tif", tmp_path / "mixed" / f"{scene.stem}.tif"
        with rasterio.open(a) as ra, rasterio.open(b) as rb:
            assert np.array_equal(ra.read(), rb.read()) and ra.profile == rb.profile
            assert ra.overviews(1) == rb.overviews(1) and ra.tags() == rb.tags()
            assert np.array_equal(
                ra.read(1, out_shape=(ra.height // 2, ra.width // 2)),
                rb.read(1, out_shape=(rb.height // 2, rb.width // 2)),
            )
    assert job(tmp_path / "mixed").prepare() == []
    other = MapJob(
        seg_checkpoint, scenes, tmp_path / "mixed", tile=128, overlap=0, batch_size=4, device="cpu"
    )
    assert len(other.prepare()) == 3  # other settings: the earlier maps are not taken as done
    # a unit that fails inside an actor (its scene vanished after the checks) is the user's one-line error
    broken = job(tmp_path / "broken")
    left = broken.prepare()
    scenes[1].unlink()
    with pytest.raises(WorldclassError, match="s1"):
        run_units(broken, left, executor="ray", workers=1, cpus=2)


def _store_items(store: Path) -> dict[bytes, bytes]:
    from worldclass.data.bigearthnet.sources import lmdb_open

    with lmdb_open(store).begin() as txn:
        return {bytes(k): bytes(v) for k, v in txn.cursor()}


@pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'worldclass[ray]')")
def test_encode_on_ray_writes_the_local_store_and_resumes_a_local_run(
    v2_root: Path, v2_store: Path, tmp_path: Path
) -> None:
    from worldclass.data.encode import EncodeJob

    with EncodeJob(v2_root, tmp_path / "mixed", chunk=8) as job:
        todo = job.prepare()
        job.record(todo[0], job.run_unit(todo[0]))  # a local run stopped after its first chunk
    with EncodeJob(v2_root, tmp_path / "mixed", chunk=8) as job:
        left = job.prepare()
        assert sum(u.hi - u.lo for u in left) == job.result.total - 8 and job.result.skipped == 8
        seen: list[tuple[int, int]] = []
        run_units(job, left, executor="ray", workers=2, cpus=2, progress=lambda d, t: seen.append((d, t)))
        result = job.finalize()
    assert result.complete and not result.problems and seen[-1] == (result.total, result.total)
    assert _store_items(tmp_path / "mixed") == _store_items(v2_store)  # every key and value, bit for bit


def _tall_scene(scenes_root: Path, out: Path) -> Path:
    """A 448 x 160 px georeferenced crop of a fixture scene: tall enough for three strips of 160 rows."""
    import rasterio
    from rasterio.windows import Window

    src_path = sorted((scenes_root / "images").glob("*.tif"))[0]
    with rasterio.open(src_path) as src:
        win = Window(0, 0, 160, 448)
        prof = {**src.profile, "height": 448, "width": 160, "transform": src.window_transform(win)}
        prof = {k: v for k, v in prof.items() if k not in ("blockxsize", "blockysize", "tiled")}
        out.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(out, "w", **prof) as dst:
            dst.write(src.read(window=win))
    return out


@pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'worldclass[ray]')")
def test_strips_of_one_scene_on_ray_give_the_local_map(
    seg_checkpoint: Path, scenes_root: Path, tmp_path: Path
) -> None:
    import rasterio

    from worldclass.mapping.job import MapJob

    scene = _tall_scene(scenes_root, tmp_path / "in" / "tall.tif")

    def job(out: Path, strip: int) -> MapJob:
        return MapJob(
            seg_checkpoint, [scene], out, tile=64, overlap=16, batch_size=8, device="cpu", strip_rows=strip
        )

    whole = job(tmp_path / "whole", 0)
    run_units(whole, whole.prepare(), executor="local")
    local = job(tmp_path / "local", 160)
    todo = local.prepare()
    assert [u.rows for u in todo] == [(0, 160), (160, 320), (320, 448)]
    local.run_unit(todo[2])  # a run stopped after one strip: nothing assembled yet
    local.record(todo[2])
    assert local.finalize() == [] and not (tmp_path / "local" / "tall.tif").exists()
    again = job(tmp_path / "local", 160)
    left = again.prepare()
    assert [u.rows for u in left] == [(0, 160), (160, 320)]
    run_units(again, left, executor="local")
    assert again.finalize() == [str(tmp_path / "local" / "tall.tif")]
    assert not (tmp_path / "local" / ".parts" / "tall").exists()  # parts removed once assembled
    assert job(tmp_path / "local", 160).prepare() == []  # a rerun has nothing left
    ray_job = job(tmp_path / "ray", 160)
    run_units(ray_job, ray_job.prepare(), executor="ray", workers=2, cpus=2)
    ray_job.finalize()
    with (
        rasterio.open(tmp_path / "local" / "tall.tif") as a,
        rasterio.open(tmp_path / "ray" / "tall.tif") as b,
        rasterio.open(tmp_path / "whole" / "tall.tif") as c,
    ):
        la, rb, wc = a.read(1), b.read(1), c.read(1)
        assert np.array_equal(la, rb) and a.profile == b.profile and a.overviews(1) == b.overviews(1)
        assert a.tags()["classes"] == c.tags()["classes"] and a.transform == c.transform
    # strips start on the scene's tile grid with a tile of context: the unsplit map, no seam
    assert np.array_equal(la, wc)
