"""The on-disk store: layout, checksums, atomic switch, cleanup, mismatches (hash encoder: mechanics only)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from index.build import build_index
from index.errors import CorruptIndexError, IndexMismatchError, IndexUnavailableError
from index.store import BUILD_MARKER, DATA_FILES, FORMAT_VERSION, LEASE_FILE, IndexStore, sha256_file


@pytest.fixture()
def built(corpus_copy, hash_encoder):
    s = build_index(corpus_copy, hash_encoder, full=True)
    return corpus_copy, IndexStore(corpus_copy.index_path), s


def test_layout_manifest_and_checksums(built, hash_encoder):
    settings, store, summary = built
    bid, msha = store.pointer()
    assert bid == summary.build_id
    bdir = store.builds / bid
    assert sha256_file(bdir / "manifest.json") == msha
    m = json.loads((bdir / "manifest.json").read_text())
    assert m["format"] == FORMAT_VERSION and m["model"] == hash_encoder.name and m["dim"] == hash_encoder.dim
    assert m["counts"]["chunks"] == summary.chunks and m["counts"]["documents"] == summary.added
    for n in DATA_FILES:
        assert m["files"][n]["sha256"] == sha256_file(bdir / n)
        assert m["files"][n]["size"] == (bdir / n).stat().st_size
    assert sorted(p.name for p in store.builds.iterdir()) == [bid]
    assert not list(store.path.glob("CURRENT.tmp-*"))


def test_build_contents(built, hash_encoder):
    settings, store, summary = built
    b = store.open_current(hash_encoder.name, hash_encoder.dim)
    tables = {r["name"] for r in b.query("select name from sqlite_master where type in ('table', 'view')")}
    assert {"documents", "chunks", "sentences", "terms", "chunks_fts"} <= tables
    assert b.vectors.faiss.ntotal == summary.chunks == len(b.vectors.chunk_vecs)
    assert len(b.vectors.sent_vecs) == summary.sentences and b.vectors.sent_vecs.dtype == np.float16
    # FAISS ids are chunk row ids: a chunk's own vector finds itself
    for cid in (1, summary.chunks // 2, summary.chunks):
        hits = b.dense(np.asarray(b.vectors.chunk_vecs[cid - 1]), 3)
        assert cid in [h[0] for h in hits] and hits[0][1] == pytest.approx(1.0, abs=1e-4)
    assert b.keyword('"ryujong"', 5)
    assert b.keyword("", 5) == []
    b.close()


def test_the_build_answers_reads_by_name(built, hash_encoder):
    """The narrow reads the answer path and the builder use, checked against what they stand for."""
    settings, store, summary = built
    b = store.open_current()
    doc_id = next(i for i in b.documents if len(b.sentence_ids(i)) >= 4)
    sids, cids = b.sentence_ids(doc_id), b.chunk_ids(doc_id)
    sents = b.sentences(sids)
    assert [sents[i]["ord"] for i in sids] == list(range(len(sids))) and {sents[i]["doc_id"] for i in sids} == {doc_id}
    spans = [(sents[i]["start"], sents[i]["end"]) for i in sids]
    assert b.neighbours(doc_id, 0, 1) == spans[:2]  # clipped at the document's start
    assert b.neighbours(doc_id, 2, 1) == spans[1:4]
    assert b.sentence_at(doc_id, 1) == spans[1] and b.sentence_at(doc_id, len(sids)) is None
    rows = b.chunk_rows(cids)
    assert sorted(rows) == cids and rows[cids[0]]["first_sent"] == sids[0] and rows[cids[-1]]["last_sent"] == sids[-1]
    assert b.chunk_docs(cids) == dict.fromkeys(cids, doc_id)
    assert {r["path"]: r["hash"] for r in b.doc_rows()} == b.manifest["documents"]
    # vectors by id are the stored rows, whatever order the ids come in
    v = b.chunk_vectors(cids)
    assert v.dtype == np.float32 and v.shape == (len(cids), hash_encoder.dim)
    assert np.allclose(b.chunk_cosines(cids[::-1], v[0]), (v @ v[0])[::-1], atol=1e-6)
    stored = np.asarray(
        b.vectors.sent_vecs[sids[0] - 1 : sids[-1]], dtype=np.float32
    )  # a document's ids are consecutive
    assert np.array_equal(b.sentence_vectors(sids[::-1]), stored[::-1])
    assert b.chunk_vectors([]).shape == (0, hash_encoder.dim)
    # keyword_scores: the BM25 of exactly the matching candidates, as keyword() ranks them
    ranked = dict(b.keyword('"ryujong"', 100))
    assert 0 < len(ranked) < 100
    assert b.keyword_scores('"ryujong"', set(range(1, summary.chunks + 1))) == ranked
    some = set(list(ranked)[:1]) | {c for c in cids if c not in ranked}
    assert b.keyword_scores('"ryujong"', some) == {c: ranked[c] for c in some if c in ranked}
    b.close()


def test_atomic_switch_keeps_old_build_readable(built, hash_encoder):
    settings, store, first = built
    old = store.open_current()
    doc = settings.root / "seeds" / next(p.name for p in (settings.root / "seeds").iterdir())
    doc.write_text(doc.read_text(encoding="utf-8") + "\nOne more sentence for a new build.\n", encoding="utf-8")
    second = build_index(settings, hash_encoder)
    assert second.switched and second.build_id != first.build_id and second.build_id > first.build_id
    new = store.open_current()
    assert new.build_id == second.build_id
    # a reader holding the old build keeps reading it, on new threads too
    assert old.query("select count(*) as n from chunks")[0]["n"] == first.chunks
    import threading

    out = []
    t = threading.Thread(target=lambda: out.append(old.query("select count(*) as n from documents")[0]["n"]))
    t.start()
    t.join()
    assert out == [first.added]
    assert sorted(p.name for p in store.builds.iterdir()) == [first.build_id, second.build_id]


def test_cleanup_keeps_current_and_previous(built, hash_encoder):
    settings, store, first = built
    ids = [first.build_id]
    for _ in range(3):
        s = build_index(settings, hash_encoder, full=True)
        ids.append(s.build_id)
    assert sorted(p.name for p in store.builds.iterdir()) == ids[-2:]
    # leftovers: an unfinished build, a pointer temp file, a finished build never switched to
    (store.builds / ".tmp-20000101T000000-aaaaaa").mkdir()
    (store.path / "CURRENT.tmp-x").write_text("x")
    orphan = store.builds / "29990101T000000-bbbbbb"
    orphan.mkdir()
    with store.lock():
        removed = store.cleanup()
    assert set(removed) == {".tmp-20000101T000000-aaaaaa", "29990101T000000-bbbbbb"}
    assert sorted(p.name for p in store.builds.iterdir()) == ids[-2:]
    assert not list(store.path.glob("CURRENT.tmp-*"))


def test_build_ids_sort_in_build_order(tmp_path):
    store = IndexStore(tmp_path)
    (tmp_path / "builds").mkdir()
    (tmp_path / "builds" / "29990101T000000-ffffff").mkdir()  # even a clock that went backwards
    bid, tmp = store.new_build_dir()
    assert bid > "29990101T000000-ffffff" and tmp.name == ".tmp-" + bid
    ids = [store.new_build_dir()[0] for _ in range(3)]
    assert ids == sorted(ids) and ids[0] > bid


def test_no_index_and_mismatches(built, tmp_path, hash_encoder):
    with pytest.raises(IndexUnavailableError) as ei:
        IndexStore(tmp_path / "none").open_current()
    assert "qabot index" in ei.value.hint
    assert not IndexStore(tmp_path / "none").exists()
    settings, store, _ = built
    with pytest.raises(IndexMismatchError) as ei:
        store.open_current("sentence-transformers/all-MiniLM-L6-v2", 384)
    assert "test/hash-encoder" in str(ei.value) and "qabot index --full" in ei.value.hint
    # a manifest of another format version (re-pointed with a matching checksum) is a mismatch too
    bid, _ = store.pointer()
    mpath = store.builds / bid / "manifest.json"
    m = json.loads(mpath.read_text())
    m["format"] = 99
    mpath.write_text(json.dumps(m))
    (store.path / "CURRENT").write_text(f"{bid} {sha256_file(mpath)}\n")
    with pytest.raises(IndexMismatchError, match="format 99"):
        store.open_current()


def test_missing_data_file_is_corruption(built):
    settings, store, _ = built
    bid, _ = store.pointer()
    (store.builds / bid / "sent_vecs.npy").unlink()
    with pytest.raises(CorruptIndexError, match="sent_vecs.npy is missing"):
        store.open_current()
    (store.builds / bid / "manifest.json").unlink()
    with pytest.raises(CorruptIndexError, match="missing"):
        store.open_current()


def test_db_opened_read_only(built):
    settings, store, _ = built
    b = store.open_current()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        b.db.execute("update documents set title = 'x'")
    b.close()


def test_an_open_build_is_never_removed_by_cleanup(built, hash_encoder):
    """Issue 10, item 3: a reader's lease (a shared flock on builds/<id>/.readers) keeps its build on disk."""
    settings, store, first = built
    reader = store.open_current()
    assert reader.build_id == first.build_id
    ids = [build_index(settings, hash_encoder, full=True).build_id for _ in range(3)]
    names = sorted(p.name for p in store.builds.iterdir())
    assert names == [first.build_id] + ids[-2:]  # kept past keep=2: the reader still has it open
    assert reader.query("select count(*) as n from chunks")[0]["n"] == first.chunks
    store.verify(reader.path, reader.manifest)
    reader.close()
    reader.close()  # twice is harmless
    s = build_index(settings, hash_encoder, full=True)
    assert sorted(p.name for p in store.builds.iterdir()) == [ids[-1], s.build_id]


def test_lease_and_marker_stay_outside_the_checksums(built):
    settings, store, _ = built
    bid, _ = store.pointer()
    bdir = store.builds / bid
    assert (bdir / LEASE_FILE).is_file() and (bdir / BUILD_MARKER).is_file()
    assert sorted(json.loads((bdir / "manifest.json").read_text())["files"]) == sorted(DATA_FILES)
    (bdir / LEASE_FILE).write_text("readers write nothing, but a change here is not corruption")
    store.open_current(verify=True).close()


def test_a_build_from_before_leases_opens_and_is_cleaned(built, hash_encoder):
    settings, store, first = built
    bdir = store.builds / first.build_id
    (bdir / LEASE_FILE).unlink()
    (bdir / BUILD_MARKER).unlink()
    b = store.open_current(verify=True)  # no lease to take: opened all the same
    assert b.build_id == first.build_id
    b.close()
    ids = [build_index(settings, hash_encoder, full=True).build_id for _ in range(2)]
    assert sorted(p.name for p in store.builds.iterdir()) == ids
