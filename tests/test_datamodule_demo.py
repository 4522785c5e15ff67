import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from worldclass.data.datamodule import BigEarthNetDataModule
from worldclass.demo import run_demo


def test_datamodule_serves_three_splits(v2_store: Path) -> None:
    dm = BigEarthNetDataModule(v2_store, batch_size=4, num_workers=0, sensors=("s2", "s1"), num_classes=19)
    dm.setup("fit")  # a stage opens only its splits (a client's split file may hold no test patches)
    assert set(dm.datasets) == {"train", "validation"}
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape[1:] == (14, 120, 120) and batch["label"].shape[1] == 19
    dm.setup("test")
    sizes = [len(dm.datasets[s]) for s in ("train", "validation", "test")]
    assert all(n > 0 for n in sizes)
    assert sum(len(b["patch_id"]) for b in dm.test_dataloader()) == sizes[2]
    assert isinstance(next(iter(dm.val_dataloader()))["mask"], torch.Tensor)


class Tables(HTMLParser):
    """Every ``<table>`` of a page as a list of rows of cell texts (header row included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.tables[-1][-1].append("")

    def handle_data(self, data: str) -> None:
        if self.tables and self.tables[-1] and self.tables[-1][-1]:
            self.tables[-1][-1][-1] += data


def _table(tables: list[list[list[str]]], first_header: str, second_header: str) -> list[list[str]]:
    return next(t for t in tables if t[0][:2] == [first_header, second_header])


def test_demo_writes_report(tmp_path: Path, real_v1: Path) -> None:
    lines: list[str] = []
    report = run_demo(
        tmp_path,
        patches=40,
        workers=0,
        log=lines.append,
        real=real_v1,
        epochs=1,
        seg_epochs=1,
        scene_size=384,
        ssl_epochs=1,
        noise_epochs=1,
        align_epochs=1,
        fl_rounds=1,
        budget_epochs=1,
    )
    html = report.read_text()
    assert "Imbalance statistics" in html and html.count("data:image/png;base64") >= 3
    assert "real BigEarthNet v1 samples" in html and lines[-1].startswith("[12/12] report")
    assert (
        "Mapping: segmentation" in html
        and 'alt="map preview"' in html
        and (tmp_path / "maps" / "buildings.gpkg").is_file()
    )
    # the demo's U-Net has the frame-field head: map wrote the field, the table compares rule and learned
    assert (tmp_path / "maps" / "scene_classes.field.tif").is_file()
    # label budget: the same subsets for both initialisations, three seeds, mean ± std in the table
    assert "Label budget: DFC2020" in html and "sscl-finetune" in html
    assert len(list((tmp_path / "runs" / "label-budget" / "subsets").glob("budget-6-seed*.txt"))) == 3
    assert "right-angle rule" in html and "learned frame field" in html
    assert (tmp_path / "maps" / "buildings-learned.gpkg").is_file()
    assert "Retrieval: find patches like this one" in html and 'alt="retrieval"' in html
    assert (
        "S1→S2" in html and "random ranking" in html and (tmp_path / "indexes/csmae-s2/index.faiss").is_file()
    )
    assert "MROS + DCW" in html and 'alt="F1 vs frequency"' in html and 'alt="label co-occurrence"' in html

    assert "Noisy labels: 40 % mixed noise" in html and "Misaligned map -&gt; aligned" in html
    assert (tmp_path / "maps" / "buildings-aligned.gpkg").is_file()

    # the numbers on the page are the artefacts' numbers, not text that merely looks right
    parser = Tables()
    parser.feed(html)
    noisy = _table(parser.tables, "training", "F1 macro")
    fl = _table(parser.tables, "algorithm", "rounds")
    scaffold = json.loads((tmp_path / "runs" / "fl-scaffold" / "fl.json").read_text())["rounds"][-1]
    assert fl[2][0] == "scaffold" and float(fl[2][2]) == pytest.approx(scaffold["mb_total"], rel=1e-3)
    grid = json.loads((tmp_path / "runs" / "noisy-grid" / "eval" / "metrics.json").read_text())
    assert noisy[2][0] == "GRID-style" and float(noisy[2][3]) == pytest.approx(grid["map_macro"], abs=5e-4)
    summary = _table(parser.tables, "average", "F1")
    metrics = json.loads((tmp_path / "runs" / "mros-dcw" / "eval" / "metrics.json").read_text())
    for row in summary[1:]:
        assert float(row[1]) == pytest.approx(metrics[f"f1_{row[0]}"], abs=5e-4), row
    from worldclass.retrieval.evaluate import results_table, retrieval_eval

    _, want = results_table(
        {"self-supervised (CSMAE-style)": retrieval_eval(tmp_path / "embeddings" / "csmae")}
    )
    shown = [r for r in _table(parser.tables, "embeddings", "direction")[1:] if r[0].startswith("self")]
    assert len(shown) == len(want) == 5
    for got, row in zip(shown, want, strict=True):
        assert got[1] == row[1] and [float(v) for v in got[2:7]] == pytest.approx(row[2:7], abs=0.051), row
