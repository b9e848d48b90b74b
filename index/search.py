"""Hybrid retrieval: FAISS dense search and FTS5 BM25, fused, then diversified by document.

Hybrid search takes the top `depth` chunks of each retriever, scores every candidate of the union
exactly by *both* (cosine against the stored chunk vector; FTS5 bm25 restricted to the candidate
rows), normalises each score over the candidates and adds them with weights (a convex
combination). Unlike rank fusion this keeps how far apart the scores are, and a chunk found by one
retriever alone is no longer treated as absent from the other. Up to FULL_SCAN_MAX chunks, the BM25
score of the candidate's whole document joins them (a chunk of a document that covers the
question's words elsewhere too gains a little). Reciprocal rank fusion stays
available (`fusion="rrf"`). Measured on BEIR SciFact in docs/BENCHMARKS.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .sets import Scope
from .store import Build
from .text import fts_terms, stem

# Up to this many chunks, every candidate's BM25 score is read from one pass over all matching rows
# (5 ms at 7,600 chunks, 110 ms at 100,000); above it, a candidate outside BM25's list counts as
# the list's lowest score.
FULL_SCAN_MAX = 20_000
# Above this many chunks, the keyword query keeps only the question's rarest words: an OR of common
# words matches most of a large corpus, and FTS5 must score every match.
PRUNE_ABOVE = 20_000
PRUNED_TERMS = 5
MATCH_BUDGET = 8_000  # rarest words first, until their chunk counts add up to this


def keyword_query(build: Build, question: str) -> str:
    """The FTS5 MATCH expression for a question: an OR of its words, the rarest few on a large index
    (none, leaving the dense search alone, when even the rarest is in more than MATCH_BUDGET chunks)."""
    terms = fts_terms(question)
    if build.n_chunks > PRUNE_ABOVE:
        df = build.doc_freq(list({stem(t) for t in terms}))
        keep, total = set(), 0
        for t in sorted(terms, key=lambda t: (df.get(stem(t), 0), terms.index(t)))[:PRUNED_TERMS]:
            if total + df.get(stem(t), 0) > MATCH_BUDGET:
                break  # a word this common says little, and costs a pass over much of the index
            keep.add(t)
            total += df.get(stem(t), 0)
        terms = [t for t in terms if t in keep]
    return " OR ".join('"' + t + '"' for t in terms)


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
    depth: int = 100  # candidates taken from each retriever
    # "convex" (exact scores of the union, normalised), "weighted" (same, min-max of the lists only) or "rrf"
    fusion: str = "convex"
    rrf_k: int = 60
    dense_weight: float = 0.6
    bm25_weight: float = 0.4
    norm: str = "z"  # how each retriever's scores are scaled before the convex combination: "z", "minmax" or "max"
    per_doc: int = 2  # at most this many chunks of one document in the top `diverse_top`
    diverse_top: int = 8
    # With every candidate scored exactly (up to FULL_SCAN_MAX chunks) and a build that has
    # documents_fts, the BM25 score of the candidate's whole document joins the chunk's own two.
    # Weights for (dense, BM25, document BM25), chosen by 5-fold cross-validation on SciFact's
    # train split (docs/BENCHMARKS.md); None: chunk scores only.
    doc_weights: tuple[float, float, float] | None = (0.6, 0.4, 0.1)


def _scale(x: np.ndarray, how: str) -> np.ndarray:
    if not len(x):
        return x
    if how == "max":
        hi = float(x.max())
        return x / hi if hi > 0 else np.zeros_like(x)
    if how == "z":
        sd = float(x.std())
        return (x - float(x.mean())) / sd if sd > 0 else np.zeros_like(x)
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


def _column(ids: list[int], ranked: list[tuple[int, float]], exact: dict[int, float] | None) -> np.ndarray:
    """One retriever's score for every candidate: exact where given (0 if it does not match),
    else from its list, a candidate missing from the list counting as the list's minimum."""
    if exact is not None:
        return np.array([exact.get(c, 0.0) for c in ids])
    lo = min((s for _, s in ranked), default=0.0)
    listed = dict(ranked)
    return np.array([listed.get(c, lo) for c in ids])


def fuse(
    dense: list[tuple[int, float]],
    bm25: list[tuple[int, float]],
    p: SearchParams,
    exact_dense: dict[int, float] | None = None,
    exact_bm25: dict[int, float] | None = None,
    doc_bm25: dict[int, float] | None = None,
) -> list[Hit]:
    """Combine the two rankings into one list of hits, best first.

    `exact_dense` / `exact_bm25` give each retriever's score for every candidate of the union
    (fusion="convex"); without them a chunk missing from a list counts as that list's minimum.
    `doc_bm25` (the BM25 of each candidate chunk's whole document; absent: no match) joins with
    `p.doc_weights`.
    """
    hits: dict[int, Hit] = {}
    for rank, (cid, s) in enumerate(dense):
        hits[cid] = Hit(cid, 0.0, dense=s, dense_rank=rank)
    for rank, (cid, _) in enumerate(bm25):
        hits.setdefault(cid, Hit(cid, 0.0)).bm25_rank = rank
    if not hits:
        return []
    if p.fusion in ("convex", "weighted"):
        ids = list(hits)
        dv = _column(ids, dense, exact_dense)
        bv = _column(ids, bm25, exact_bm25)
        how = p.norm if p.fusion == "convex" else "minmax"
        score = np.zeros(len(ids))
        wd, wb = p.dense_weight, p.bm25_weight
        if doc_bm25 is not None and p.doc_weights and dense and bm25:
            wd, wb, wx = p.doc_weights
            score += wx * _scale(np.array([doc_bm25.get(c, 0.0) for c in ids]), how)
        if dense:
            score += wd * _scale(dv, how)
        if bm25:
            score += wb * _scale(bv, how)
        for c, s, d in zip(ids, score, dv):
            h = hits[c]
            h.score = float(s)
            if h.dense is None and dense:
                h.dense = float(d)
    else:
        for h in hits.values():
            s = 0.0
            if h.dense_rank is not None:
                s += p.dense_weight / (p.rrf_k + h.dense_rank + 1)
            if h.bm25_rank is not None:
                s += p.bm25_weight / (p.rrf_k + h.bm25_rank + 1)
            h.score = s
    # ties (equal scores) keep a stable order: dense rank, then BM25 rank
    return sorted(
        hits.values(),
        key=lambda h: (
            -h.score,
            h.dense_rank if h.dense_rank is not None else 1 << 30,
            h.bm25_rank if h.bm25_rank is not None else 1 << 30,
        ),
    )


def diversify(hits: list[Hit], doc_of: dict[int, int], per_doc: int, top: int) -> list[Hit]:
    """Keep at most `per_doc` chunks of one document among the first `top`; the rest follow in order."""
    head: list[Hit] = []
    tail: list[Hit] = []
    counts: dict[int, int] = {}
    for h in hits:
        h.doc_id = doc_of.get(h.chunk_id, 0)
        if len(head) < top and counts.get(h.doc_id, 0) < per_doc:
            head.append(h)
            counts[h.doc_id] = counts.get(h.doc_id, 0) + 1
        else:
            tail.append(h)
    return head + tail


def exact_scores(
    build: Build, qvec: np.ndarray, match: str, ids: list[int]
) -> tuple[dict[int, float], dict[int, float]]:
    """Cosine (stored chunk vectors) and BM25 (one FTS5 pass over the matches) for every candidate.

    A candidate that matches no query term has no BM25 score and is left out of the second dict.
    """
    if not ids:
        return {}, {}
    arr = np.asarray(ids, dtype=np.int64)
    dense = {int(c): float(s) for c, s in zip(arr, build.chunk_cosines(arr, qvec))}
    bm25 = build.keyword_scores(match, set(dense)) if match else {}
    return dense, bm25


def doc_level_bm25(build: Build, match: str, doc_of: dict[int, int]) -> dict[int, float] | None:
    """For every candidate chunk (`doc_of`: chunk id -> document id) whose document matches, that
    whole document's BM25; None when the build has no documents_fts (a large index, or one made
    before it existed)."""
    if not build.has_doc_fts or not match:
        return None
    bm = build.doc_keyword_scores(match)
    return {c: bm[d] for c, d in doc_of.items() if d in bm}


def search(
    build: Build,
    question: str,
    qvec: np.ndarray | None,
    p: SearchParams = SearchParams(),
    mode: str = "hybrid",
    k: int = 20,
    scope: Scope | None = None,
) -> list[Hit]:
    """Top chunks for a question. mode: "hybrid", "dense" or "bm25". `scope` (index/sets.py) keeps both
    retrievers to its chunks; every later candidate comes from their lists, so no hit is outside it."""
    if scope is not None and scope.empty:
        return []
    match = keyword_query(build, question) if mode in ("hybrid", "bm25") else ""
    doc_of: dict[int, int] = {}  # chunk id -> document id, read once
    dense = build.dense(qvec, p.depth, scope) if mode in ("hybrid", "dense") and qvec is not None else []
    bm25 = build.keyword(match, p.depth, scope) if match else []
    if mode == "dense":
        hits = [Hit(c, s, dense=s, dense_rank=r) for r, (c, s) in enumerate(dense)]
    elif mode == "bm25":
        hits = [Hit(c, s, bm25_rank=r) for r, (c, s) in enumerate(bm25)]
    elif p.fusion == "convex" and dense and bm25:
        assert qvec is not None  # `dense` is only non-empty when qvec was given
        ids = list(dict.fromkeys([c for c, _ in dense] + [c for c, _ in bm25]))
        full = build.n_chunks <= FULL_SCAN_MAX
        ed, eb = exact_scores(build, qvec, match if full else "", ids)
        docs = None
        if full and p.doc_weights and build.has_doc_fts:
            doc_of = build.chunk_docs(ids)
            docs = doc_level_bm25(build, match, doc_of)
        hits = fuse(dense, bm25, p, ed, eb if full else None, docs)
    else:
        hits = fuse(dense, bm25, p)
    hits = hits[: max(k, p.diverse_top) * 3]
    if not hits:
        return []
    missing = [h.chunk_id for h in hits if h.chunk_id not in doc_of]
    if missing:
        doc_of.update(build.chunk_docs(missing))
    if p.per_doc:
        hits = diversify(hits, doc_of, p.per_doc, p.diverse_top)
    else:
        for h in hits:
            h.doc_id = doc_of.get(h.chunk_id, 0)
    return hits[:k]
