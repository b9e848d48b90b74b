"""Hybrid retrieval: FAISS dense search and FTS5 BM25, fused, then diversified by document."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .store import Build
from .text import fts_query


@dataclass
class Hit:
    chunk_id: int
    score: float
    dense: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    doc_id: int = 0
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SearchParams:
    depth: int = 60  # candidates taken from each retriever
    fusion: str = "rrf"  # "rrf" or "weighted"
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    per_doc: int = 2  # at most this many chunks of one document in the top `diverse_top`
    diverse_top: int = 8


def fuse(dense: list[tuple[int, float]], bm25: list[tuple[int, float]], p: SearchParams) -> list[Hit]:
    """Combine the two rankings into one list of hits, best first."""
    hits: dict[int, Hit] = {}
    for rank, (cid, s) in enumerate(dense):
        hits[cid] = Hit(cid, 0.0, dense=s, dense_rank=rank)
    for rank, (cid, s) in enumerate(bm25):
        hits.setdefault(cid, Hit(cid, 0.0)).bm25_rank = rank
    if p.fusion == "weighted":
        def norm(pairs):
            if not pairs:
                return {}
            vals = np.array([s for _, s in pairs])
            lo, hi = vals.min(), vals.max()
            return {c: (s - lo) / (hi - lo) if hi > lo else 1.0 for c, s in pairs}
        dn, bn = norm(dense), norm(bm25)
        for h in hits.values():
            h.score = p.dense_weight * dn.get(h.chunk_id, 0.0) + p.bm25_weight * bn.get(h.chunk_id, 0.0)
    else:
        for h in hits.values():
            s = 0.0
            if h.dense_rank is not None:
                s += p.dense_weight / (p.rrf_k + h.dense_rank + 1)
            if h.bm25_rank is not None:
                s += p.bm25_weight / (p.rrf_k + h.bm25_rank + 1)
            h.score = s
    return sorted(hits.values(), key=lambda h: -h.score)


def diversify(hits: list[Hit], doc_of: dict[int, int], per_doc: int, top: int) -> list[Hit]:
    """Keep at most `per_doc` chunks of one document among the first `top`; the rest follow in order."""
    head, tail, counts = [], [], {}
    for h in hits:
        h.doc_id = doc_of.get(h.chunk_id, 0)
        if len(head) < top and counts.get(h.doc_id, 0) < per_doc:
            head.append(h)
            counts[h.doc_id] = counts.get(h.doc_id, 0) + 1
        else:
            tail.append(h)
    return head + tail


def search(build: Build, question: str, qvec: np.ndarray | None, p: SearchParams = SearchParams(),
           mode: str = "hybrid", k: int = 20) -> list[Hit]:
    """Top chunks for a question. mode: "hybrid", "dense" or "bm25"."""
    dense = build.dense(qvec, p.depth) if mode in ("hybrid", "dense") and qvec is not None else []
    bm25 = build.keyword(fts_query(question), p.depth) if mode in ("hybrid", "bm25") else []
    if mode == "dense":
        hits = [Hit(c, s, dense=s, dense_rank=r) for r, (c, s) in enumerate(dense)]
    elif mode == "bm25":
        hits = [Hit(c, s, bm25_rank=r) for r, (c, s) in enumerate(bm25)]
    else:
        hits = fuse(dense, bm25, p)
    hits = hits[: max(k, p.diverse_top) * 3]
    if not hits:
        return []
    ids = [h.chunk_id for h in hits]
    marks = ",".join("?" * len(ids))
    doc_of = {r[0]: r[1] for r in build.db.execute(f"select id, doc_id from chunks where id in ({marks})", ids)}
    if p.per_doc:
        hits = diversify(hits, doc_of, p.per_doc, p.diverse_top)
    else:
        for h in hits:
            h.doc_id = doc_of.get(h.chunk_id, 0)
    return hits[:k]
