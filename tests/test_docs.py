"""The own-data tutorial (``docs/tutorial-own-data.md``) runs as written: its config files are written,
its commands run in order in one fresh folder, its Python snippet executes; then the artefacts it
promises are checked (curves, report, map on the scene grid, polygons, predictions with full ids)."""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path

import pytest

from test_reliability.harness import run_cli

TUTORIAL = Path(__file__).parents[1] / "docs" / "tutorial-own-data.md"
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", TUTORIAL.read_text(), flags=re.S)


def test_tutorial_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    timings: list[tuple[str, float]] = []
    outputs: dict[str, dict] = {}  # type: ignore[type-arg]
    for kind, body in BLOCKS:
        if kind == "yaml":
            first = body.splitlines()[0]
            assert first.startswith("# file: "), "every YAML block of the tutorial names its file"
            Path(first.removeprefix("# file: ").strip()).write_text(body)
        elif kind == "console":
            for line in (x for x in body.splitlines() if x.startswith("$ ")):
                args = shlex.split(line[2:])
                assert args[0] == "worldclass", line
                start = time.perf_counter()
                r = run_cli(args[1:], capsys)
                timings.append((line[2:], time.perf_counter() - start))
                assert r.code == 0, f"{line}\n{r.err}"
                last = r.out.strip().splitlines()[-1] if r.out.strip() else ""
                if last.startswith("{"):
                    outputs[" ".join(args[1:3])] = json.loads(last)
        elif kind == "python":
            exec(compile(body, f"{TUTORIAL.name} python block", "exec"), {})
    print("\n".join(f"{s:6.1f} s  {c}" for c, s in timings))
    assert len(timings) >= 14

    # part 1: a segmenter that learned, its curves and report, a map on the scene grid, polygons
    curves = (tmp_path / "runs/my-segmenter/curves.csv").read_text().splitlines()
    assert len(curves) == 1 + 3 and "val/iou" in curves[0]
    assert outputs["evaluate runs/my-segmenter/checkpoints/best.ckpt"]["iou"] > 0.4
    assert (tmp_path / "runs/my-segmenter/report.html").read_text().count("<img") == 2
    import pyogrio
    import rasterio

    with rasterio.open("maps/new-area.tif") as m, rasterio.open("new-area/images/scene1.tif") as s:
        assert (m.crs, m.transform, m.shape, m.dtypes[0]) == (s.crs, s.transform, s.shape, "uint8")
    info = pyogrio.read_info("buildings.gpkg")
    assert info["features"] >= 1 and info["crs"] == "EPSG:32633"

    # part 2: tuned thresholds reused by predict; one row per patch with its full id
    import pyarrow.parquet as pq

    thresholds = json.loads((tmp_path / "runs/my-classifier/eval/thresholds.json").read_text())
    table = pq.read_table("predictions.parquet")
    meta = json.loads(table.schema.metadata[b"worldclass"])
    assert meta["thresholds"] == pytest.approx(thresholds)
    folders = sorted(p.name for p in (tmp_path / "my-patches/BigEarthNet-v1.0").iterdir() if p.is_dir())
    assert sorted(table.column("patch_id").to_pylist()) == folders
