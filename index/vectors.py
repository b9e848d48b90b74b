"""The vector side of a build: the FAISS chunk index and the memory-mapped chunk and sentence vectors.

Kept apart from the content database (content.py) the way txtai keeps `ann/` apart from `database/`:
this side knows rows and vectors only (a chunk's or sentence's row is its id - 1), never a table or a
text, so the index kind can change without the answer path noticing. The store (store.py) composes
the two sides into one open build.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np

FAISS_FILE = "chunks.faiss"  # FAISS ids are chunk ids
CHUNK_VECS_FILE = "chunk_vecs.npy"  # float32, row = chunk id - 1
SENT_VECS_FILE = "sent_vecs.npy"  # float16, row = sentence id - 1
VECTOR_FILES = (FAISS_FILE, CHUNK_VECS_FILE, SENT_VECS_FILE)

EXACT_MAX_CHUNKS = 150_000  # exact search up to this many chunks; IVF-PQ with exact re-ranking above
RERANK_DEPTH = 256  # candidates an approximate index returns for exact re-ranking (at least 4x k)
RERANK_FACTOR = 4
DEFAULT_DIM = 384  # the width of an empty corpus's index
# IVF-PQ: lists, training and ingestion capped so that a build stays minutes on two cores
NLIST_MAX = 2048
LIST_MIN_SIZE = 40  # vectors per inverted list, at least
TRAIN_MAX = 200_000  # vectors sampled to train the quantizers
TRAIN_PER_LIST = 64
TRAIN_PER_CODE = 40  # training vectors per PQ centroid
ADD_SLICE = 200_000  # vectors added at a time: bounded temporary memory
KMEANS_ITER = 10
PQ_SPLITS = (48, 32, 24, 16, 12, 8, 6, 4, 3, 2, 1)  # sub-quantizers tried, most first
PQ_SUB_DIMS_MAX = 16  # dimensions per sub-quantizer
NPROBE_MIN = 16
NPROBE_SHARE = 48  # nprobe = nlist // NPROBE_SHARE (at least NPROBE_MIN)
TRAIN_SEED = 0
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # recorded in the manifest; a build opened reads it from there
# A scoped search (index/sets.py) on an IVF-PQ index reads the scope's vectors exactly when it holds
# at most this many chunks: the inverted lists probed may hold too few of a small scope's chunks.
SCOPE_EXACT_MAX = 100_000


def make_faiss_index(vectors: np.ndarray, ids: np.ndarray, kind: str | None = None, exact_max: int | None = None):
    """The chunk index and its kind, chosen by size.

    "flat": exact inner product, up to `exact_max` (EXACT_MAX_CHUNKS) chunks.
    "ivfpq": above that, an inverted file of product-quantized codes (48 bytes a vector at 384
    dims) whose RERANK_DEPTH candidates Vectors.dense re-ranks exactly with the stored float32
    vectors: little memory (about 60 MB at a million chunks) and a build of minutes on two cores,
    where HNSW takes far longer. "hnsw" is still available on request."""
    import faiss

    dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[0] else DEFAULT_DIM
    limit = EXACT_MAX_CHUNKS if exact_max is None else exact_max
    kind = kind or ("flat" if len(ids) <= limit else "ivfpq")
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.asarray(ids, dtype=np.int64)
    if kind == "ivfpq" and len(ids):
        n = len(ids)
        nlist = int(max(1, min(4 * np.sqrt(n), n // LIST_MIN_SIZE, NLIST_MAX)))
        m = next(mm for mm in PQ_SPLITS if dim % mm == 0 and dim // mm <= PQ_SUB_DIMS_MAX or mm == 1)
        nbits = int(max(4, min(8, np.floor(np.log2(max(n, 16) / 4)))))
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFPQ(quantizer, dim, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.niter = KMEANS_ITER
        rng = np.random.default_rng(TRAIN_SEED)
        n_train = min(n, max(TRAIN_PER_LIST * nlist, 2**nbits * TRAIN_PER_CODE), TRAIN_MAX)
        sample = x[np.sort(rng.choice(n, n_train, replace=False))] if n_train < n else x
        ivf.train(sample)
        # faiss's stub types this C `char` field as str; SWIG takes (and the C code means) the int 0
        ivf.quantizer_trains_alone = 0  # type: ignore[assignment]
        for i in range(0, n, ADD_SLICE):
            ivf.add_with_ids(x[i : i + ADD_SLICE], ids[i : i + ADD_SLICE])
        ivf.nprobe = int(min(nlist, max(NPROBE_MIN, nlist // NPROBE_SHARE)))  # stored with the index
        ivf.parallel_mode = 0
        return ivf, kind
    base: faiss.Index
    if kind == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        hnsw.hnsw.efSearch = HNSW_EF_SEARCH
        base = hnsw
    else:
        kind = "flat" if kind == "ivfpq" else kind  # an empty corpus
        base = faiss.IndexFlatIP(dim)
    index = faiss.IndexIDMap2(base)
    if len(ids):
        index.add_with_ids(x, ids)
    return index, kind


def write_vectors(folder: Path, chunk_vecs: np.ndarray, sent_vecs: np.ndarray, index_kind: str | None = None) -> str:
    """Write the FAISS index (ids 1..n) and both vector files into `folder`; returns the index kind."""
    import faiss

    ids = np.arange(1, len(chunk_vecs) + 1, dtype=np.int64)
    index, kind = make_faiss_index(chunk_vecs, ids, index_kind)
    faiss.write_index(index, str(folder / FAISS_FILE))
    np.save(folder / CHUNK_VECS_FILE, np.ascontiguousarray(chunk_vecs, dtype=np.float32))
    np.save(folder / SENT_VECS_FILE, np.ascontiguousarray(sent_vecs, dtype=np.float16))
    return kind


def _rows(ids) -> np.ndarray:
    return np.asarray(ids, dtype=np.int64) - 1


class Vectors:
    """A build's vector files opened for reading: FAISS in memory, the vectors memory-mapped.

    Raises whatever FAISS or numpy raise on a damaged file; the store reports it as corruption."""

    def __init__(self, folder: Path, manifest: dict):
        import faiss

        self.index_type = manifest.get("index_type")
        self.faiss = faiss.read_index(str(folder / FAISS_FILE))
        if self.index_type == "hnsw":
            # read_index and downcast_index return the concrete class, but faiss's stubs say plain Index:
            # an hnsw build is an IndexIDMap2 around an IndexHNSWFlat (make_faiss_index)
            idmap = cast("faiss.IndexIDMap2", self.faiss)
            hnsw = cast("faiss.IndexHNSWFlat", faiss.downcast_index(idmap.index))
            hnsw.hnsw.efSearch = int(manifest.get("ef_search", HNSW_EF_SEARCH))
        self.chunk_vecs = np.load(folder / CHUNK_VECS_FILE, mmap_mode="r")
        self.sent_vecs = np.load(folder / SENT_VECS_FILE, mmap_mode="r")

    def dense(
        self, qvec: np.ndarray, k: int, bitmap: np.ndarray | None = None, rows: int | None = None
    ) -> list[tuple[int, float]]:
        """Top-k chunk ids by cosine; an approximate index's candidates are re-ranked exactly.

        `bitmap` (sets.Scope.bitmap: bit c set for every chunk id c allowed) restricts the search to
        those chunks through a FAISS IDSelectorBitmap, inside the one index; `rows` is how many it
        allows (an IVF-PQ index reads a scope of at most SCOPE_EXACT_MAX chunks exactly instead)."""
        if self.faiss.ntotal == 0:
            return []
        import faiss

        faiss.omp_set_num_threads(1)  # per calling thread: one question gains nothing from more, and spinning hurts
        q = np.asarray(qvec, dtype=np.float32).reshape(1, -1)
        params: faiss.SearchParameters | None = None
        if bitmap is not None:
            if rows is not None and rows == 0:
                return []
            if self.index_type == "ivfpq" and rows is not None and rows <= SCOPE_EXACT_MAX:
                return self._scope_exact(q[0], k, bitmap)
            if self.index_type == "ivfpq":
                ivf_params = faiss.SearchParametersIVF()
                ivf_params.nprobe = cast("faiss.IndexIVFPQ", self.faiss).nprobe
                params = ivf_params
            else:
                params = faiss.SearchParameters()
            sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))  # kept alive until the search ends
            params.sel = sel
        if self.index_type != "ivfpq":
            scores, ids = self.faiss.search(q, min(k, self.faiss.ntotal), params=params)
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        _, cand = self.faiss.search(q, min(max(RERANK_DEPTH, RERANK_FACTOR * k), self.faiss.ntotal), params=params)
        cand = np.sort(cand[0][cand[0] >= 0])  # ascending rows read the memory-mapped vectors in order
        if not len(cand):
            return []
        exact = np.asarray(self.chunk_vecs[cand - 1], dtype=np.float32) @ q[0]
        top = np.argsort(-exact, kind="stable")[:k]
        return [(int(cand[j]), float(exact[j])) for j in top]

    def _scope_exact(self, q: np.ndarray, k: int, bitmap: np.ndarray) -> list[tuple[int, float]]:
        """Exact top-k over the chunks a bitmap allows (their stored vectors, in ascending rows)."""
        ids = np.flatnonzero(np.unpackbits(bitmap, bitorder="little"))
        ids = ids[(ids >= 1) & (ids <= len(self.chunk_vecs))]
        if not len(ids):
            return []
        exact = np.asarray(self.chunk_vecs[ids - 1], dtype=np.float32) @ q
        top = np.argsort(-exact, kind="stable")[:k]
        return [(int(ids[j]), float(exact[j])) for j in top]

    def chunk_cosines(self, ids, qvec: np.ndarray) -> np.ndarray:
        """The query's cosine with each chunk of `ids` (stored vectors), in the order of `ids`."""
        arr = np.asarray(ids, dtype=np.int64)
        order = np.argsort(arr)  # ascending rows read the memory-mapped vectors in order
        vecs = np.asarray(self.chunk_vecs[arr[order] - 1], dtype=np.float32)
        cos = np.empty(len(arr), dtype=np.float32)
        cos[order] = vecs @ np.asarray(qvec, dtype=np.float32)
        return cos

    def chunk_vectors(self, ids) -> np.ndarray:
        """The stored vectors of chunks `ids` (float32, one row each)."""
        return np.asarray(self.chunk_vecs[_rows(ids)], dtype=np.float32)

    def sentence_vectors(self, ids) -> np.ndarray:
        """The stored vectors of sentences `ids` (float32, one row each)."""
        return np.asarray(self.sent_vecs[_rows(ids)], dtype=np.float32)
