"""Build (or incrementally rebuild) the index from the source folders."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import datetime, timezone

import numpy as np

from .chunking import chunk_document
from .config import Settings
from .errors import BuildError, IndexUnavailableError
from .loaders import LOADER_VERSION, load_documents
from .search import FULL_SCAN_MAX
from .text import term_set
from .store import FORMAT_VERSION, IndexStore, write_build_files
from .types import BuildSummary, Document

log = logging.getLogger(__name__)

CHUNKER_VERSION = "4"


def chunk_embed_text(title: str, heading: str, text: str) -> str:
    """What a chunk's vector is computed from: its document title and heading give it context."""
    head = heading if heading and heading != title else ""
    return f"{title}. {head + '. ' if head else ''}{text}"


def _previous(store: IndexStore, encoder_name: str):
    """The current build's documents and vectors for reuse, or None if unusable."""
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


def build_index(settings: Settings, encoder=None, full: bool = False, progress: bool = False,
                lock_wait: float = 0.0, index_kind: str | None = None, documents: list[Document] | None = None,
                sentence_vectors: bool = True) -> BuildSummary:
    """Load, chunk, embed what changed, write a new build and switch to it. Returns a summary.

    `documents` replaces loading from the source folders (benchmarks pass their corpus this way);
    `sentence_vectors=False` stores zero sentence vectors (retrieval-only benchmarks).
    """
    t0 = time.perf_counter()
    store = IndexStore(settings.index_path)
    summary = BuildSummary()
    with store.lock(wait=lock_wait):
        store.cleanup()
        if documents is None:
            docs, warnings = load_documents(settings.source_paths, settings.root, settings.base_url)
        else:
            docs, warnings = documents, []
        summary.warnings = warnings
        summary.skipped = sum(1 for w in warnings if ": skipped," in w)
        if encoder is None:
            from .embedding import shared_encoder

            encoder = shared_encoder()
        prev = None if full else _previous(store, encoder.name)
        prev_docs = {}
        if prev is not None:
            prev_docs = {r["path"]: r for r in prev.query("select id, path, hash from documents")}
        current_paths = {d.path for d in docs}
        summary.removed = sum(1 for p in prev_docs if p not in current_paths)
        reuse = {d.path for d in docs if d.path in prev_docs and prev_docs[d.path]["hash"] == d.content_hash}
        summary.unchanged = len(reuse)
        summary.changed = sum(1 for d in docs if d.path in prev_docs and d.path not in reuse)
        summary.added = sum(1 for d in docs if d.path not in prev_docs)

        # a build made before document-level BM25 existed is rebuilt once (reusing every vector)
        current_format = prev is not None and (prev.n_chunks > FULL_SCAN_MAX or prev.has_doc_fts)
        if prev is not None and current_format and not summary.added and not summary.changed and not summary.removed:
            summary.chunks = prev.n_chunks
            summary.sentences = int(prev.manifest["counts"]["sentences"])
            summary.build_id = prev.build_id
            summary.seconds = time.perf_counter() - t0
            prev.close()
            return summary  # nothing changed: keep the current build, no model load

        rows = {"documents": [], "chunks": [], "sentences": [], "terms": []}
        df: Counter = Counter()
        chunk_vecs: list[np.ndarray | None] = []
        sent_vecs: list[np.ndarray | None] = []
        to_embed_chunks: list[tuple[int, str]] = []
        to_embed_sents: list[tuple[int, str]] = []
        for doc_id, doc in enumerate(docs, start=1):
            sentences, chunks = chunk_document(doc.text)
            if not chunks:
                summary.warnings.append(f"{doc.path}: skipped, no sentences found")
                summary.skipped += 1
                continue
            old = None
            if doc.path in reuse:
                oid = prev_docs[doc.path]["id"]
                oc = [r["id"] for r in prev.query("select id from chunks where doc_id = ? order by ord", (oid,))]
                osent = [r["id"] for r in prev.query("select id from sentences where doc_id = ? order by ord", (oid,))]
                if len(oc) == len(chunks) and len(osent) == len(sentences):
                    old = (oc, osent)
            rows["documents"].append({
                "id": doc_id, "path": doc.path, "title": doc.title, "url": doc.url, "date": doc.date, "kind": doc.kind,
                "hash": doc.content_hash, "text": doc.text, "pages": json.dumps(doc.pages), "meta": json.dumps(doc.meta),
                "n_chunks": len(chunks), "n_sentences": len(sentences)})
            sent_base = len(rows["sentences"])
            for i, s in enumerate(sentences):
                rows["sentences"].append({"id": sent_base + i + 1, "doc_id": doc_id, "ord": i, "start": s.start, "end": s.end})
                if old:
                    sent_vecs.append(np.asarray(prev.sent_vecs[old[1][i] - 1], dtype=np.float32))
                else:
                    sent_vecs.append(None)
                    to_embed_sents.append((sent_base + i, doc.text[s.start:s.end]))
            for i, c in enumerate(chunks):
                cid = len(rows["chunks"]) + 1
                text = doc.text[c.start:c.end]
                df.update(term_set(doc.title + " " + c.heading + " " + text))
                rows["chunks"].append({"id": cid, "doc_id": doc_id, "ord": i, "start": c.start, "end": c.end,
                                       "heading": c.heading, "title": doc.title, "text": text,
                                       "first_sent": sent_base + c.first_sentence + 1,
                                       "last_sent": sent_base + c.last_sentence + 1})
                if old:
                    chunk_vecs.append(np.asarray(prev.chunk_vecs[old[0][i] - 1], dtype=np.float32))
                else:
                    chunk_vecs.append(None)
                    to_embed_chunks.append((cid - 1, chunk_embed_text(doc.title, c.heading, text)))
        if prev is not None:
            prev.close()
        if not rows["documents"]:
            raise BuildError("no documents could be indexed" + (f" ({len(warnings)} skipped)" if warnings else ""))

        rows["terms"] = [{"term": t, "df": n} for t, n in df.items()]
        summary.embedded_chunks = len(to_embed_chunks)
        dim = encoder.dim
        if to_embed_chunks or to_embed_sents:
            vecs = encoder.encode([t for _, t in to_embed_chunks], progress=progress, desc="chunks")
            for (i, _), v in zip(to_embed_chunks, vecs):
                chunk_vecs[i] = v
            if sentence_vectors:
                vecs = encoder.encode([t for _, t in to_embed_sents], progress=progress, desc="sentences")
            else:
                vecs = np.zeros((len(to_embed_sents), encoder.dim), np.float32)
            for (i, _), v in zip(to_embed_sents, vecs):
                sent_vecs[i] = v
            dim = encoder.dim
        cv = np.vstack(chunk_vecs).astype(np.float32) if chunk_vecs else np.zeros((0, dim), np.float32)
        sv = np.vstack(sent_vecs).astype(np.float32) if sent_vecs else np.zeros((0, dim), np.float32)

        build_id, tmp = store.new_build_dir()
        try:
            # document-level BM25 serves indexes up to FULL_SCAN_MAX chunks (search.py)
            kind = write_build_files(tmp, rows, cv, sv, index_kind, document_fts=len(rows["chunks"]) <= FULL_SCAN_MAX)
            manifest = {
                "format": FORMAT_VERSION, "build_id": build_id,
                "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "model": encoder.name, "dim": int(cv.shape[1]), "chunker": CHUNKER_VERSION, "loader": LOADER_VERSION,
                "index_type": kind, "ef_search": 128,
                "sources": list(settings.sources),
                "counts": {"documents": len(rows["documents"]), "chunks": len(rows["chunks"]), "sentences": len(rows["sentences"])},
                "documents": {d["path"]: d["hash"] for d in rows["documents"]},
            }
            store.commit(build_id, tmp, manifest)
        except BuildError:
            store.discard(build_id)
            raise
        except OSError as exc:
            store.discard(build_id)
            raise BuildError(f"cannot write the new build in {store.builds} ({exc.strerror or exc})") from None
        store.cleanup()
        summary.chunks = len(rows["chunks"])
        summary.sentences = len(rows["sentences"])
        summary.build_id = build_id
        summary.switched = True
        summary.seconds = time.perf_counter() - t0
        return summary
