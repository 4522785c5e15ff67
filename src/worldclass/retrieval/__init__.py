"""Content-based image retrieval: embedding sets, faiss indexes (flat, HNSW, IVF-PQ, binary hash codes),
search by stored patch or by image, and the BigEarthNet retrieval evaluation (see ``retrieval.evaluate``).

Data flow: checkpoint + archive --:func:`worldclass.retrieval.embed_archive.embed`--> embedding set (``vectors.npy`` + ``rows.parquet``)
--:func:`build_index`--> index folder --:meth:`RetrievalIndex.search`--> ranked patch ids, scores, labels.
"""

from worldclass.retrieval.embeddings import Embeddings, write_embeddings
from worldclass.retrieval.index import KINDS, IndexParams, RetrievalIndex, add_to_index, build_index

__all__ = [
    "KINDS",
    "Embeddings",
    "IndexParams",
    "RetrievalIndex",
    "add_to_index",
    "build_index",
    "write_embeddings",
]
