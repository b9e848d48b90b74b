"""Chunks and sentences: every stored span maps back exactly to the document's clean text."""

from __future__ import annotations

import statistics

from hypothesis import given, settings
from hypothesis import strategies as st

from index.chunking import MAX_WORDS, chunk_document, split_sentences
from index.loaders import load_documents

from conftest import ROOT


def test_offsets_round_trip_for_every_chunk_and_sentence(engine):
    """The real corpus as indexed: chunk text, sentence spans and document text all agree."""
    b = engine.build()
    docs, _ = load_documents(engine.settings.source_paths, engine.settings.root)
    loaded = {d.path: d for d in docs}
    assert set(loaded) == {d["path"] for d in b.documents.values()}
    n_chunks = n_sents = 0
    for doc_id, meta in b.documents.items():
        text = b.doc_text(doc_id)
        assert text == loaded[meta["path"]].text  # stored text is the loader's clean text
        assert text in (ROOT / meta["path"]).read_text(encoding="utf-8-sig")  # which is verbatim file text
        sents = b.query("select id, ord, start, end from sentences where doc_id = ? order by ord", (doc_id,))
        chunks = b.query(
            "select id, ord, start, end, text, first_sent, last_sent, heading from chunks "
            "where doc_id = ? order by ord",
            (doc_id,),
        )
        assert sents and chunks
        prev_end = -1
        for s in sents:
            span = text[s["start"] : s["end"]]
            assert span and span == span.strip() and s["start"] >= prev_end, (meta["path"], s)
            prev_end = s["end"]
        by_id = {s["id"]: s for s in sents}
        for c in chunks:
            assert text[c["start"] : c["end"]] == c["text"]
            first, last = by_id[c["first_sent"]], by_id[c["last_sent"]]
            assert first["start"] == c["start"] and last["end"] == c["end"]
        # every sentence belongs to some chunk
        covered = {sid for c in chunks for sid in range(c["first_sent"], c["last_sent"] + 1)}
        assert covered == set(by_id)
        # and re-chunking the text gives the same spans (offsets are a pure function of the text)
        sentences, rechunks = chunk_document(text)
        assert [(s.start, s.end) for s in sentences] == [(s["start"], s["end"]) for s in sents]
        assert [(c.start, c.end) for c in rechunks] == [(c["start"], c["end"]) for c in chunks]
        n_chunks += len(chunks)
        n_sents += len(sents)
    assert n_chunks == b.manifest["counts"]["chunks"] and n_sents == b.manifest["counts"]["sentences"]


def test_chunk_sizes_on_the_corpus(engine):
    b = engine.build()
    sizes = []
    for c in b.query("select text, first_sent, last_sent from chunks"):
        n = len(c["text"].split())
        sizes.append(n)
        assert n <= MAX_WORDS or c["first_sent"] == c["last_sent"], n  # only a single long sentence may exceed
    assert 100 <= statistics.median(sizes) <= 250, statistics.median(sizes)


def test_headings_and_overlap():
    para = " ".join(f"Sentence number {i} talks about banks and money laundering in detail." for i in range(40))
    text = f"# Title\n\n## Section A\n\n{para}\n\n## Section B\n\n{para}\n"
    sentences, chunks = chunk_document(text)
    assert all(text[s.start : s.end].startswith("Sentence number") for s in sentences)
    assert {c.heading for c in chunks} == {"Title > Section A", "Title > Section B"}
    a = [c for c in chunks if c.heading.endswith("A")]
    assert len(a) >= 2 and a[1].first_sentence == a[0].last_sentence  # one sentence of overlap
    b0 = next(c for c in chunks if c.heading.endswith("B"))
    assert b0.first_sentence > a[-1].last_sentence  # no overlap across a heading


def test_sentence_splitting_abbreviations():
    text = "Under E.O. 13810, OFAC acted. John K. Hurley said so. The U.S. Treasury agreed! Was it 2025? Yes."
    spans = [text[a:b] for a, b in split_sentences(text)]
    assert spans == [
        "Under E.O. 13810, OFAC acted.",
        "John K. Hurley said so.",
        "The U.S. Treasury agreed!",
        "Was it 2025?",
        "Yes.",
    ]


def test_lists_and_long_sentences():
    long = "word, " * 400 + "end."
    text = f"- first item here\n- second item here\n\n{long}\n"
    sentences, chunks = chunk_document(text)
    spans = [text[s.start : s.end] for s in sentences]
    assert spans[0] == "first item here" and spans[1] == "second item here"
    assert all(len(s) <= 900 for s in spans)
    assert "".join(spans[2:]).replace(" ", "") == long.replace(" ", "")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3000))
def test_spans_always_index_the_text(text):
    sentences, chunks = chunk_document(text)
    for s in sentences:
        assert 0 <= s.start < s.end <= len(text)
        assert text[s.start : s.end].strip()
    for c in chunks:
        assert sentences[c.first_sentence].start == c.start and sentences[c.last_sentence].end == c.end
    assert (not sentences) == (not chunks)
