"""Search as a service: one opened index, queries by stored patch id or by image files, RGB previews.

Used by ``worldclass search`` (one query) and ``worldclass serve`` (many queries, one process). The
checkpoint that embeds image queries is the one recorded in the index (or ``checkpoint=``); it must be
byte-identical to the model the index was built with (SHA-256 check), otherwise query and archive
vectors would not be comparable.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.errors import ConfigError, MissingFileError
from worldclass.retrieval.encoders import Encoder, file_sha256, load_encoder
from worldclass.retrieval.index import RetrievalIndex

MAX_K = 10_000  # results per query: more is a mistake (and a large response), not a search


def check_k(k: int) -> None:
    """Refuse a result count outside 1..MAX_K (``-k`` of `worldclass search`, ``k`` of the web page)."""
    if not 1 <= k <= MAX_K:
        raise ConfigError(f"-k {k}: ask for 1 to {MAX_K:,} results")


class SearchService:
    def __init__(
        self,
        index: str | Path,
        *,
        checkpoint: str | Path | None = None,
        data: str | Path | None = None,
        device: str = "auto",
    ) -> None:
        self.index = RetrievalIndex.open(index)
        model = self.index.info.get("model", {})
        self.checkpoint = Path(checkpoint or model.get("checkpoint", ""))
        self.data = Path(data or self.index.info.get("data", {}).get("root", ""))
        self.device = device
        self._encoder: Encoder | None = None
        self._previews: Previews | None = None
        if data is not None:  # given on purpose: check it now, not on the first request
            if not self.data.exists():
                raise MissingFileError(f"{self.data}: --data does not exist; give the archive or store")
            from worldclass.data.open import open_source

            open_source(self.data).table()  # layout, store completeness and truncation
        if checkpoint is not None:
            self.encoder()  # a missing, truncated or foreign checkpoint fails at start-up

    def encoder(self) -> Encoder:
        if self._encoder is None:
            if not self.checkpoint.is_file():
                raise ConfigError(
                    f"{self.index.path}: image queries need the model checkpoint {self.checkpoint}; pass --checkpoint"
                )
            if file_sha256(self.checkpoint) != self.index.info["model"].get("sha256"):
                raise ConfigError(
                    f"{self.checkpoint}: not the model this index was built with (SHA-256 differs); pass the "
                    "original checkpoint with --checkpoint or rebuild the index"
                )
            layer = self.index.info["model"].get("layer", "auto")
            self._encoder = load_encoder(self.checkpoint, layer=layer, device=self.device)
        return self._encoder

    def _answer(
        self, query: dict[str, Any], vector: np.ndarray, k: int, exclude: tuple[str, str] | None
    ) -> dict[str, Any]:
        check_k(k)
        scores, idx = self.index.search(vector, k, exclude=[exclude] if exclude else None)
        return {
            "query": query,
            "index": str(self.index.path),
            "kind": self.index.kind,
            "results": self.index.results(scores, idx)[0],
        }

    def by_id(self, patch_id: str, *, sensor: str | None = None, k: int = 10) -> dict[str, Any]:
        """Top-k for a stored patch (its vector is looked up, not recomputed); the query row itself is
        left out of its results. ``sensor`` defaults to the sensor the index was built for."""
        check_k(k)
        sensor = sensor or self.index.info["filter"].get("sensor")  # default: the sensor the index holds
        src, row = self.index.locate(patch_id, sensor)
        sensor = str(src.rows.column("sensor")[row].as_py())
        query = {"patch_id": patch_id, "sensor": sensor, "labels": src.rows.column("labels")[row].as_py()}
        return self._answer(query, np.asarray(src.vectors[row], np.float32)[None], k, (patch_id, sensor))

    def by_image(
        self, paths: Sequence[str | Path], *, sensor: str | None = None, k: int = 10
    ) -> dict[str, Any]:
        """Top-k for the files of one patch (embedded on the fly with the index's model)."""
        from worldclass.retrieval.query import embed_patches, query_sensor, read_patch

        check_k(k)
        enc = self.encoder()
        sensor = query_sensor(enc, paths, sensor)
        vector = embed_patches(enc, [read_patch(paths, enc.bands(sensor))], sensor)
        return self._answer({"files": [Path(p).name for p in paths], "sensor": sensor}, vector, k, None)

    def preview_png(self, patch_id: str, sensor: str) -> bytes | None:
        """RGB (B04/B03/B02, 2-98 % stretch) or VV (S1 rows) PNG of a patch, None when unavailable."""
        if self._previews is None:
            self._previews = Previews(self.data)
        return self._previews.png(patch_id, sensor)


class Previews:
    """120 x 120 PNG previews of an archive's patches (S2: B04/B03/B02, 2-98 % stretch; S1: VV), for the
    search and annotation pages; the archive is opened on the first request."""

    def __init__(self, data: str | Path) -> None:
        self.data = Path(data)
        self._open: dict[str, tuple[Any, dict[str, int]]] = {}
        self._lock = threading.Lock()  # the page's server answers requests in threads

    def png(self, patch_id: str, sensor: str) -> bytes | None:
        """The preview of ``patch_id`` (``sensor`` s2, s1 or s2+s1 = s2), None when unavailable."""
        kind = "s1" if sensor == "s1" else "s2"
        if sensor == "image" or not self.data.exists():
            return None
        with self._lock:
            if kind not in self._open:
                self._open[kind] = self._load(kind)
        ds, where = self._open[kind]
        if patch_id not in where:
            return None
        return _png(ds[where[patch_id]]["image"].numpy(), kind)

    def _load(self, kind: str) -> tuple[Any, dict[str, int]]:
        from worldclass.data.dataset import BigEarthNet
        from worldclass.data.sensors import RGB

        ds = BigEarthNet(
            self.data,
            split="all",
            sensors=(kind,),
            bands=["VV"] if kind == "s1" else list(RGB),
            normalize="none",
            include_snow_cloud=True,
            return_mask=False,
        )
        return ds, {p: i for i, p in enumerate(ds.patch_ids)}


def _png(img: np.ndarray, kind: str) -> bytes:
    """(C, H, W) RGB or VV pixels -> 120 x 120 PNG bytes (2-98 % stretch)."""
    from PIL import Image

    from worldclass.report.plots import stretch

    hwc = img.transpose(1, 2, 0)
    rgb = stretch(hwc) if kind == "s2" else stretch(np.repeat(hwc, 3, 2))
    buf = io.BytesIO()
    Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)).resize((120, 120)).save(buf, format="PNG")
    return buf.getvalue()
