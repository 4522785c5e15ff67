from pathlib import Path

import torch

from worldclass.data.datamodule import BigEarthNetDataModule
from worldclass.demo import run_demo


def test_datamodule_serves_three_splits(v2_store: Path) -> None:
    dm = BigEarthNetDataModule(v2_store, batch_size=4, num_workers=2, sensors=("s2", "s1"), num_classes=19)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape[1:] == (14, 120, 120) and batch["label"].shape[1] == 19
    sizes = [len(dm.datasets[s]) for s in ("train", "validation", "test")]
    assert all(n > 0 for n in sizes)
    assert sum(len(b["patch_id"]) for b in dm.test_dataloader()) == sizes[2]
    assert isinstance(next(iter(dm.val_dataloader()))["mask"], torch.Tensor)


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
    )
    html = report.read_text()
    assert "Imbalance statistics" in html and html.count("data:image/png;base64") >= 3
    assert "real BigEarthNet v1 samples" in html and lines[-1].startswith("[8/8] report")
    assert (
        "Mapping: segmentation" in html
        and 'alt="map preview"' in html
        and (tmp_path / "maps" / "buildings.gpkg").is_file()
    )
    assert "Retrieval: find patches like this one" in html and 'alt="retrieval"' in html
    assert (
        "S1→S2" in html and "random ranking" in html and (tmp_path / "indexes/csmae-s2/index.faiss").is_file()
    )
    assert "MROS + DCW" in html and 'alt="F1 vs frequency"' in html and 'alt="label co-occurrence"' in html
