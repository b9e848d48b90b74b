"""Build (or incrementally rebuild) the index from the source folders: the one writer of the on-disk format.

Documents become a build's rows in lay_out, and rows and vectors become a build folder with its manifest
in write_build. build_index adds loading, vector reuse and embedding around them; the benchmark's
large-index writer (bench/speed.py) goes through the same two, so the format is written in one place.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from .chunking import chunk_document
from .config import Settings
from .errors import BuildError, IndexUnavailableError
from .loaders import LOADER_VERSION
from .search import FULL_SCAN_MAX
from .sources import load_all
from .store import FORMAT_VERSION, Build, IndexStore, write_build_files
from .text import term_set
from .types import BuildSummary, Document
from .vectors import HNSW_EF_SEARCH

log = logging.getLogger(__name__)

CHUNKER_VERSION = "4"


def chunk_embed_text(title: str, heading: str, text: str) -> str:
    """What a chunk's vector is computed from: its document title and heading give it context."""
    head = heading if heading and heading != title else ""
    return f"{title}. {head + '. ' if head else ''}{text}"


# an unchanged document's chunk and sentence ids in the previous build (None: embed it afresh)
PreviousIds = Callable[[Document], tuple[list[int], list[int]] | None]


@dataclass
class Layout:
    """A new build's rows, laid out from its documents by lay_out: ids, offsets and headings, no text
    copied, so a million chunks fit in memory. rows() streams the tables' rows, slicing texts on the way."""

    documents: list[tuple[int, Document, int, int]] = field(default_factory=list)  # id, document, chunks, sentences
    # per chunk: its document's index in `documents`, ord, start, end, heading, first and last sentence id
    chunks: list[tuple[int, int, int, int, str, int, int]] = field(default_factory=list)
    sentences: list[tuple[int, int, int, int]] = field(default_factory=list)  # document's index, ord, start, end
    df: Counter = field(default_factory=Counter)  # stemmed term -> how many chunks contain it
    reused_chunks: dict[int, int] = field(default_factory=dict)  # chunk row -> its id in the previous build
    reused_sentences: dict[int, int] = field(default_factory=dict)  # sentence row -> its id in the previous build
    skipped: list[str] = field(default_factory=list)  # paths of documents without a sentence

    def counts(self) -> dict[str, int]:
        return {"documents": len(self.documents), "chunks": len(self.chunks), "sentences": len(self.sentences)}

    def chunk_embed_texts(self, rows: Iterable[int]) -> list[str]:
        """What the vectors of chunk rows `rows` are computed from (chunk_embed_text)."""
        out = []
        for i in rows:
            pos, _, start, end, heading, _, _ = self.chunks[i]
            doc = self.documents[pos][1]
            out.append(chunk_embed_text(doc.title, heading, doc.text[start:end]))
        return out

    def sentence_texts(self, rows: Iterable[int]) -> list[str]:
        return [self.documents[pos][1].text[start:end] for pos, _, start, end in (self.sentences[i] for i in rows)]

    def rows(self) -> dict[str, Iterator[dict]]:
        """The rows of the tables documents, chunks, sentences and terms, as store.write_build_files takes them."""
        return {
            "documents": self._documents(),
            "chunks": self._chunks(),
            "sentences": self._sentences(),
            "terms": ({"term": t, "df": n} for t, n in self.df.items()),
        }

    def _documents(self) -> Iterator[dict]:
        for doc_id, d, n_chunks, n_sentences in self.documents:
            yield {
                "id": doc_id,
                "path": d.path,
                "title": d.title,
                "url": d.url,
                "date": d.date,
                "kind": d.kind,
                "hash": d.content_hash,
                "text": d.text,
                "pages": json.dumps(d.pages),
                "meta": json.dumps(d.meta),
                "n_chunks": n_chunks,
                "n_sentences": n_sentences,
                "sets": json.dumps(list(d.sets)),
            }

    def _chunks(self) -> Iterator[dict]:
        for cid, (pos, o, start, end, heading, first, last) in enumerate(self.chunks, start=1):
            doc_id, d = self.documents[pos][:2]
            yield {
                "id": cid,
                "doc_id": doc_id,
                "ord": o,
                "start": start,
                "end": end,
                "heading": heading,
                "title": d.title,
                "text": d.text[start:end],
                "first_sent": first,
                "last_sent": last,
            }

    def _sentences(self) -> Iterator[dict]:
        for sid, (pos, o, start, end) in enumerate(self.sentences, start=1):
            yield {"id": sid, "doc_id": self.documents[pos][0], "ord": o, "start": start, "end": end}


def lay_out(docs: list[Document], previous: PreviousIds | None = None) -> Layout:
    """Chunk every document and give its rows their ids (a document's id is its place in `docs`, from 1;
    one without sentences is skipped). `previous` names the ids an unchanged document had in the
    previous build: its vectors are reused when its chunk and sentence counts still match."""
    lay = Layout()
    for doc_id, doc in enumerate(docs, start=1):
        sentences, chunks = chunk_document(doc.text)
        if not chunks:
            lay.skipped.append(doc.path)
            continue
        old = previous(doc) if previous is not None else None
        if old is not None and (len(old[0]) != len(chunks) or len(old[1]) != len(sentences)):
            old = None
        pos = len(lay.documents)
        lay.documents.append((doc_id, doc, len(chunks), len(sentences)))
        sent_base = len(lay.sentences)
        for i, s in enumerate(sentences):
            if old is not None:
                lay.reused_sentences[sent_base + i] = old[1][i]
            lay.sentences.append((pos, i, s.start, s.end))
        for i, c in enumerate(chunks):
            if old is not None:
                lay.reused_chunks[len(lay.chunks)] = old[0][i]
            lay.df.update(term_set(doc.title + " " + c.heading + " " + doc.text[c.start : c.end]))
            lay.chunks.append(
                (pos, i, c.start, c.end, c.heading, sent_base + c.first_sentence + 1, sent_base + c.last_sentence + 1)
            )
    return lay


def manifest(
    build_id: str,
    model: str,
    dim: int,
    index_type: str,
    sources,
    layout: Layout,
    hashes: bool = True,
    source_counts: dict[str, int] | None = None,
) -> dict:
    """A new build's manifest (the store adds its files' checksums). `hashes` adds each document's content
    hash by path; the large-index benchmark leaves that out. `source_counts` is the documents per source
    (`qabot sources` shows them); `line_links` says whether any document links to lines (engine.py)."""
    m = {
        "format": FORMAT_VERSION,
        "build_id": build_id,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model,
        "dim": dim,
        "chunker": CHUNKER_VERSION,
        "loader": LOADER_VERSION,
        "index_type": index_type,
        "ef_search": HNSW_EF_SEARCH,
        "sources": list(sources),
        "counts": layout.counts(),
        "source_counts": dict(source_counts or {}),
        "line_links": any("line_link" in d.meta for _, d, _, _ in layout.documents),
    }
    if hashes:
        m["documents"] = {d.path: d.content_hash for _, d, _, _ in layout.documents}
    return m


def write_build(
    store: IndexStore,
    layout: Layout,
    chunk_vecs: np.ndarray,
    sent_vecs: np.ndarray,
    model: str,
    sources,
    index_kind: str | None = None,
    hashes: bool = True,
    source_counts: dict[str, int] | None = None,
) -> str:
    """Write `layout`'s rows and the vectors as a new build and switch to it (call under the build lock);
    returns its id. A failed build's folder is removed."""
    build_id, tmp = store.new_build_dir()
    try:
        # document-level BM25 serves indexes up to FULL_SCAN_MAX chunks (search.py)
        kind = write_build_files(
            tmp, layout.rows(), chunk_vecs, sent_vecs, index_kind, document_fts=len(layout.chunks) <= FULL_SCAN_MAX
        )
        m = manifest(build_id, model, int(chunk_vecs.shape[1]), kind, sources, layout, hashes, source_counts)
        store.commit(build_id, tmp, m)
    except BuildError:
        store.discard(build_id)
        raise
    except OSError as exc:
        store.discard(build_id)
        raise BuildError(f"cannot write the new build in {store.builds} ({exc.strerror or exc})") from None
    return build_id


def _previous(store: IndexStore, encoder_name: str) -> Build | None:
    """The current build, open, when its vectors can be reused; None if unusable."""
    try:
        build = store.open_current(verify=True)
    except IndexUnavailableError as exc:
        if store.exists():
            log.warning("previous build not reused: %s", exc)
        return None
    m = build.manifest
    if m.get("model") != encoder_name or m.get("chunker") != CHUNKER_VERSION or m.get("loader") != LOADER_VERSION:
        build.close()
        return None
    return build


def _stack(n: int, parts: list[tuple[list[int], np.ndarray]], dim: int) -> np.ndarray:
    """n float32 vectors, each part filling its rows; as wide as the first part that has rows (else `dim`)."""
    parts = [(rows, vecs) for rows, vecs in parts if len(rows)]
    out = np.zeros((n, parts[0][1].shape[1] if parts else dim), dtype=np.float32)
    for rows, vecs in parts:
        out[rows] = vecs
    return out


def build_index(
    settings: Settings,
    encoder=None,
    full: bool = False,
    progress: bool = False,
    lock_wait: float = 0.0,
    index_kind: str | None = None,
    documents: list[Document] | None = None,
    sentence_vectors: bool = True,
) -> BuildSummary:
    """Load, chunk, embed what changed, write a new build and switch to it. Returns a summary.

    `documents` replaces loading from the source folders (benchmarks pass their corpus this way);
    `sentence_vectors=False` stores zero sentence vectors (retrieval-only benchmarks).
    """
    t0 = time.perf_counter()
    store = IndexStore(settings.index_path)
    summary = BuildSummary()
    with store.lock(wait=lock_wait):
        store.cleanup()
        if documents is None:  # the folders, and each remote source's last good sync
            docs, warnings, per_source = load_all(settings)
        else:
            docs, warnings, per_source = documents, [], {}
        summary.warnings = warnings
        summary.skipped = sum(1 for w in warnings if ": skipped," in w)
        if encoder is None:
            from .embedding import shared_encoder

            encoder = shared_encoder()
        prev = None if full else _previous(store, encoder.name)
        prev_docs = {r["path"]: r for r in prev.doc_rows()} if prev is not None else {}
        current_paths = {d.path for d in docs}
        summary.removed = sum(1 for p in prev_docs if p not in current_paths)
        reuse = {d.path for d in docs if d.path in prev_docs and prev_docs[d.path]["hash"] == d.content_hash}
        # a document whose sets changed (a source's `sets = [...]` edited) keeps its vectors; the build
        # is rewritten for it all the same, since its sets are stored with it
        regrouped = sum(1 for d in docs if d.path in reuse and tuple(prev_docs[d.path]["sets"]) != tuple(d.sets))
        summary.regrouped = regrouped
        summary.unchanged = len(reuse)
        summary.changed = sum(1 for d in docs if d.path in prev_docs and d.path not in reuse)
        summary.added = sum(1 for d in docs if d.path not in prev_docs)

        # a build made before document-level BM25 existed is rebuilt once (reusing every vector)
        # and one made before document sets, once
        current_format = (
            prev is not None and (prev.n_chunks > FULL_SCAN_MAX or prev.has_doc_fts) and prev.content.has_sets
        )
        unchanged = not summary.added and not summary.changed and not summary.removed and not regrouped
        if prev is not None and current_format and unchanged:
            summary.chunks = prev.n_chunks
            summary.sentences = int(prev.manifest["counts"]["sentences"])
            summary.build_id = prev.build_id
            summary.seconds = time.perf_counter() - t0
            prev.close()
            return summary  # nothing changed: keep the current build, no model load

        layout = lay_out(docs, None if prev is None else _previous_ids(prev, prev_docs, reuse))
        summary.warnings += [f"{path}: skipped, no sentences found" for path in layout.skipped]
        summary.skipped += len(layout.skipped)
        kept_c, kept_s = list(layout.reused_chunks), list(layout.reused_sentences)
        dim = encoder.dim
        old_c = old_s = np.zeros((0, dim), np.float32)
        if prev is not None:  # copied before the previous build is closed
            old_c = prev.chunk_vectors(list(layout.reused_chunks.values()))
            old_s = prev.sentence_vectors(list(layout.reused_sentences.values()))
            prev.close()
        if not layout.documents:
            raise BuildError("no documents could be indexed" + (f" ({len(warnings)} skipped)" if warnings else ""))

        fresh_c = [i for i in range(len(layout.chunks)) if i not in layout.reused_chunks]
        fresh_s = [i for i in range(len(layout.sentences)) if i not in layout.reused_sentences]
        summary.embedded_chunks = len(fresh_c)
        new_c = new_s = np.zeros((0, dim), np.float32)
        if fresh_c or fresh_s:
            new_c = encoder.encode(layout.chunk_embed_texts(fresh_c), progress=progress, desc="chunks")
            if sentence_vectors:
                new_s = encoder.encode(layout.sentence_texts(fresh_s), progress=progress, desc="sentences")
            else:
                new_s = np.zeros((len(fresh_s), encoder.dim), np.float32)
            dim = encoder.dim
        cv = _stack(len(layout.chunks), [(kept_c, old_c), (fresh_c, new_c)], dim)
        sv = _stack(len(layout.sentences), [(kept_s, old_s), (fresh_s, new_s)], dim)

        build_id = write_build(
            store, layout, cv, sv, encoder.name, settings.sources, index_kind, source_counts=per_source
        )
        store.cleanup()
        summary.chunks = len(layout.chunks)
        summary.sentences = len(layout.sentences)
        summary.build_id = build_id
        summary.switched = True
        summary.seconds = time.perf_counter() - t0
        return summary


def _previous_ids(prev: Build, prev_docs: dict[str, dict], reuse: set[str]) -> PreviousIds:
    """lay_out's hook: the ids an unchanged document (its path in `reuse`) had in `prev`."""

    def ids(doc: Document) -> tuple[list[int], list[int]] | None:
        if doc.path not in reuse:
            return None
        old_id = prev_docs[doc.path]["id"]
        return prev.chunk_ids(old_id), prev.sentence_ids(old_id)

    return ids
