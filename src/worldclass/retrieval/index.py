"""faiss indexes over embedding sets, kept consistent with their rows and their source embeddings.

Layout of an index folder ``INDEX/``::

    index.json     {"format": "worldclass-index/1", "kind", "dim", "n", "params",
                    "sources": [{"embeddings": path, "fingerprint", "rows"}], "model": {...},
                    "filter": {"sensor", "split"}, "classes": [...]}
    index.faiss    faiss index (flat/hnsw/ivfpq/ivfsq: inner product on L2-normalised vectors = cosine;
                   binary: Hamming distance on hash codes)
    rows.parquet   patch_id, sensor, split, labels, source (int), row (int, row in that source)
    hash_head.*    binary kind only: the hashing head queries go through

Kinds: ``flat`` exact; ``hnsw`` graph (M, efConstruction, efSearch); ``ivfpq`` inverted lists + product
quantisation (nlist ≈ 4·√N, m sub-quantisers, nprobe; ``refine`` re-ranks with exact vectors); ``ivfsq``
inverted lists of 8-bit scalar-quantised vectors (dim bytes per vector: a 10-million-row archive of
128-dim embeddings in 1.3 GB, with recall close to exact search);
``binary`` learned hash codes (:mod:`worldclass.retrieval.hashing`) in ``IndexBinaryFlat``.
Scores: cosine (flat/hnsw/ivfpq/ivfsq, approximate for PQ/SQ) or ``1 - 2·hamming/bits`` (binary).

Every write goes to a sibling folder that replaces the index only when complete, so a failed build or
update never loses the previous index. Opening checks that the faiss index and rows agree; looking up a
stored vector checks that the source embedding set still has the fingerprint the index was built from.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from worldclass.errors import ConfigError, DataError
from worldclass.io import file_sha256
from worldclass.retrieval.embeddings import Embeddings, check_finite, l2_normalize, replace_dir

if TYPE_CHECKING:  # torch is imported only by indexes with a hashing head: searching a float index is light
    from worldclass.retrieval.hashing import HashHead

FORMAT = "worldclass-index/1"
KINDS = ("flat", "hnsw", "ivfpq", "ivfsq", "binary")


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:  # pragma: no cover - extra not installed
        raise ConfigError(
            "retrieval needs faiss: pip install -c constraints.txt 'worldclass[retrieval]'"
        ) from None
    return faiss


@dataclass
class IndexParams:
    """Build/search parameters; 0 means automatic (see module docstring)."""

    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64
    nlist: int = 0
    pq_m: int = 0
    nprobe: int = 16
    refine: bool = False
    bits: int = 64
    hash_supervision: str = "embedding"
    hash_steps: int = 600
    train_size: int = 100_000
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Refuse values faiss would abort on (a native assertion kills the process) or misuse."""
        positive = {
            "hnsw-m": self.hnsw_m,
            "ef-construction": self.ef_construction,
            "ef-search": self.ef_search,
            "nprobe": self.nprobe,
            "bits": self.bits,
            "train-size": self.train_size,
        }
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"--{name} {value}: use a positive integer")
        for name, value in {"nlist": self.nlist, "pq-m": self.pq_m, "hash-steps": self.hash_steps}.items():
            if value < 0:  # 0: automatic (nlist, pq-m) or untrained random hyperplanes (hash-steps)
                raise ConfigError(f"--{name} {value}: use 0 or a positive integer")


def _pq_m(dim: int) -> int:
    target = min(64, max(1, dim // 4))
    return max(m for m in range(1, target + 1) if dim % m == 0)


def _make(kind: str, dim: int, train: npt.NDArray[np.float32], p: IndexParams, n_total: int) -> Any:
    faiss = _faiss()
    ip = faiss.METRIC_INNER_PRODUCT
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, p.hnsw_m, ip)
        index.hnsw.efConstruction = p.ef_construction
        index.hnsw.efSearch = p.ef_search
        return index
    if kind == "ivfpq":
        n = len(train)  # the lists are trained on a sample, sized for the whole set
        p.nlist = p.nlist or max(1, min(int(4 * math.sqrt(n_total)), n // 39))
        p.pq_m = p.pq_m or _pq_m(dim)
        if dim % p.pq_m:
            raise ConfigError(f"--pq-m {p.pq_m} must divide the embedding dimension {dim}")
        nbits = 8 if n >= 256 * 39 else max(1, min(8, int(math.log2(max(n, 2))) - 1))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, p.nlist, p.pq_m, nbits, ip)
        index.train(train)
        index.nprobe = min(p.nprobe, p.nlist)
        if p.refine:
            index = faiss.IndexRefineFlat(index)
            index.k_factor = 4.0
        p.extra["pq_nbits"] = nbits
        return index
    if kind == "ivfsq":
        p.nlist = p.nlist or max(1, min(int(4 * math.sqrt(n_total)), len(train) // 39))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, p.nlist, faiss.ScalarQuantizer.QT_8bit, ip)
        index.train(train)
        index.nprobe = min(p.nprobe, p.nlist)
        return index
    if kind == "binary":
        return faiss.IndexBinaryFlat(p.bits)
    raise ConfigError(f"--kind {kind!r}: choose one of {list(KINDS)}")


def _rows_table(emb: Embeddings, rows: npt.NDArray[np.int64], source: int) -> pa.Table:
    t = emb.rows.take(pa.array(rows))
    return t.append_column("source", pa.array(np.full(len(rows), source, np.int32))).append_column(
        "row", pa.array(rows)
    )


class RetrievalIndex:
    """An opened index: :meth:`search` by vectors, :meth:`vector_of` for stored patches."""

    def __init__(
        self, path: Path, info: dict[str, Any], index: Any, rows: pa.Table, head: HashHead | None
    ) -> None:
        self.path, self.info, self.index, self.rows, self.head = path, info, index, rows, head
        self._sources: dict[int, Embeddings] = {}
        # arrow arrays, not Python lists: 10 million ids as Python strings would cost gigabytes
        self._id_array = rows.column("patch_id").combine_chunks()
        self._sensor_array = rows.column("sensor").combine_chunks()

    def key(self, i: int) -> tuple[str, str]:
        """(patch_id, sensor) of index row ``i``."""
        return str(self._id_array[int(i)].as_py()), str(self._sensor_array[int(i)].as_py())

    @classmethod
    def open(cls, path: str | Path) -> RetrievalIndex:
        faiss = _faiss()
        p = Path(path)
        info_path = p / "index.json"
        if not info_path.is_file():
            old = p.with_name(p.name + ".old")
            hint = f" (a previous version is in {old})" if old.is_dir() else ""
            raise DataError(
                f"{p}: not a worldclass index{hint}; build one with `worldclass index build EMB --out {p}`"
            )
        info = json.loads(info_path.read_text())
        if info.get("format") != FORMAT:
            raise DataError(
                f"{p}: unknown index format {info.get('format')!r}; rebuild it with `worldclass index build`"
            )
        for name, digest in info.get("sha256", {}).items():  # indexes written before checksums: none
            if not (p / name).is_file() or file_sha256(p / name) != digest:
                raise DataError(
                    f"{p / name}: missing or changed since the index was written (checksum mismatch); "
                    "rebuild with `worldclass index build`"
                )
        try:
            reader = faiss.read_index_binary if info["kind"] == "binary" else faiss.read_index
            index = reader(str(p / "index.faiss"))
            # repeated strings (sensor, split, label names) as dictionaries: a fraction of the memory
            rows = pq.read_table(
                p / "rows.parquet", read_dictionary=["sensor", "split", "labels.list.element"]
            )
        except (RuntimeError, OSError, ValueError) as exc:
            raise DataError(
                f"{p}: corrupt index files ({str(exc).splitlines()[0][:120]}); rebuild with `worldclass index build`"
            ) from None
        if index.ntotal != rows.num_rows or rows.num_rows != info["n"]:
            raise DataError(
                f"{p}: index holds {index.ntotal} vectors but rows.parquet {rows.num_rows} and index.json {info['n']}; "
                "the folder was modified by hand: rebuild with `worldclass index build`"
            )
        head = None
        if info["kind"] == "binary":
            from worldclass.retrieval.hashing import HashHead

            head = HashHead.load(p)
        obj = cls(p, info, index, rows, head)
        obj.set_search_params()
        return obj

    @property
    def kind(self) -> str:
        return str(self.info["kind"])

    @property
    def dim(self) -> int:
        return int(self.info["dim"])

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def set_search_params(self, *, ef_search: int | None = None, nprobe: int | None = None) -> None:
        p = self.info["params"]
        faiss = _faiss()
        if self.kind == "hnsw":
            faiss.downcast_index(self.index).hnsw.efSearch = ef_search or p["ef_search"]
        if self.kind in ("ivfpq", "ivfsq"):
            base = self.index.base_index if p["refine"] and self.kind == "ivfpq" else self.index
            faiss.downcast_index(base).nprobe = min(nprobe or p["nprobe"], p["nlist"])

    def source(self, i: int) -> Embeddings:
        """Source embedding set ``i``, refused when it changed since the index was built."""
        if i not in self._sources:
            src = self.info["sources"][i]
            try:
                emb = Embeddings.open(src["embeddings"])
            except DataError as exc:
                raise DataError(f"{self.path}: its embeddings are gone or unreadable ({exc})") from None
            if emb.fingerprint != src["fingerprint"]:
                raise DataError(
                    f"{self.path}: stale index: {src['embeddings']} changed since the index was built "
                    f"(fingerprint {emb.fingerprint[:8]} != {src['fingerprint'][:8]}); rebuild with "
                    f"`worldclass index build {src['embeddings']} --out {self.path} --kind {self.kind}`"
                )
            self._sources[i] = emb
        return self._sources[i]

    def locate(self, patch_id: str, sensor: str | None = None) -> tuple[Embeddings, int]:
        """(source embedding set, row) of a stored patch. Patches of any source of the index are found,
        also with a sensor the index does not hold (cross-sensor queries: index of S2, query by the S1
        row of the same embedding set)."""
        last: Exception | None = None
        for i in range(len(self.info["sources"])):
            emb = self.source(i)
            try:
                return emb, emb.row_of(patch_id, sensor)
            except ConfigError as exc:
                last = exc
        raise ConfigError(f"{self.path}: {last}") from None

    def vector_of(self, patch_id: str, sensor: str | None = None) -> npt.NDArray[np.float32]:
        """Stored (1, dim) vector of a patch, looked up in the source embeddings (no recomputation)."""
        emb, row = self.locate(patch_id, sensor)
        return np.asarray(emb.vectors[row], np.float32)[None]

    def _encode(self, vectors: npt.ArrayLike) -> Any:
        v = l2_normalize(np.atleast_2d(np.asarray(vectors, np.float32)))
        if v.shape[1] != self.dim:
            raise ConfigError(
                f"{self.path}: query vectors have dimension {v.shape[1]}, the index {self.dim}; "
                "embed queries with the model the index was built from"
            )
        return self.head.codes(v) if self.head is not None else v

    def search(
        self, vectors: npt.ArrayLike, k: int = 10, *, exclude: list[tuple[str, str]] | None = None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Top-k (scores, row indices) for (Q, dim) vectors; -1 rows where fewer than k exist.
        ``exclude``: per query a (patch_id, sensor) key left out of its results (the query itself)."""
        if k < 1:
            raise ConfigError(f"-k {k}: must be at least 1")
        q = self._encode(vectors)
        extra = 1 if exclude else 0
        kk = min(k + extra, len(self))
        dist, idx = self.index.search(q, kk)
        if self.kind == "binary":
            scores = (1 - 2 * dist.astype(np.float32) / self.info["params"]["bits"]).astype(np.float32)
        else:
            scores = dist.astype(np.float32)
        idx = idx.astype(np.int64)
        if exclude:
            keep_s, keep_i = np.full((len(q), k), np.nan, np.float32), np.full((len(q), k), -1, np.int64)
            for qi, key in enumerate(exclude):
                sel = [j for j in range(kk) if idx[qi, j] >= 0 and self.key(idx[qi, j]) != key][:k]
                keep_s[qi, : len(sel)], keep_i[qi, : len(sel)] = scores[qi, sel], idx[qi, sel]
            return keep_s, keep_i
        if kk < k:
            pad = ((0, 0), (0, k - kk))
            scores, idx = np.pad(scores, pad, constant_values=np.nan), np.pad(idx, pad, constant_values=-1)
        return scores, idx

    def results(
        self, scores: npt.NDArray[np.float32], idx: npt.NDArray[np.int64]
    ) -> list[list[dict[str, Any]]]:
        """Per query the ranked hits as dicts: rank, patch_id, sensor, score, labels."""
        out = []
        for srow, irow in zip(scores, idx, strict=True):
            out.append(
                [
                    {
                        "rank": r + 1,
                        "patch_id": self.key(i)[0],
                        "sensor": self.key(i)[1],
                        "score": round(float(s), 5),
                        "labels": list(self.rows.column("labels")[int(i)].as_py() or []),
                    }
                    for r, (s, i) in enumerate(zip(srow, irow, strict=True))
                    if i >= 0
                ]
            )
        return out


CHECKED = ("index.faiss", "rows.parquet")


def _write(out: Path, info: dict[str, Any], index: Any, rows: pa.Table, head: HashHead | None) -> None:
    faiss = _faiss()
    tmp = out.with_name(out.name + ".writing")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (faiss.write_index_binary if info["kind"] == "binary" else faiss.write_index)(
        index, str(tmp / "index.faiss")
    )
    pq.write_table(rows, tmp / "rows.parquet")
    if head is not None:
        head.save(tmp)
    info["n"] = int(index.ntotal)
    info["sha256"] = {name: file_sha256(tmp / name) for name in CHECKED}
    (tmp / "index.json").write_text(json.dumps(info, indent=1))
    replace_dir(tmp, out)


def _add_chunks(
    index: Any,
    vectors: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    head: HashHead | None,
    progress: Callable[[int, int], None] | None,
    chunk: int = 50_000,
) -> None:
    for i in range(0, len(rows), chunk):
        raw = vectors[rows[i : i + chunk]]
        check_finite(raw, "embeddings to index", i)
        v = l2_normalize(raw)
        index.add(head.codes(v) if head is not None else v)
        if progress:
            progress(min(i + chunk, len(rows)), len(rows))


def build_index(
    embeddings: str | Path,
    out: str | Path,
    kind: str = "hnsw",
    *,
    sensor: str | None = None,
    split: str | None = None,
    params: IndexParams | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RetrievalIndex:
    """Index the rows of ``embeddings`` (optionally one sensor/split) into ``out`` (replaced atomically)."""
    if kind not in KINDS:
        raise ConfigError(f"--kind {kind!r}: choose one of {list(KINDS)}")
    p = params or IndexParams()
    p.validate()
    emb = Embeddings.open(embeddings)
    rows = emb.select(sensor=sensor, split=split)
    if len(rows) == 0:
        raise ConfigError(
            f"{emb.path}: no rows with sensor={sensor} split={split}; found sensors {emb.info['sensors']}"
        )
    t0 = time.perf_counter()
    rng = np.random.default_rng(p.seed)
    sample = np.sort(rng.choice(rows, min(len(rows), p.train_size), replace=False))
    train = l2_normalize(emb.vectors[sample])
    head = None
    log: dict[str, Any] = {}
    if kind == "binary":
        labels = emb.multi_hot(sample) if p.hash_supervision == "labels" else None
        from worldclass.retrieval.hashing import HashConfig, train_hash_head

        head, log = train_hash_head(
            train,
            HashConfig(
                dim=emb.dim, bits=p.bits, supervision=p.hash_supervision, steps=p.hash_steps, seed=p.seed
            ),
            labels,
        )
    index = _make(kind, emb.dim, train, p, len(rows))
    _add_chunks(index, emb.vectors, rows, head, progress)
    info = {
        "format": FORMAT,
        "kind": kind,
        "dim": emb.dim,
        "metric": "hamming" if kind == "binary" else "cosine",
        "params": asdict(p),
        "model": emb.info.get("model", {}),
        "classes": emb.classes,
        "data": emb.info.get("data", {}),
        "filter": {"sensor": sensor, "split": split},
        "sources": [
            {"embeddings": str(emb.path.resolve()), "fingerprint": emb.fingerprint, "rows": len(rows)}
        ],
        "build_seconds": round(time.perf_counter() - t0, 3),
        "hash_training": log,
    }
    _write(Path(out), info, index, _rows_table(emb, rows, 0), head)
    return RetrievalIndex.open(out)


def add_to_index(
    index_path: str | Path, embeddings: str | Path, progress: Callable[[int, int], None] | None = None
) -> int:
    """Append the rows of another embedding set (same model) that the index does not hold yet; keys
    already present are kept as they are. Returns the number of rows added."""
    idx = RetrievalIndex.open(index_path)
    for i in range(len(idx.info["sources"])):
        idx.source(i)  # refuses when an existing source went stale
    emb = Embeddings.open(embeddings)
    if emb.dim != idx.dim or emb.info.get("model", {}).get("sha256") != idx.info["model"].get("sha256"):
        raise ConfigError(
            f"{emb.path}: made with another model or dimension than {idx.path} "
            f"({emb.dim} vs {idx.dim}); embed with the index's model or build a new index"
        )
    flt = idx.info["filter"]
    rows = emb.select(sensor=flt["sensor"], split=flt["split"])
    have = set(
        zip(idx.rows.column("patch_id").to_pylist(), idx.rows.column("sensor").to_pylist(), strict=True)
    )
    ids, sensors = emb.rows.column("patch_id").to_pylist(), emb.rows.column("sensor").to_pylist()
    new = np.array([r for r in rows if (ids[r], sensors[r]) not in have], np.int64)
    if len(new) == 0:
        return 0
    src = len(idx.info["sources"])
    _add_chunks(idx.index, emb.vectors, new, idx.head, progress)
    info = dict(idx.info)
    info["sources"] = [
        *info["sources"],
        {"embeddings": str(emb.path.resolve()), "fingerprint": emb.fingerprint, "rows": len(new)},
    ]
    added = _rows_table(emb, new, src)
    rows_table = pa.concat_tables([idx.rows.cast(added.schema), added])  # dictionaries back to plain strings
    _write(idx.path, info, idx.index, rows_table, idx.head)
    return len(new)
