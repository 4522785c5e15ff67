"""Compressed, searchable archives: ``worldclass compress STORE --checkpoint CODEC --out ARCHIVE``.

Every patch of a worldclass store goes through a ``codec`` checkpoint (:mod:`worldclass.models.codec`):
its bands as the checkpoint was trained on them (resampled to 10 m, normalised), the rounded latent
entropy-coded into a bitstream, and the hash code of the same encoder pass. Layout (LMDB folder,
``format`` ``worldclass-compressed-archive``, ``format_version`` 1)::

    key b"b/<patch_id>"     -> ANS bitstream of the latent (little-endian uint32 words)
    key b"h/<patch_id>"     -> hash code, bits/8 bytes (sign bits packed MSB first)
    key b"c/<patch_id>"     -> CRC-32 of bitstream + code
    key b"__meta__/info"    -> JSON: format, format_version, checkpoint (path, sha256), bands, classes,
                               latent shape, bits, source store, complete, n_patches, bytes (bitstreams,
                               codes), source_bytes, bpp
    key b"__meta__/table"   -> parquet (patch_id, split, labels, x, y, crs) in archive order
    key b"__meta__/codes"   -> every code in table order (N x bits/8 bytes): an index loads in one read

Compression runs as units of patch chunks for an executor (local processes or Ray; one writer),
resumes after an interruption, and verifies every record's checksum before the archive is marked
complete. Search runs on the codes alone (:class:`CodeIndex`, faiss ``IndexBinaryFlat``, Hamming):
nothing is decoded; ``worldclass decompress`` (:mod:`worldclass.retrieval.decompress`) restores patches.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import lmdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import torch

from worldclass.data.bigearthnet.sources import lmdb_forget, lmdb_open
from worldclass.data.encode import DEFAULT_MAP_SIZE, Encoded, EncodeResult, StoreJob
from worldclass.data.store import INFO_KEY, TABLE_KEY, lmdb_format, table_from_bytes, table_to_bytes
from worldclass.errors import ConfigError, CorruptFileError, IncompleteStoreError, MissingFileError
from worldclass.io import file_sha256

FORMAT = "worldclass-compressed-archive"
FORMAT_VERSION = 1
CODES_KEY = b"__meta__/codes"
CHUNK = 256


def _key(prefix: str, patch_id: str) -> bytes:
    return f"{prefix}/{patch_id}".encode()


def _crc(stream: bytes, code: bytes) -> bytes:
    return zlib.crc32(code, zlib.crc32(stream)).to_bytes(4, "little")


def is_archive(path: Path | str) -> bool:
    """True if ``path`` is an LMDB folder written by :class:`CompressJob` (complete or not)."""
    return lmdb_format(path) == FORMAT


@lru_cache(maxsize=2)
def _codec(checkpoint: str) -> tuple[Any, Any]:
    """(model on the CPU in eval mode, meta) of a codec checkpoint, once per process."""
    from worldclass.models.checkpoint import load_model
    from worldclass.models.codec import HashingCodec

    model, meta = load_model(checkpoint, device=torch.device("cpu"))
    if not isinstance(model, HashingCodec):
        raise ConfigError(f"{checkpoint}: a {meta.task} checkpoint; compress needs a codec one (task: codec)")
    return model.eval(), meta


@lru_cache(maxsize=2)
def _plan(checkpoint: str, store: str) -> Any:
    """The store's patches as the codec reads them (:meth:`embedding_plan` of the checkpoint's dataset)."""
    from worldclass.datasets import data_section, get_dataset

    _, meta = _codec(checkpoint)
    cfg = data_section(meta.config, store)
    return get_dataset(meta.dataset or cfg.dataset).embedding_plan(cfg, meta.preprocessing, meta.bands, None)


@dataclass(frozen=True)
class Unit:
    """Patches ``lo:hi`` of the archive order (one LMDB transaction)."""

    id: str
    lo: int
    hi: int


class CompressJob(StoreJob):
    """Store -> compressed archive, as units for an executor (``prepare`` / ``run_unit`` (any process,
    no writes) / ``record`` (driver) / ``finalize``); see the module docstring."""

    def __init__(
        self,
        store: Path | str,
        checkpoint: Path | str,
        out: Path | str,
        *,
        chunk: int = CHUNK,
        batch_size: int = 64,
        map_size: int = DEFAULT_MAP_SIZE,
    ) -> None:
        if chunk < 1 or batch_size < 1:
            raise ConfigError(f"--chunk {chunk} / --batch-size {batch_size}: use 1 or more")
        self.store, self.checkpoint, self.out = str(Path(store)), str(Path(checkpoint)), Path(out)
        self.chunk, self.batch_size, self.map_size = chunk, batch_size, map_size
        self._env: Any = None
        self._units: list[Unit] = []

    def __getstate__(self) -> dict[str, Any]:
        keep = ("store", "checkpoint", "out", "chunk", "batch_size", "map_size")
        return {**{k: self.__dict__[k] for k in keep}, "_env": None, "_units": []}

    def prepare(self) -> list[Unit]:
        """Check the checkpoint and store, open (or resume) the archive, return the chunks to run."""
        if not Path(self.checkpoint).is_file():
            raise MissingFileError(f"{self.checkpoint}: checkpoint not found")
        model, meta = _codec(self.checkpoint)
        plan = _plan(self.checkpoint, self.store)
        self.ids: list[str] = list(plan.patch_ids)
        side = int(meta.preprocessing.get("size", 120))
        with torch.no_grad():
            shape = tuple(model.g_a(torch.zeros(1, len(meta.bands), side, side)).shape[1:])
        self.info: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "checkpoint": {
                "path": str(Path(self.checkpoint).resolve()),
                "sha256": file_sha256(self.checkpoint),
            },
            "bands": list(meta.bands),
            "classes": list(meta.classes),
            "preprocessing": meta.preprocessing,
            "latent_shape": list(shape),
            "side": side,
            "bits": int(model.hash_bits),
            "source": str(Path(self.store).resolve()),
            "complete": False,
            "n_patches": len(self.ids),
        }
        self.table = pa.table(
            {
                "patch_id": self.ids,
                "split": list(plan.splits),
                "labels": pa.array(plan.labels, pa.list_(pa.string())),
            }
        )
        self.out.mkdir(parents=True, exist_ok=True)
        lmdb_forget(self.out)
        self._env = lmdb.open(str(self.out), map_size=self.map_size, subdir=True, max_dbs=0, sync=False)
        with self._env.begin(write=True) as txn:
            old = txn.get(INFO_KEY)
            if old is not None:
                prev = json.loads(old)
                same = (prev.get("format"), prev.get("checkpoint", {}).get("sha256"), prev.get("source"))
                if same != (FORMAT, self.info["checkpoint"]["sha256"], self.info["source"]):
                    raise ConfigError(
                        f"{self.out}: holds an archive of another store or checkpoint; resume it with those or "
                        "choose an empty folder"
                    )
            txn.put(INFO_KEY, json.dumps(self.info).encode())
            done = np.array([txn.get(_key("c", i)) is not None for i in self.ids], bool)
        self.result = EncodeResult(store=self.out, total=len(self.ids), encoded=0, skipped=int(done.sum()))
        self._units = []
        todo = []
        for n, lo in enumerate(range(0, len(self.ids), self.chunk)):
            unit = Unit(f"chunk-{n:06d}", lo, min(lo + self.chunk, len(self.ids)))
            self._units.append(unit)
            if not done[unit.lo : unit.hi].all():
                todo.append(unit)
        return todo

    @torch.no_grad()
    def run_unit(self, unit: Unit) -> list[Encoded]:
        """Encode patches ``lo:hi``: (patch id, (bitstream, code), None)."""
        from torch.utils.data import DataLoader, Subset

        from worldclass.data.collate import collate
        from worldclass.models.codec import encode_latents

        model, _ = _codec(self.checkpoint)
        plan = _plan(self.checkpoint, self.store)
        loader = DataLoader(
            Subset(plan.dataset, range(unit.lo, unit.hi)), batch_size=self.batch_size, collate_fn=collate
        )
        out: list[Encoded] = []
        at = unit.lo
        for batch in loader:
            y = model.g_a(batch["image"])
            streams = encode_latents(model.quantize(y, noise=False), model)
            codes = np.packbits((model.hash(y) > 0).numpy(), axis=1)
            for s, c in zip(streams, codes, strict=True):
                out.append((plan.patch_ids[at], (s, c.tobytes()), None))
                at += 1
        return out

    def record(self, unit: Unit, result: list[Encoded]) -> None:
        """Driver only: one transaction per chunk, the checksum key last (it marks the patch done)."""
        with self._env.begin(write=True) as txn:
            for pid, value, _ in result:
                assert value is not None
                stream, code = value
                txn.put(_key("b", pid), stream)
                txn.put(_key("h", pid), code)
                txn.put(_key("c", pid), _crc(stream, code))
                self.result.encoded += 1

    def finalize(self) -> EncodeResult:
        """Verify every record (present, checksum), write the table and the code block, mark complete."""
        bits = int(self.info["bits"])
        codes = np.zeros((len(self.ids), bits // 8), np.uint8)
        stream_bytes = 0
        bad: list[str] = []
        with self._env.begin(buffers=True) as txn:
            for n, pid in enumerate(self.ids):
                s, c, crc = (txn.get(_key(p, pid)) for p in ("b", "h", "c"))
                if s is None or c is None or crc is None or bytes(crc) != _crc(bytes(s), bytes(c)):
                    bad.append(pid)
                    continue
                codes[n] = np.frombuffer(c, np.uint8)
                stream_bytes += len(s)
        if bad:
            with self._env.begin(write=True) as txn:
                for pid in bad:
                    txn.delete(_key("c", pid))  # re-encoded by the next run
            raise IncompleteStoreError(
                f"{self.out}: {len(bad)} record(s) missing or damaged (first: {bad[0]}); re-run the same "
                "`worldclass compress` command to redo them"
            )
        side = int(self.info["side"])
        source_bytes = sum(p.stat().st_size for p in Path(self.store).glob("*.mdb"))
        self.info.update(
            complete=True,
            bytes={"bitstreams": stream_bytes, "codes": int(codes.size)},
            source_bytes=source_bytes,
            bpp=8 * stream_bytes / (len(self.ids) * side * side),
        )
        with self._env.begin(write=True) as txn:
            txn.put(TABLE_KEY, table_to_bytes(self.table))
            txn.put(CODES_KEY, codes.tobytes())
            txn.put(INFO_KEY, json.dumps(self.info).encode())
        self._env.sync(True)
        self.result.complete = True
        return self.result


class Archive:
    """A complete compressed archive, read-only: info, table, codes and records."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not is_archive(self.path):
            raise MissingFileError(
                f"{self.path}: not a compressed archive; write one with `worldclass compress STORE --checkpoint "
                f"CODEC --out {self.path}`"
            )
        env = lmdb_open(self.path)
        with env.begin() as txn:
            self.info: dict[str, Any] = json.loads(txn.get(INFO_KEY))
            if not self.info.get("complete"):
                raise IncompleteStoreError(
                    f"{self.path}: the archive is incomplete; re-run `worldclass compress`"
                )
            self.table = table_from_bytes(txn.get(TABLE_KEY))
            raw = txn.get(CODES_KEY)
        self.ids: list[str] = self.table.column("patch_id").to_pylist()
        self.codes = np.frombuffer(raw, np.uint8).reshape(len(self.ids), -1)
        self._row = {pid: i for i, pid in enumerate(self.ids)}

    def row(self, patch_id: str) -> int:
        if patch_id not in self._row:
            raise ConfigError(f"{self.path}: no patch {patch_id!r} in the archive")
        return self._row[patch_id]

    def streams(self, ids: list[str]) -> list[bytes]:
        """Bitstreams of ``ids``, each checked against its checksum."""
        out = []
        with lmdb_open(self.path).begin() as txn:
            for pid in ids:
                s, c, crc = (txn.get(_key(p, pid)) for p in ("b", "h", "c"))
                if s is None or crc != _crc(s, c):
                    raise CorruptFileError(
                        f"{self.path}: record of {pid} is damaged; re-create the archive with `worldclass compress`"
                    )
                out.append(bytes(s))
        return out

    def multi_hot(self, rows: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        classes = {c: j for j, c in enumerate(self.info["classes"])}
        labels = self.table.column("labels").to_pylist()
        out = np.zeros((len(np.asarray(rows)), len(classes)), bool)
        for n, r in enumerate(np.asarray(rows)):
            for name in labels[int(r)] or []:
                out[n, classes[name]] = True
        return out

    def select(self, split: str) -> npt.NDArray[np.int64]:
        names = ["validation", "val"] if split in ("val", "validation") else [split]
        splits = np.asarray(self.table.column("split").to_pylist())
        return np.flatnonzero(np.isin(splits, names)).astype(np.int64)


class CodeIndex:
    """Hamming search over an archive's codes (``rows``: which archive rows are searchable)."""

    def __init__(self, archive: Archive, rows: npt.NDArray[np.int64] | None = None) -> None:
        import faiss

        self.archive = archive
        self.rows = np.arange(len(archive.ids)) if rows is None else rows
        self.index = faiss.IndexBinaryFlat(int(archive.info["bits"]))
        self.index.add(np.ascontiguousarray(archive.codes[self.rows]))

    def search(self, codes: npt.NDArray[np.uint8], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Hamming distances (Q, k), archive rows (Q, k); -1 where fewer than k)."""
        dist, idx = self.index.search(np.ascontiguousarray(codes), k)
        return dist, np.where(idx >= 0, self.rows[idx.clip(0)], -1)

    def by_id(self, patch_id: str, k: int) -> dict[str, Any]:
        """Top-k by a stored patch's code, the patch itself left out."""
        r = self.archive.row(patch_id)
        dist, idx = self.search(self.archive.codes[r : r + 1], k + 1)
        labels = self.archive.table.column("labels").to_pylist()
        bits = int(self.archive.info["bits"])
        hits = [(d, i) for d, i in zip(dist[0], idx[0], strict=True) if i >= 0 and i != r][:k]
        return {
            "query": {"patch_id": patch_id},
            "results": [
                {
                    "rank": n + 1,
                    "patch_id": self.archive.ids[i],
                    "sensor": "codes",
                    "score": 1 - 2 * float(d) / bits,
                    "hamming": int(d),
                    "labels": labels[i] or [],
                }
                for n, (d, i) in enumerate(hits)
            ],
        }


def hamming_metrics(
    codes: npt.NDArray[np.uint8],
    labels: npt.NDArray[np.bool_],
    queries: npt.ArrayLike,
    archive: npt.ArrayLike,
    k: int,
) -> dict[str, float]:
    """Retrieval metrics (:func:`worldclass.metrics.retrieval.retrieval_metrics`) of Hamming search:
    packed ``codes`` (N, bits/8) and (N, C) labels; rows ``queries`` search rows ``archive``."""
    import faiss

    from worldclass.metrics.retrieval import retrieval_metrics

    q, a = np.asarray(queries), np.asarray(archive)
    index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    index.add(np.ascontiguousarray(codes[a]))
    _, idx = index.search(np.ascontiguousarray(codes[q]), k)
    retrieved = labels[a][idx.clip(0)] & (idx >= 0)[..., None]
    return retrieval_metrics(labels[q], retrieved)


def archive_retrieval_eval(
    path: Path | str, *, k: int = 10, query_split: str = "validation", archive_split: str = "test"
) -> dict[str, Any]:
    """The retrieval protocol on the hash codes (no decoding): queries ``query_split``, archive
    ``archive_split``; the same metrics and layout as :func:`worldclass.retrieval.evaluate.retrieval_eval`."""
    from worldclass.metrics.retrieval import retrieval_metrics

    archive = Archive(path)
    q, a = archive.select(query_split), archive.select(archive_split)
    if not len(q) or not len(a):
        raise ConfigError(f"{archive.path}: no patches in split {query_split!r} or {archive_split!r}")
    labels = archive.multi_hot(np.arange(len(archive.ids)))
    rng = np.random.default_rng(0)
    picks = np.stack([rng.choice(a, min(k, len(a)), replace=False) for _ in range(len(q))])
    return {
        "random": retrieval_metrics(labels[q], labels[picks]),
        "embeddings": str(archive.path),
        "model": archive.info["checkpoint"],
        "k": k,
        "kind": f"hash codes ({archive.info['bits']} bits, Hamming)",
        "query_split": query_split,
        "archive_split": archive_split,
        "bpp": archive.info["bpp"],
        "directions": {"codes→codes": hamming_metrics(archive.codes, labels, q, a, k)},
    }
