"""Retrieval: fusion, per-document diversification, query handling that never breaks FTS5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.search import Hit, SearchParams, diversify, fuse, search


def test_rrf_rewards_agreement_between_retrievers():
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    bm25 = [(3, 12.0), (4, 11.0), (1, 5.0)]
    hits = fuse(dense, bm25, SearchParams(fusion="rrf", rrf_k=60, dense_weight=1.0, bm25_weight=1.0))
    order = [h.chunk_id for h in hits]
    assert order[:2] == [1, 3]  # in both lists: first
    assert set(order) == {1, 2, 3, 4}
    h1 = next(h for h in hits if h.chunk_id == 1)
    assert h1.dense_rank == 0 and h1.bm25_rank == 2
    assert h1.score == pytest.approx(1 / 61 + 1 / 63)


def test_rrf_weights_tilt_the_order():
    dense = [(1, 0.9), (2, 0.8)]
    bm25 = [(2, 10.0), (1, 9.0)]
    assert fuse(dense, bm25, SearchParams(fusion="rrf", dense_weight=2.0))[0].chunk_id == 1
    assert fuse(dense, bm25, SearchParams(fusion="rrf", bm25_weight=2.0))[0].chunk_id == 2


def test_weighted_fusion_uses_both_scores():
    # chunk 2 is close to the top in both lists; chunk 1 tops dense only, chunk 3 tops BM25 only
    dense = [(1, 0.80), (2, 0.78), (3, 0.40)]
    bm25 = [(3, 20.0), (2, 19.0), (1, 2.0)]
    hits = fuse(dense, bm25, SearchParams(fusion="weighted", dense_weight=0.5, bm25_weight=0.5))
    assert hits[0].chunk_id == 2
    assert all(hits[i].score >= hits[i + 1].score for i in range(len(hits) - 1))


def test_fuse_with_one_empty_list_keeps_the_other_order():
    dense = [(5, 0.9), (6, 0.5), (7, 0.1)]
    for fusion in ("rrf", "weighted"):
        assert [h.chunk_id for h in fuse(dense, [], SearchParams(fusion=fusion))] == [5, 6, 7]
        assert [h.chunk_id for h in fuse([], [(c, s * 10) for c, s in dense], SearchParams(fusion=fusion))] == [5, 6, 7]
    assert fuse([], [], SearchParams()) == []


def test_diversify_caps_chunks_per_document_in_the_head():
    hits = [Hit(i, 1.0 - i / 10) for i in range(1, 8)]
    doc_of = {1: 10, 2: 10, 3: 10, 4: 20, 5: 10, 6: 30, 7: 20}
    out = diversify(hits, doc_of, per_doc=2, top=4)
    assert [h.chunk_id for h in out[:4]] == [1, 2, 4, 6]
    assert [h.chunk_id for h in out[4:]] == [3, 5, 7]  # the rest follow, in order
    assert len(out) == len(hits) and out[0].doc_id == 10


DOCS = [
    (
        "a.md",
        "Mixers",
        "Blender.io was the first virtual currency mixer sanctioned by OFAC. Tornado Cash followed in 2022.",
    ),
    ("b.md", "Banks", "Korea Kwangson Banking Corp. and Ryujong Credit Bank were designated for sanctions evasion."),
    (
        "c.md",
        "What's new",
        'The "Lazarus Group" stole crypto; NEAR( protocol users and AND OR operators were mentioned.',
    ),
]


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
    """A three-document index built with the hash encoder (mechanics, not quality)."""
    import hashlib

    from index.build import build_index
    from index.config import Settings
    from index.embedding import HashEncoder
    from index.store import IndexStore
    from index.types import Document

    root = tmp_path_factory.mktemp("tiny")
    settings = Settings(root=Path(root), sources=(), index_dir="index")
    docs = [Document(path=p, title=t, text=x, content_hash=hashlib.sha256(x.encode()).hexdigest()) for p, t, x in DOCS]
    build_index(settings, HashEncoder(), full=True, documents=docs, sentence_vectors=False)
    return IndexStore(settings.index_path).open_current(), HashEncoder()


@pytest.mark.parametrize(
    "question",
    [
        '"',
        '""',
        '"unbalanced quote',
        "*",
        "Blender*",
        "NEAR(",
        "NEAR(a b, 3)",
        "what's",
        "AND OR",
        "OR",
        "NOT",
        "a AND b OR NOT c",
        "col:umn",
        "title:Banks",
        "^start",
        "(((",
        ")",
        "-",
        "+",
        "{x}",
        "[x]",
        "x'); drop table chunks; --",
        "’",
        "é",
        "??",
        "   ",
        "",
        "Tornado Cash OR",
        "AND",
        "\x00",
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_fts_syntax_in_questions_never_raises(tiny_build, question, mode):
    build, enc = tiny_build
    qvec = enc.encode([question])[0]
    hits = search(build, question, qvec, SearchParams(), mode=mode, k=5)
    assert isinstance(hits, list)
    assert all(isinstance(h, Hit) and h.doc_id in build.documents for h in hits)


def test_keyword_terms_with_punctuation_still_match(tiny_build):
    build, enc = tiny_build
    for q, want in (
        ("Who sanctioned Blender.io?", "a.md"),
        ("What's Ryujong Credit Bank?", "b.md"),
        ('the "Lazarus Group"', "c.md"),
    ):
        hits = search(build, q, enc.encode([q])[0], SearchParams(), mode="bm25", k=3)
        assert hits and build.documents[hits[0].doc_id]["path"] == want, q


def test_hybrid_returns_k_hits_sorted_and_without_duplicates(tiny_build):
    build, enc = tiny_build
    q = "which mixers and banks were sanctioned"
    hits = search(build, q, enc.encode([q])[0], SearchParams(), mode="hybrid", k=10)
    ids = [h.chunk_id for h in hits]
    assert len(ids) == len(set(ids)) == build.n_chunks
    assert [h.score for h in hits[:3]] == sorted((h.score for h in hits[:3]), reverse=True)


def test_no_question_vector_falls_back_to_keywords(tiny_build):
    build, _ = tiny_build
    hits = search(build, "Tornado Cash", None, SearchParams(), mode="hybrid", k=3)
    assert hits and build.documents[hits[0].doc_id]["path"] == "a.md"


@pytest.mark.slow
def test_real_corpus_finds_the_named_entity(engine):
    build = engine.build()
    q = "When did OFAC sanction Blender.io?"
    hits = search(build, q, engine.embed_question(q), SearchParams(), k=5)
    texts = [build.query("select text from chunks where id = ?", (h.chunk_id,))[0]["text"] for h in hits[:3]]
    assert any("Blender.io" in t for t in texts)
    assert len({h.chunk_id for h in hits}) == len(hits)
    assert all(np.isfinite(h.score) for h in hits)


def test_convex_fusion_uses_exact_scores_of_the_whole_union():
    # chunk 1 tops dense and was just outside BM25's list; its exact BM25 score lifts it over chunk 3
    dense = [(1, 0.90), (2, 0.50), (3, 0.45)]
    bm25 = [(3, 10.0), (4, 8.0)]
    exact_dense = {1: 0.90, 2: 0.50, 3: 0.45, 4: 0.20}
    exact_bm25 = {3: 10.0, 4: 8.0, 1: 7.5}  # chunk 2 matches no term
    p = SearchParams(fusion="convex", dense_weight=0.5, bm25_weight=0.5, norm="minmax")
    hits = fuse(dense, bm25, p, exact_dense, exact_bm25)
    assert [h.chunk_id for h in hits][:2] == [1, 3]
    h4 = next(h for h in hits if h.chunk_id == 4)
    assert h4.dense == pytest.approx(0.20) and h4.dense_rank is None and h4.bm25_rank == 1
    assert hits[0].score == pytest.approx(0.5 * 1.0 + 0.5 * 0.75)


def test_z_scaling_and_the_default_weights():
    from index.search import _scale

    z = _scale(np.array([1.0, 2.0, 3.0]), "z")
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0) and z[2] > z[1] > z[0]
    assert not _scale(np.array([4.0, 4.0]), "z").any()  # no spread: no preference either way
    p = SearchParams()
    assert p.fusion == "convex" and p.dense_weight + p.bm25_weight == pytest.approx(1.0)


def test_large_indexes_keep_the_rarest_words_and_skip_the_exact_bm25_pass(tiny_build, monkeypatch):
    from index import search as search_mod
    from index.search import keyword_query

    build, enc = tiny_build
    q = "Which virtual currency mixer did OFAC sanction first, Blender.io or Tornado Cash, and when?"
    full = keyword_query(build, q)
    assert full.count(" OR ") >= 7  # a small index searches every word
    monkeypatch.setattr(search_mod, "PRUNE_ABOVE", 0)
    pruned = keyword_query(build, q)
    kept = pruned.split(" OR ")
    assert len(kept) == search_mod.PRUNED_TERMS and all(t in full for t in kept)
    from index.text import stem

    df = lambda t: build.doc_freq([stem(t.strip('"'))])[stem(t.strip('"'))]
    dropped = [t for t in full.split(" OR ") if t not in kept]
    assert max(map(df, kept)) <= min(map(df, dropped))  # the rarest words stay
    assert '"sanction"' in dropped  # in two of the three documents
    monkeypatch.setattr(search_mod, "FULL_SCAN_MAX", 0)
    hits = search(build, q, enc.encode([q])[0], SearchParams(), k=5)
    assert hits and all(np.isfinite(h.score) for h in hits)


def test_document_bm25_joins_the_fusion():
    # chunks 1 and 2 tie on their own scores; chunk 2's document matches the question better as a whole
    dense = [(1, 0.80), (2, 0.80), (3, 0.40)]
    bm25 = [(1, 5.0), (2, 5.0), (3, 1.0)]
    ed, eb = dict(dense), dict(bm25)
    doc_bm25 = {2: 9.0, 3: 1.0}  # chunk 1's document matches no term as a whole
    p = SearchParams()
    assert [h.chunk_id for h in fuse(dense, bm25, p, ed, eb, doc_bm25)][:2] == [2, 1]
    # without document scores (or with them switched off) the tie keeps dense order
    assert [h.chunk_id for h in fuse(dense, bm25, p, ed, eb)][:2] == [1, 2]
    assert [h.chunk_id for h in fuse(dense, bm25, SearchParams(doc_weights=None), ed, eb, doc_bm25)][:2] == [1, 2]
    assert len(p.doc_weights) == 3 and p.doc_weights[2] < min(p.doc_weights[:2])  # a tie-breaker, not a third vote


def test_document_fts_in_a_build(tiny_build):
    from index.search import doc_level_bm25

    build, enc = tiny_build
    assert build.has_doc_fts
    scores = build.doc_keyword_scores('"blender.io"')
    assert scores and all(np.isfinite(v) for v in scores.values())
    for did in build.documents:
        text = (build.doc_text(did) + " " + (build.documents[did]["title"] or "")).lower()
        assert (did in scores) == ("blender.io" in text), build.documents[did]["path"]
    doc_of = {r["id"]: r["doc_id"] for r in build.query("select id, doc_id from chunks")}
    per_chunk = doc_level_bm25(build, '"mixer" OR "sanction"', doc_of)
    assert per_chunk and set(per_chunk) <= set(doc_of)
    full = build.doc_keyword_scores('"mixer" OR "sanction"')
    assert all(per_chunk[c] == full[doc_of[c]] for c in per_chunk)  # every chunk of a document gets its score
    assert doc_level_bm25(build, "", doc_of) is None
