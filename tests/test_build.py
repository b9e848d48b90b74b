"""Incremental rebuilds with the real model (starting from a copy of the session index, so only the
changed documents cost embedding time), plus build edge cases with the hash encoder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from index.build import build_index, lay_out, manifest
from index.embedding import Encoder
from index.engine import Engine
from index.errors import BuildError, IndexMismatchError
from index.store import Build, IndexStore
from index.types import Document

SB0302 = "docs_corpus/2025-11-04_treasury_sb0302_dprk-bankers-cybercrime-it-worker-funds.md"
QUESTION = "Which banks were sanctioned?"


@pytest.fixture()
def real_copy(engine, corpus_copy):
    """An Engine over a writable corpus copy whose index starts as a copy of the session's real-model index."""
    shutil.copytree(
        engine.settings.index_path, corpus_copy.index_path, ignore=shutil.ignore_patterns("lock", "activity.sqlite*")
    )
    return Engine(corpus_copy, encoder=engine.encoder)


def doc_vectors(b: Build, path: str) -> np.ndarray:
    did = next(i for i, d in b.documents.items() if d["path"] == path)
    return b.chunk_vectors(b.chunk_ids(did))


def test_nothing_changed_keeps_build_and_touch_is_not_a_change(real_copy):
    eng = real_copy
    n = len(eng.build().documents)
    first = eng.build().build_id
    os.utime(eng.settings.root / SB0302, (time.time() + 100, time.time() + 100))  # touched, same bytes
    s = eng.rebuild()
    assert not s.switched and s.build_id == first
    assert (s.added, s.changed, s.removed, s.unchanged, s.embedded_chunks) == (0, 0, 0, n, 0)
    assert s.seconds < 3, s.seconds


def test_no_change_rebuild_does_not_load_the_model(real_copy):
    enc = Encoder()
    s = build_index(real_copy.settings, enc)
    assert not s.switched and not enc.loaded
    # and as the CLI, in a fresh process: torch is never even imported
    code = (
        "import sys, json; from cli.main import main; "
        "rc = main(['--index-dir', sys.argv[1], 'index', '--json', '-q']); "
        "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules, 'st': 'sentence_transformers' in sys.modules}))"
    )
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-c", code, str(real_copy.settings.index_path)],
        cwd=real_copy.settings.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    wall = time.monotonic() - t0
    lines = r.stdout.strip().splitlines()
    summary, flags = json.loads(lines[0]), json.loads(lines[-1])
    assert flags == {"rc": 0, "torch": False, "st": False}, r.stderr
    assert summary["switched"] is False and summary["seconds"] < 3
    print(f"no-change rebuild: {summary['seconds']:.2f} s in the build, {wall:.2f} s for the whole process")


def test_changed_document_only_its_chunks_are_embedded(real_copy):
    eng = real_copy
    old = eng.build()
    n = len(old.documents)
    path = eng.settings.root / SB0302
    path.write_text(
        path.read_text(encoding="utf-8") + "\nThe Zorblax Credit Union was also designated today.\n", encoding="utf-8"
    )
    s = eng.rebuild()
    assert s.switched and (s.added, s.changed, s.removed, s.unchanged) == (0, 1, 0, n - 1)
    new = eng.build()
    assert new.build_id == s.build_id
    did = next(i for i, d in new.documents.items() if d["path"] == SB0302)
    n_doc_chunks = new.query("select count(*) as c from chunks where doc_id = ?", (did,))[0]["c"]
    assert s.embedded_chunks == n_doc_chunks and s.chunks == new.manifest["counts"]["chunks"]
    # unchanged documents kept their vectors exactly; the changed one got fresh ones
    other = "docs_corpus/mitre-attack_g0032_lazarus-group.md"
    assert np.array_equal(doc_vectors(old, other), doc_vectors(new, other))
    assert np.allclose(np.linalg.norm(doc_vectors(new, SB0302), axis=1), 1.0, atol=1e-3)
    a = eng.ask("Which credit union was also designated?")
    assert any("Zorblax" in q.text for q in a.quotes + a.more)


def test_deleted_document_is_gone_from_answers(real_copy):
    eng = real_copy
    before = eng.ask(QUESTION)
    assert any(q.doc == SB0302 for q in before.quotes + before.more)
    (eng.settings.root / SB0302).unlink()
    s = eng.rebuild()
    assert s.switched and s.removed == 1 and s.embedded_chunks == 0
    after = eng.ask(QUESTION)
    assert after.build_id == s.build_id
    assert all(q.doc != SB0302 for q in after.quotes + after.more)
    assert SB0302 not in [d["path"] for d in eng.sources()]


def test_added_document(real_copy):
    eng = real_copy
    p = eng.settings.root / "docs_corpus" / "2026-01-01_new_note.md"
    p.write_text(
        "---\ntitle: A New Note\nurl: https://example.org/new\n---\n\n"
        "The Quuxbank of Pyongyang was named in a new note.\n"
    )
    s = eng.rebuild()
    assert s.switched and s.added == 1 and s.embedded_chunks == 1
    a = eng.ask("What was the Quuxbank of Pyongyang named in?")
    assert any(
        q.doc == "docs_corpus/2026-01-01_new_note.md" and q.url.startswith("https://example.org/new") for q in a.quotes
    )


def test_full_rebuild_reembeds_everything(corpus_copy, hash_encoder):
    first = build_index(corpus_copy, hash_encoder)
    assert first.embedded_chunks == first.chunks
    again = build_index(corpus_copy, hash_encoder, full=True)
    assert again.switched and again.embedded_chunks == again.chunks and again.added == first.added


def test_warnings_and_skips_counted(corpus_copy, hash_encoder):
    (corpus_copy.root / "docs_corpus" / "broken.md").write_bytes(b"\x00\x01binary")
    s = build_index(corpus_copy, hash_encoder)
    assert s.skipped == 1 and any("docs_corpus/broken.md: skipped" in w for w in s.warnings)
    assert "1 skipped" in s.line()


def test_no_documents_is_a_clear_error(tmp_path, hash_encoder):
    from index.config import Settings

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "empty.md").write_text("")
    with pytest.raises(BuildError, match="no documents"):
        build_index(Settings(root=tmp_path, sources=("docs",), index_dir="idx"), hash_encoder)
    assert not IndexStore(tmp_path / "idx").exists()


def test_model_mismatch_says_rebuild(corpus_copy, hash_encoder, engine):
    build_index(corpus_copy, hash_encoder)
    eng = Engine(corpus_copy, encoder=engine.encoder)
    with pytest.raises(IndexMismatchError) as ei:
        eng.ask(QUESTION)
    assert "qabot index --full" in ei.value.hint


def test_a_build_without_document_fts_still_answers_and_is_upgraded(corpus_copy, hash_encoder, monkeypatch):
    """A build made before documents_fts existed: search falls back to the chunk scores, and the next
    `index` upgrades it without embedding any chunk again."""
    from index import build as build_mod
    from index.search import search

    real_write = build_mod.write_build_files
    monkeypatch.setattr(
        build_mod,
        "write_build_files",
        lambda tmp, rows, cv, sv, kind=None, document_fts=False: real_write(tmp, rows, cv, sv, kind),
    )
    first = build_index(corpus_copy, hash_encoder)
    old = IndexStore(corpus_copy.index_path).open_current()
    assert not old.has_doc_fts
    hits = search(old, QUESTION, hash_encoder.encode([QUESTION])[0])
    assert hits and all(np.isfinite(h.score) for h in hits)
    old.close()

    monkeypatch.setattr(build_mod, "write_build_files", real_write)
    again = build_index(corpus_copy, hash_encoder)
    assert again.switched and again.embedded_chunks == 0 and again.build_id != first.build_id
    new = IndexStore(corpus_copy.index_path).open_current()
    assert new.has_doc_fts
    assert build_index(corpus_copy, hash_encoder).switched is False  # and then nothing is left to do


def test_large_builds_skip_document_fts(corpus_copy, hash_encoder, monkeypatch):
    """Above search.FULL_SCAN_MAX chunks document-level BM25 is not used, so it is not built."""
    from index import build as build_mod

    monkeypatch.setattr(build_mod, "FULL_SCAN_MAX", 10)
    s = build_index(corpus_copy, hash_encoder)
    assert s.chunks > 10
    b = IndexStore(corpus_copy.index_path).open_current()
    assert not b.has_doc_fts
    assert build_index(corpus_copy, hash_encoder).switched is False  # not an outdated build


def test_an_incremental_build_stores_the_vectors_a_full_build_would(corpus_copy, hash_encoder):
    """Reused and freshly embedded vectors land in the rows a full build gives them, bit for bit."""
    build_index(corpus_copy, hash_encoder, full=True)
    doc = next((corpus_copy.root / "seeds").iterdir())
    doc.write_text(doc.read_text(encoding="utf-8") + "\nA sentence that changes this document.\n", encoding="utf-8")
    part = build_index(corpus_copy, hash_encoder)
    store = IndexStore(corpus_copy.index_path)
    inc = store.open_current()
    assert 0 < part.embedded_chunks < part.chunks  # most vectors were reused
    inc_c, inc_s = np.array(inc.vectors.chunk_vecs), np.array(inc.vectors.sent_vecs)
    inc.close()
    build_index(corpus_copy, hash_encoder, full=True)
    full = store.open_current()
    assert np.array_equal(inc_c, full.vectors.chunk_vecs) and np.array_equal(inc_s, full.vectors.sent_vecs)


def test_lay_out_gives_rows_their_ids_and_reuses_only_matching_documents():
    docs = [
        Document(path="a.md", title="A", text="One sentence here. Another one there.", content_hash="ha"),
        Document(path="empty.md", title="E", text="", content_hash="he"),
        Document(path="c.md", title="C", text="Third document text. It has two.", content_hash="hc"),
    ]
    old = {"a.md": ([7], [70, 71]), "c.md": ([9, 10], [90, 91])}  # c.md had two chunks: not reused
    lay = lay_out(docs, lambda d: old.get(d.path))
    assert [d[0] for d in lay.documents] == [1, 3] and lay.skipped == ["empty.md"]  # ids keep their place
    assert lay.reused_chunks == {0: 7} and lay.reused_sentences == {0: 70, 1: 71}
    rows = lay.rows()
    chunks, sentences = list(rows["chunks"]), list(rows["sentences"])
    assert [(c["id"], c["doc_id"], c["first_sent"], c["last_sent"]) for c in chunks] == [(1, 1, 1, 2), (2, 3, 3, 4)]
    assert [(r["id"], r["doc_id"], r["ord"]) for r in sentences] == [(1, 1, 0), (2, 1, 1), (3, 3, 0), (4, 3, 1)]
    assert all(c["text"] == docs[c["doc_id"] - 1].text[c["start"] : c["end"]] for c in chunks)
    assert [(d["id"], d["n_chunks"], d["n_sentences"]) for d in rows["documents"]] == [(1, 1, 2), (3, 1, 2)]
    df = {r["term"]: r["df"] for r in rows["terms"]}
    assert df["one"] == 1 and df["document"] == 1 and df["a"] == 1  # a title's words count as the chunk's
    assert lay.chunk_embed_texts([1]) == ["C. Third document text. It has two."]
    assert lay.sentence_texts([3]) == ["It has two."]
    m = manifest("b1", "m", 8, "flat", ("docs",), lay)
    assert m["counts"] == {"documents": 2, "chunks": 2, "sentences": 4}
    assert m["documents"] == {"a.md": "ha", "c.md": "hc"}
    assert "documents" not in manifest("b1", "m", 8, "flat", ("docs",), lay, hashes=False)
