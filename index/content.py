"""The content side of a build: its SQLite database of documents, chunks, sentences and terms, with FTS5.

Every SQL statement about a build lives here: the answer path, the builder and the benchmarks ask for
rows by what they need (`chunk_rows(ids)`, `neighbours(doc, ord, radius)`, `doc_rows()`), so the schema
can change in this one module. (The activity log keeps its own database in activity.py.) Kept apart
from the vectors (vectors.py) the way txtai keeps `database/` apart from `ann/`.

Tables: documents (id, path, title, url, date, kind, hash, text, pages, meta, n_chunks, n_sentences, sets:
a JSON list of the document's sets, index/sets.py),
chunks (id, doc_id, ord, start, end, heading, title, text, first_sent, last_sent), sentences (id, doc_id,
ord, start, end), terms (term, df: how many chunks contain the stemmed term), chunks_fts (text, heading,
title) and, when written with `document_fts`, documents_fts (title, text).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import numpy as np

from .errors import BuildError, CorruptIndexError
from .sets import doc_sets

DB_FILE = "db.sqlite"
# FTS5 column weights for text, heading, title. A title match counts most: a title names what the
# whole document is about (chosen on SciFact's train split, see docs/BENCHMARKS.md).
BM25_WEIGHTS = "1.0, 0.5, 3.0"
DOC_BM25_WEIGHTS = "3.0, 1.0"  # documents_fts: title, text
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"
TEXT_CACHE_MAX = 256  # document texts kept in memory per build
DF_CACHE_MAX = 100_000  # term frequencies kept in memory per build
CHUNK_BATCH = 2000  # rows per insert
SENTENCE_BATCH = 5000
TERM_BATCH = 5000
DOCUMENT_COLUMNS = "id, path, title, url, date, kind, pages"  # what `documents` holds in memory (and sets)


def _marks(values) -> str:
    return ",".join("?" * len(values))


class Content:
    """A build's database opened read-only: one connection per thread, closed together by close().

    `documents` (id -> id, path, title, url, date, kind, pages, sets) is read once (`sets` a tuple; a
    build made before sets has every document in `all`); document texts and term frequencies are cached
    as they are asked for."""

    def __init__(self, folder: Path, build_id: str):
        self.path = folder / DB_FILE
        self.build_id = build_id
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []  # every thread's connection, so close() reaches them all
        self._conns_lock = threading.Lock()
        self._generation = 0  # bumped by close(): a thread's older connection is then reopened
        self.has_doc_fts = bool(self.db.execute("select 1 from sqlite_master where name = 'documents_fts'").fetchone())
        cols = {r[1] for r in self.db.execute("pragma table_info(documents)")}
        self.has_sets = "sets" in cols
        extra = ", sets" if self.has_sets else ""
        self.documents = {r["id"]: r for r in self.query(f"select {DOCUMENT_COLUMNS}{extra} from documents")}
        for r in self.documents.values():
            r["sets"] = doc_sets(r.get("sets"))
        self._spans: dict[int, tuple[int, int]] | None = None
        self._texts: dict[int, str] = {}
        self._df: dict[str, int] = {}

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's read-only connection (one per thread; reopened after close())."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.generation != self._generation:
            uri = f"file:{self.path}?mode=ro&immutable=1"
            try:
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute("select count(*) from documents").fetchone()
            except sqlite3.DatabaseError as exc:
                raise CorruptIndexError(f"build {self.build_id}: {DB_FILE} cannot be read ({exc})") from None
            with self._conns_lock:
                self._conns.append(conn)
                self._local.conn, self._local.generation = conn, self._generation
        return conn

    def query(self, sql: str, params=()) -> list[dict]:
        """Rows of any read-only statement, as dicts (tests and diagnostics; the engine uses the methods)."""
        return [dict(r) for r in self.db.execute(sql, params).fetchall()]

    def close(self) -> None:
        with self._conns_lock:
            conns, self._conns = self._conns, []
            self._generation += 1
        for conn in conns:
            conn.close()

    # ---- documents and terms -------------------------------------------------------------
    def doc_text(self, doc_id: int) -> str:
        text = self._texts.get(doc_id)
        if text is None:
            text = self.db.execute("select text from documents where id = ?", (doc_id,)).fetchone()[0]
            if len(self._texts) > TEXT_CACHE_MAX:
                self._texts.clear()
            self._texts[doc_id] = text
        return text

    def doc_meta(self, doc_id: int) -> dict:
        """A document's meta (front matter keys, and for git files the line link), {} if it has none."""
        row = self.db.execute("select meta from documents where id = ?", (doc_id,)).fetchone()
        try:
            meta = json.loads(row[0]) if row and row[0] else {}
        except ValueError:
            return {}
        return meta if isinstance(meta, dict) else {}

    def doc_rows(self) -> list[dict]:
        """id, path, content hash and sets of every document (what a new build needs to reuse vectors)."""
        rows = self.query("select id, path, hash from documents")
        for r in rows:
            r["sets"] = self.documents[r["id"]]["sets"]
        return rows

    def chunk_spans(self) -> dict[int, tuple[int, int]]:
        """document id -> (first, last) chunk id: a document's chunks have consecutive ids (build.lay_out).
        Read once per build (about 60 ms at 100,000 documents), for scopes."""
        if self._spans is None:
            rows = self.db.execute("select doc_id, min(id), max(id) from chunks group by doc_id").fetchall()
            self._spans = {int(r[0]): (int(r[1]), int(r[2])) for r in rows}
        return self._spans

    def doc_freq(self, terms: list[str]) -> dict[str, int]:
        """How many chunks contain each (stemmed) term."""
        missing = [t for t in terms if t not in self._df]
        if missing:
            found = dict(
                self.db.execute(f"select term, df from terms where term in ({_marks(missing)})", missing).fetchall()
            )
            if len(self._df) + len(missing) > DF_CACHE_MAX:  # start afresh, keeping what is asked now
                self._df = {t: self._df[t] for t in terms if t in self._df}
            for t in missing:
                self._df[t] = int(found.get(t, 0))
        return {t: self._df[t] for t in terms}

    # ---- chunks and sentences ------------------------------------------------------------
    def chunk_rows(self, ids: list[int]) -> dict[int, dict]:
        """id -> (id, doc_id, first_sent, last_sent, heading) of the chunks `ids`."""
        rows = self.query(
            f"select id, doc_id, first_sent, last_sent, heading from chunks where id in ({_marks(ids)})", ids
        )
        return {r["id"]: r for r in rows}

    def chunk_docs(self, ids: list[int]) -> dict[int, int]:
        """chunk id -> document id, for the chunks `ids`."""
        return {r[0]: r[1] for r in self.db.execute(f"select id, doc_id from chunks where id in ({_marks(ids)})", ids)}

    def chunk_ids(self, doc_id: int) -> list[int]:
        """The ids of a document's chunks, in order."""
        return [r[0] for r in self.db.execute("select id from chunks where doc_id = ? order by ord", (doc_id,))]

    def sentence_ids(self, doc_id: int) -> list[int]:
        """The ids of a document's sentences, in order."""
        return [r[0] for r in self.db.execute("select id from sentences where doc_id = ? order by ord", (doc_id,))]

    def sentences(self, ids: list[int]) -> dict[int, dict]:
        """id -> (id, doc_id, ord, start, end) of the sentences `ids`."""
        rows = self.query(f"select id, doc_id, ord, start, end from sentences where id in ({_marks(ids)})", ids)
        return {r["id"]: r for r in rows}

    def neighbours(self, doc_id: int, ord: int, radius: int) -> list[tuple[int, int]]:
        """(start, end) of a document's sentences from ord - radius to ord + radius, those that exist."""
        rows = self.db.execute(
            "select start, end from sentences where doc_id = ? and ord between ? and ?",
            (doc_id, ord - radius, ord + radius),
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def sentence_window(self, doc_id: int, ord: int) -> tuple[tuple | None, tuple | None]:
        """(id, doc_id, start, end) of the sentences before and after sentence `ord` of a document (None at an end)."""
        rows = self.db.execute(
            "select id, doc_id, start, end, ord from sentences where doc_id = ? and ord in (?, ?)",
            (doc_id, ord - 1, ord + 1),
        ).fetchall()
        by_ord = {r[4]: (r[0], r[1], r[2], r[3]) for r in rows}
        return by_ord.get(ord - 1), by_ord.get(ord + 1)

    def sentence_at(self, doc_id: int, ord: int) -> tuple[int, int] | None:
        """(start, end) of a document's sentence `ord`; None past its last sentence."""
        row = self.db.execute("select start, end from sentences where doc_id = ? and ord = ?", (doc_id, ord)).fetchone()
        return None if row is None else (row[0], row[1])

    # ---- keyword search --------------------------------------------------------------------
    def keyword(self, match: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """FTS5 BM25 over chunk text, heading and title; `match` must be a safe FTS5 expression.

        `allowed` (a bool mask by chunk id, sets.Scope.mask) keeps the best k of the chunks it allows:
        the matches are read best first and the first k allowed are kept (FTS5 scores every match for
        the ORDER BY either way, so this costs what the unfiltered query does)."""
        if not match:
            return []
        if allowed is None:
            rows = self.db.execute(
                f"select rowid, bm25(chunks_fts, {BM25_WEIGHTS}) as s from chunks_fts where chunks_fts match ? "
                "order by s limit ?",
                (match, k),
            ).fetchall()
            return [(int(r[0]), -float(r[1])) for r in rows]
        out: list[tuple[int, float]] = []
        n = len(allowed)
        cur = self.db.execute(
            f"select rowid, bm25(chunks_fts, {BM25_WEIGHTS}) as s from chunks_fts where chunks_fts match ? order by s",
            (match,),
        )
        for rowid, score in cur:
            if rowid < n and allowed[rowid]:
                out.append((int(rowid), -float(score)))
                if len(out) >= k:
                    break
        cur.close()
        return out

    def keyword_scores(self, match: str, among: set[int]) -> dict[int, float]:
        """The BM25 of every chunk of `among` that matches `match` (safe FTS5): one pass over all matches."""
        rows = self.db.execute(
            f"select rowid, bm25(chunks_fts, {BM25_WEIGHTS}) from chunks_fts where chunks_fts match ?", (match,)
        ).fetchall()
        return {int(r[0]): -float(r[1]) for r in rows if r[0] in among}

    def doc_keyword_scores(self, match: str) -> dict[int, float]:
        """FTS5 BM25 of whole documents (title, text) for every document matching `match` (safe FTS5)."""
        if not match or not self.has_doc_fts:
            return {}
        rows = self.db.execute(
            f"select rowid, bm25(documents_fts, {DOC_BM25_WEIGHTS}) from documents_fts where documents_fts match ?",
            (match,),
        ).fetchall()
        return {int(r[0]): -float(r[1]) for r in rows}


def write_content(folder: Path, rows: dict, document_fts: bool = False) -> None:
    """Write db.sqlite (via sqlite-utils, with FTS5) into `folder` from `rows` (table -> iterable of dicts).

    `document_fts` adds documents_fts, FTS5 over whole documents (title, text) for document-level
    BM25, which search uses up to search.FULL_SCAN_MAX chunks. Raises BuildError when a table is empty."""
    import sqlite_utils

    db = sqlite_utils.Database(folder / DB_FILE)
    db.conn.execute("pragma journal_mode = off")
    db.conn.execute("pragma synchronous = off")
    db.table("documents").insert_all(rows["documents"], pk="id", columns={"sets": str})
    db.table("chunks").insert_all(rows["chunks"], pk="id", batch_size=CHUNK_BATCH)
    db.table("sentences").insert_all(rows["sentences"], pk="id", batch_size=SENTENCE_BATCH)
    db.table("terms").insert_all(rows.get("terms", []), pk="term", batch_size=TERM_BATCH)
    if not db.table("terms").exists():
        db.table("terms").create({"term": str, "df": int}, pk="term")
    for table in ("documents", "chunks", "sentences"):
        if not db.table(table).exists():  # an empty corpus still gets its tables
            raise BuildError("no documents to index")
    db.table("chunks").create_index(["doc_id"])
    db.table("sentences").create_index(["doc_id"])
    db.table("documents").create_index(["path"], unique=True)
    db.table("chunks").enable_fts(
        ["text", "heading", "title"], fts_version="FTS5", tokenize=FTS_TOKENIZER, create_triggers=False
    )
    db.conn.execute("insert into chunks_fts(chunks_fts) values('optimize')")
    if document_fts:  # whole documents too (external content: the text is not stored twice)
        db.table("documents").enable_fts(
            ["title", "text"], fts_version="FTS5", tokenize=FTS_TOKENIZER, create_triggers=False
        )
    db.conn.commit()
    db.conn.close()
