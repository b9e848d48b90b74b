"""Speed work, checked for correctness (never for timings: tests must pass on a slow, busy machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import speed as bs
from index import vectors as vectors_mod
from index.config import Settings
from index.vectors import make_faiss_index

ROOT = Path(__file__).resolve().parent.parent


def _clustered(n: int, dim: int = 64, centers: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, dim)).astype(np.float32)
    x = c[rng.integers(0, centers, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_index_type_chosen_by_size():
    x = _clustered(3000)
    ids = np.arange(1, len(x) + 1)
    _, kind = make_faiss_index(x[:500], ids[:500], exact_max=1000)
    assert kind == "flat"
    index, kind = make_faiss_index(x, ids, exact_max=1000)
    assert kind == "ivfpq" and index.ntotal == len(x)
    _, kind = make_faiss_index(np.zeros((0, 64), np.float32), np.arange(0), exact_max=0)
    assert kind == "flat"  # an empty corpus never needs training


def test_build_records_approximate_index_and_dense_reranks(tmp_path, hash_encoder, monkeypatch):
    """Through build_index: the manifest names the kind, and Build.dense returns exact cosine scores."""
    from index.build import build_index
    from index.engine import Engine
    from index.types import Document

    monkeypatch.setattr(vectors_mod, "EXACT_MAX_CHUNKS", 100)
    words = "bank sanction mixer wallet token hacker launder bridge exchange treasury fraud worker".split()
    rng = np.random.default_rng(1)
    docs = [
        Document(
            path=f"d{i}.md",
            title=f"Doc {i}",
            content_hash=str(i),
            text=" ".join(rng.choice(words, 12)) + ". " + " ".join(rng.choice(words, 10)) + ".",
        )
        for i in range(400)
    ]
    settings = Settings(root=tmp_path, sources=("x",), index_dir="idx")
    summary = build_index(settings, hash_encoder, full=True, documents=docs)
    assert summary.chunks >= 400
    eng = Engine(settings, encoder=hash_encoder)
    build = eng.build()
    assert build.manifest["index_type"] == "ivfpq"
    q = hash_encoder.encode(["bank sanction treasury"])[0]
    hits = build.dense(q, 10)
    assert len(hits) == 10
    vecs = np.asarray(build.vectors.chunk_vecs, dtype=np.float32)
    for cid, score in hits:  # re-ranked scores are the exact inner products
        assert score == pytest.approx(float(vecs[cid - 1] @ q), abs=1e-5)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    qs = hash_encoder.encode(["bank mixer", "hacker bridge token", "fraud worker", "launder exchange wallet"])
    assert bs.ann_recall(build, qs, 10) >= 0.7  # tiny, tie-heavy data; the benchmark measures the real figure
    assert eng.ask("Which bank was sanctioned by the treasury?").quotes


def test_ivfpq_recall_on_clustered_data():
    x = _clustered(5000, seed=3)
    ids = np.arange(1, len(x) + 1)
    index, kind = make_faiss_index(x, ids, kind="ivfpq")
    assert kind == "ivfpq"
    q = _clustered(50, seed=4)
    exact = bs.exact_topk(x, q, 10)
    _, cand = index.search(q, vectors_mod.RERANK_DEPTH)
    approx = []
    for row in cand:  # what Build.dense does: exact re-ranking of the candidates
        row = row[row >= 0]
        s = x[row - 1] @ q[len(approx)]
        approx.append(row[np.argsort(-s)][:10].tolist())
    assert bs.recall_at_k(approx, exact.tolist(), 10) >= 0.9


def test_recall_and_exact_topk_helpers():
    assert bs.recall_at_k([[1, 2, 3]], [[1, 2, 3]], 3) == 1.0
    assert bs.recall_at_k([[1, 2, 9]], [[1, 2, 3]], 3) == pytest.approx(2 / 3)
    x = _clustered(1000, dim=16)
    q = x[[5, 17]]
    top = bs.exact_topk(x, q, 5, block=128)  # blocks smaller than the data: merged correctly
    assert top[:, 0].tolist() == [6, 18]  # 1-based ids, the query itself first
    ref = np.argsort(-(q @ x.T), axis=1)[:, :5] + 1
    assert top.tolist() == ref.tolist()


def test_percentiles():
    p = bs.percentiles([float(i) for i in range(1, 101)])
    assert (p["p50"], p["p95"], p["p99"], p["n"]) == (50.0, 95.0, 99.0, 100)
    assert bs.percentiles([])["p50"] is None


def test_synthetic_corpus_is_deterministic_and_real_text(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {
            "_id": str(i),
            "title": f"Title {i}",
            "text": f"Sentence one of abstract {i} is here. "
            f"Sentence two follows it closely. A third sentence ends abstract {i}.",
        }
        for i in range(20)
    ]
    corpus.write_text("\n".join(json.dumps(r) for r in rows))
    abstracts = bs.load_abstracts(corpus)
    assert len(abstracts) == 20 and len(abstracts[0][1]) == 3
    plan = bs.synthetic_plan(len(abstracts), 50)
    assert (plan == bs.synthetic_plan(len(abstracts), 50)).all()
    docs = bs.synthetic_documents(abstracts, plan)
    assert len({d.path for d in docs}) == 50
    assert all("Sentence" in d.text or "sentence" in d.text for d in docs)
    enc = bs.DerivedEncoder(np.eye(20, 8, dtype=np.float32) + 0.1, plan, "m")
    v1 = enc.encode([docs[3].title + ". " + docs[3].text])
    v2 = enc.encode([docs[3].title + ". " + docs[3].text])
    assert np.allclose(v1, v2) and np.linalg.norm(v1) == pytest.approx(1.0, abs=1e-5)


def test_large_index_helper_builds_tiny_size(tmp_path, hash_encoder, monkeypatch):
    """ensure_large_index on a tiny size: real store format, cached the second time, asks work."""
    from index.engine import Engine

    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {
            "_id": str(i),
            "title": f"Study {i} of kinase signalling",
            "text": f"Kinase {i} regulates apoptosis in mice. The effect was strong in cohort {i}. "
            f"Results replicate in human cells.",
        }
        for i in range(30)
    ]
    corpus.write_text("\n".join(json.dumps(r) for r in rows))
    monkeypatch.setattr(vectors_mod, "EXACT_MAX_CHUNKS", 50)
    info = bs.ensure_large_index(tmp_path, "tiny", 120, cache=tmp_path / "cache", corpus=corpus, encoder=hash_encoder)
    assert info["chunks"] >= 120 and not info["cached"]
    again = bs.ensure_large_index(tmp_path, "tiny", 120, cache=tmp_path / "cache", corpus=corpus, encoder=hash_encoder)
    assert again["cached"]
    eng = Engine(bs.large_settings(tmp_path, "tiny", tmp_path / "cache"), encoder=hash_encoder)
    assert eng.build().manifest["index_type"] == "ivfpq"
    stats = bs.measure_asks(
        eng, ["Which kinase regulates apoptosis?", "What happened in cohort 3?", "human cells"], n=6, warm=1
    )
    assert stats["n"] == 6 and stats["p50"] > 0

    # the lean writer (used for 1m) writes the same tables and counts as build_index
    monkeypatch.setattr(bs, "LEAN_ABOVE", 0)
    lean = bs.ensure_large_index(
        tmp_path, "tiny-lean", 120, cache=tmp_path / "cache", corpus=corpus, encoder=hash_encoder
    )
    assert "lean" in lean["writer"] and (lean["chunks"], lean["sentences"]) == (info["chunks"], info["sentences"])
    a = Engine(bs.large_settings(tmp_path, "tiny", tmp_path / "cache"), encoder=hash_encoder).build()
    b = Engine(bs.large_settings(tmp_path, "tiny-lean", tmp_path / "cache"), encoder=hash_encoder).build()
    for table in ("documents", "chunks", "sentences", "terms"):
        cols = "term, df" if table == "terms" else "*"
        order = "term" if table == "terms" else "id"
        assert a.query(f"select {cols} from {table} order by {order}") == b.query(
            f"select {cols} from {table} order by {order}"
        )
    assert np.array_equal(np.asarray(a.vectors.chunk_vecs), np.asarray(b.vectors.chunk_vecs))
    assert b.manifest["index_type"] == "ivfpq" and b.manifest["counts"] == a.manifest["counts"]
    assert set(a.manifest) - set(b.manifest) == {"documents"}  # one manifest function; the lean one skips the hashes


async def test_loop_lag_helper(tmp_path, hash_encoder):
    from index.engine import Engine

    src = tmp_path / "docs"
    src.mkdir()
    for i in range(3):
        (src / f"n{i}.md").write_text(f"# Note {i}\n\nThe treasury sanctioned bank {i} in 2024. It froze assets.\n")
    eng = Engine(Settings(root=tmp_path, sources=("docs",), index_dir="idx"), encoder=hash_encoder)
    eng.rebuild()
    res = await bs._loop_lag(eng, ["Which bank was sanctioned?", "What was frozen?"], n_questions=6, idle=0.1)
    assert res["errors"] == [] and res["ticks"] >= 1 and res["loop_lag_ms"] is not None


def test_check_targets():
    t = bs.check_targets({"ask_ms": {"demo": {"p95": 40.0}}, "build_ratio": 0.8, "help_s": 0.2, "loop_lag_ms": 20.0})
    assert t["ask p95 demo <= 50 ms"][0] is True
    assert t["build ratio >= 0.85"][0] is False
    assert t["ask p95 1m <= 150 ms"][0] is None


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys, contextlib, io\n"
        "from cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
        "heavy = [m for m in ('torch', 'faiss', 'sentence_transformers', 'transformers', 'numpy')\n"
        "         if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_plain_torch_encoder_matches_sentence_transformers():
    """The default backend (plain torch) gives sentence-transformers' vectors, one text or a batch."""
    from index.embedding import DIRECT_MAX, Encoder, TorchBert

    enc = Encoder(batch_size=4)
    try:
        model = enc.load()
    except Exception as exc:  # pragma: no cover - the model package is a dependency
        pytest.skip(f"model not available: {exc}")
    assert isinstance(model, TorchBert)
    ref_enc = Encoder(backend="sentence-transformers")
    texts = [
        "Which banks were sanctioned?",
        "x",
        "Ünïcode café — “quotes”, e.g. U.S. 2023",
        "A much longer passage. " * 80,
    ]  # longer than 256 tokens: truncated the same way
    assert len(texts) <= DIRECT_MAX
    ref = ref_enc.encode(texts * 3)
    assert np.abs(enc.encode(texts) - ref[:4]).max() < 1e-5
    assert np.abs(enc.encode(texts * 3) - ref).max() < 1e-5  # the batched, length-sorted path keeps order
