"""`worldclass experiment retrieval`: variant shorthands, a task switch starting from the new task's
defaults, one table over CSMAE variants and SS-CM-RSIR on the same patches, ids written, a rerun read
back; and SS-CM-RSIR embeddings of SEN12MS-layout triplets per modality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from worldclass.errors import ConfigError
from worldclass.tasks import get_task, load_config
from worldclass.training.retrieval_experiment import parse_variants, run_retrieval_comparison, variant_config

SMALL = [
    "data.batch_size=8",
    "data.num_workers=0",
    "optim.max_epochs=1",
    "optim.warmup_steps=2",
    "trainer.progress=false",
]


def test_variant_shorthands_and_task_switch(tmp_path: Path) -> None:
    v = parse_variants(
        ["sesd/complementary/norm_pix", "cecd", "sscm", "mine=loss.mask_ratio=0.75;loss.cross_weight=0"]
    )
    assert v["sesd/complementary/norm_pix"] == [
        "task=csmae",
        "model.variant=sesd",
        "loss.masking=complementary",
        "loss.norm_pix=true",
    ]
    assert v["cecd"][1:] == ["model.variant=cecd", "loss.masking=random"] and v["sscm"] == ["task=sscm"]
    assert v["mine"] == ["loss.mask_ratio=0.75", "loss.cross_weight=0"]
    assert len(parse_variants(["all"])) == 12
    for bad in ("xyz", "cesd/diagonal", "name=novalue"):
        with pytest.raises(ConfigError, match="--variants"):
            parse_variants([bad])
    base = load_config(None, ["task=csmae", "data.root=x", "loss.mask_ratio=0.75", "optim.lr=0.005"])
    switched = variant_config(base, ["task=sscm"], 3, tmp_path)
    assert switched.task == "sscm" and switched.loss.temperature == 0.2  # sscm's own defaults
    assert switched.optim.lr == 0.005 and switched.trainer.seed == 3  # shared sections kept
    same = variant_config(base, ["model.variant=secd"], 0, tmp_path)
    assert same.loss.mask_ratio == 0.75 and same.model.variant == "secd"


def test_comparison_writes_one_table_and_resumes(v2_store: Path, tmp_path: Path) -> None:
    cfg = load_config(
        None,
        ["task=csmae", f"data.root={v2_store}", *get_task("csmae").smoke, *SMALL, f"trainer.out={tmp_path}"],
    )
    variants = parse_variants(
        [
            "cesd/complementary",
            "sscm=task=sscm;model.backbone=resnet10t;model.proj_dim=16;model.hidden_dim=32",
        ]
    )
    lines: list[str] = []
    result = run_retrieval_comparison(cfg, variants=variants, seeds=[0], log=lines.append)
    directions = {"S2→S2", "S1→S1", "S1→S2", "S2→S1"}
    for name in variants:
        assert set(result["summary"][name]) == directions
        run = json.loads(
            (tmp_path / "runs" / name.replace("/", "-") / "seed0" / "retrieval.json").read_text()
        )
        assert run["directions"]["S1→S2"]["queries"] > 0
    table = (tmp_path / "table.md").read_text()
    assert "| cesd/complementary |" in table and "| sscm |" in table and "S1→S2 mAP@10" in table
    from worldclass.data.dataset import BigEarthNet

    ids = json.loads((tmp_path / "subsets.json").read_text())
    assert sorted(ids["query"]) == sorted(BigEarthNet(v2_store, split="validation").patch_ids)
    assert sorted(ids["archive"]) == sorted(BigEarthNet(v2_store, split="test").patch_ids)
    lines.clear()
    again = run_retrieval_comparison(cfg, variants=variants, seeds=[0], log=lines.append)
    assert sum("done before" in x for x in lines) == 2 and again["summary"] == result["summary"]


def test_crossmodal_embeddings_of_triplets_per_modality(dfc_root: Path, tmp_path: Path) -> None:
    from rasterio.windows import Window

    from worldclass.data.sen12ms import dfc2020_split
    from worldclass.models import load_model
    from worldclass.retrieval.embed_archive import embed
    from worldclass.retrieval.embeddings import Embeddings
    from worldclass.training import train

    cfg = load_config(
        None,
        [
            "task=sscm",
            "data.dataset=dfc2020",
            f"data.root={dfc_root}",
            "data.bands=s2-10+s1",
            "data.patch_size=64",
            "data.samples_per_epoch=16",
            *get_task("sscm").smoke,
            *SMALL,
            f"trainer.out={tmp_path / 'run'}",
        ],
    )
    ckpt = train(cfg).best_checkpoint
    emb = Embeddings.open(embed(ckpt, dfc_root, tmp_path / "emb", window=256))
    assert set(emb.info["sensors"]) == {"s2", "s1"} and len(emb.select(sensor="s1", split="test")) == 6
    # an S1 row is the S1 encoder on VV, VH alone, normalised with their trained statistics
    model, meta = load_model(ckpt)
    t = dfc2020_split(dfc_root, "test")[0]
    row = emb.row_of(f"{t.s2.stem}@0,0", "s1")
    import rasterio

    with rasterio.open(t.s1) as src:
        raw = src.read(window=Window(0, 0, 256, 256)).astype(np.float32)
    idx = [meta.bands.index(b) for b in ("VV", "VH")]
    mean = np.array([meta.preprocessing["mean"][i] for i in idx], np.float32)[:, None, None]
    std = np.array([meta.preprocessing["std"][i] for i in idx], np.float32)[:, None, None]
    with torch.no_grad():
        want = model.eval().embed(torch.from_numpy((raw - mean) / std)[None], "s1", "projection")
    want = torch.nn.functional.normalize(want, dim=1)[0].numpy()
    np.testing.assert_allclose(emb.vectors[row], want, atol=1e-4)
