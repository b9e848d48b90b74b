"""The on-disk index: builds written beside the live one, switched in by an atomic pointer.

Layout of the index folder:
    CURRENT            "<build id> <sha256 of its manifest>"; replaced atomically with os.replace
    lock               flock()ed by the one build allowed at a time
    builds/<id>/       manifest.json, db.sqlite (documents, chunks, sentences, chunks_fts, and
                       documents_fts up to search.FULL_SCAN_MAX chunks), chunks.faiss (ids = chunks.id),
                       chunk_vecs.npy, sent_vecs.npy (row = id - 1)
    builds/.tmp-<id>/  a build being written; never read, removed by the next build
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import BuildError, BuildLockedError, CorruptIndexError, IndexMismatchError, IndexUnavailableError

log = logging.getLogger(__name__)

# FTS5 column weights for text, heading, title. A title match counts most: a title names what the
# whole document is about (chosen on SciFact's train split, see docs/BENCHMARKS.md).
BM25_WEIGHTS = "1.0, 0.5, 3.0"
DOC_BM25_WEIGHTS = "3.0, 1.0"  # documents_fts: title, text
FORMAT_VERSION = 1
DATA_FILES = ("db.sqlite", "chunks.faiss", "chunk_vecs.npy", "sent_vecs.npy")
EXACT_MAX_CHUNKS = 150_000  # exact search up to this many chunks; IVF-PQ with exact re-ranking above
RERANK_DEPTH = 256  # candidates an approximate index returns for exact re-ranking (at least 4x k)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_faiss_index(vectors: np.ndarray, ids: np.ndarray, kind: str | None = None, exact_max: int | None = None):
    """The chunk index and its kind, chosen by size.

    "flat": exact inner product, up to `exact_max` (EXACT_MAX_CHUNKS) chunks.
    "ivfpq": above that, an inverted file of product-quantized codes (48 bytes a vector at 384
    dims) whose RERANK_DEPTH candidates Build.dense re-ranks exactly with the stored float32
    vectors: little memory (about 60 MB at a million chunks) and a build of minutes on two cores,
    where HNSW takes far longer. "hnsw" is still available on request."""
    import faiss

    dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[0] else 384
    limit = EXACT_MAX_CHUNKS if exact_max is None else exact_max
    kind = kind or ("flat" if len(ids) <= limit else "ivfpq")
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.asarray(ids, dtype=np.int64)
    if kind == "ivfpq" and len(ids):
        n = len(ids)
        nlist = int(max(1, min(4 * np.sqrt(n), n // 40, 2048)))  # capped: training stays minutes on 2 cores
        m = next(mm for mm in (48, 32, 24, 16, 12, 8, 6, 4, 3, 2, 1) if dim % mm == 0 and dim // mm <= 16 or mm == 1)
        nbits = int(max(4, min(8, np.floor(np.log2(max(n, 16) / 4)))))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10
        rng = np.random.default_rng(0)
        n_train = min(n, max(64 * nlist, 2 ** nbits * 40), 200_000)
        sample = x[np.sort(rng.choice(n, n_train, replace=False))] if n_train < n else x
        index.train(sample)
        index.quantizer_trains_alone = 0
        for i in range(0, n, 200_000):  # in slices: bounded temporary memory
            index.add_with_ids(x[i:i + 200_000], ids[i:i + 200_000])
        index.nprobe = int(min(nlist, max(16, nlist // 48)))  # stored with the index
        index.parallel_mode = 0
        return index, kind
    if kind == "hnsw":
        base = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efConstruction = 80
        base.hnsw.efSearch = 128
    else:
        kind = "flat" if kind == "ivfpq" else kind  # an empty corpus
        base = faiss.IndexFlatIP(dim)
    index = faiss.IndexIDMap2(base)
    if len(ids):
        index.add_with_ids(x, ids)
    return index, kind


class Build:
    """A finished build opened for reading: SQLite read-only, FAISS in memory, vectors memory-mapped."""

    def __init__(self, path: Path, manifest: dict):
        self.path = path
        self.manifest = manifest
        self.build_id = manifest["build_id"]
        self.built_at = manifest["built_at"]
        self._local = threading.local()
        import faiss

        try:
            self.faiss = faiss.read_index(str(path / "chunks.faiss"))
            if self.manifest.get("index_type") == "hnsw":
                faiss.downcast_index(self.faiss.index).hnsw.efSearch = int(self.manifest.get("ef_search", 128))
            self.chunk_vecs = np.load(path / "chunk_vecs.npy", mmap_mode="r")
            self.sent_vecs = np.load(path / "sent_vecs.npy", mmap_mode="r")
        except Exception as exc:
            raise CorruptIndexError(f"build {self.build_id} cannot be read ({exc})") from None
        self.db  # open once to fail early
        self.has_doc_fts = bool(self.db.execute("select 1 from sqlite_master where name = 'documents_fts'").fetchone())
        self.documents = {r["id"]: r for r in self.query("select id, path, title, url, date, kind, pages from documents")}
        self._texts: dict[int, str] = {}
        self._df: dict[str, int] = {}

    def doc_freq(self, terms: list[str]) -> dict[str, int]:
        """How many chunks contain each (stemmed) term."""
        missing = [t for t in terms if t not in self._df]
        if missing:
            marks = ",".join("?" * len(missing))
            found = dict(self.db.execute(f"select term, df from terms where term in ({marks})", missing).fetchall())
            if len(self._df) > 100_000:
                self._df.clear()
            for t in missing:
                self._df[t] = int(found.get(t, 0))
        return {t: self._df[t] for t in terms}

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            uri = f"file:{self.path / 'db.sqlite'}?mode=ro&immutable=1"
            try:
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute("select count(*) from documents").fetchone()
            except sqlite3.DatabaseError as exc:
                raise CorruptIndexError(f"build {self.build_id}: db.sqlite cannot be read ({exc})") from None
            self._local.conn = conn
        return conn

    def query(self, sql: str, params=()) -> list[dict]:
        return [dict(r) for r in self.db.execute(sql, params).fetchall()]

    def doc_text(self, doc_id: int) -> str:
        text = self._texts.get(doc_id)
        if text is None:
            text = self.db.execute("select text from documents where id = ?", (doc_id,)).fetchone()[0]
            if len(self._texts) > 256:
                self._texts.clear()
            self._texts[doc_id] = text
        return text

    @property
    def n_chunks(self) -> int:
        return int(self.manifest["counts"]["chunks"])

    def dense(self, qvec: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top-k chunk ids by cosine; an approximate index's candidates are re-ranked exactly."""
        if self.faiss.ntotal == 0:
            return []
        import faiss

        faiss.omp_set_num_threads(1)  # per calling thread: one question gains nothing from more, and spinning threads hurt
        q = np.asarray(qvec, dtype=np.float32).reshape(1, -1)
        if self.manifest.get("index_type") != "ivfpq":
            scores, ids = self.faiss.search(q, min(k, self.faiss.ntotal))
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        _, cand = self.faiss.search(q, min(max(RERANK_DEPTH, 4 * k), self.faiss.ntotal))
        cand = np.sort(cand[0][cand[0] >= 0])  # ascending rows read the memory-mapped vectors in order
        if not len(cand):
            return []
        exact = np.asarray(self.chunk_vecs[cand - 1], dtype=np.float32) @ q[0]
        top = np.argsort(-exact, kind="stable")[:k]
        return [(int(cand[j]), float(exact[j])) for j in top]

    def keyword(self, match: str, k: int) -> list[tuple[int, float]]:
        """FTS5 BM25 over chunk text, heading and title; `match` must be a safe FTS5 expression."""
        if not match:
            return []
        rows = self.db.execute(
            f"select rowid, bm25(chunks_fts, {BM25_WEIGHTS}) as s from chunks_fts where chunks_fts match ? order by s limit ?",
            (match, k),
        ).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]

    def doc_keyword_scores(self, match: str) -> dict[int, float]:
        """FTS5 BM25 of whole documents (title, text) for every document matching `match` (safe FTS5)."""
        if not match or not self.has_doc_fts:
            return {}
        rows = self.db.execute(f"select rowid, bm25(documents_fts, {DOC_BM25_WEIGHTS}) from documents_fts where documents_fts match ?",
                               (match,)).fetchall()
        return {int(r[0]): -float(r[1]) for r in rows}

    def close(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class IndexStore:
    """Owns an index folder: finds, verifies and opens the current build; writes and switches new ones."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.builds = self.path / "builds"

    # ---- reading -------------------------------------------------------------------------
    def pointer(self) -> tuple[str, str] | None:
        try:
            raw = (self.path / "CURRENT").read_text().split()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CorruptIndexError(f"{self.path / 'CURRENT'} cannot be read ({exc})") from None
        if len(raw) != 2:
            raise CorruptIndexError(f"{self.path / 'CURRENT'} is damaged")
        return raw[0], raw[1]

    def exists(self) -> bool:
        """True when there is a CURRENT pointer, even a damaged one (opening it then says what is wrong)."""
        try:
            return self.pointer() is not None
        except CorruptIndexError:
            return True

    def read_manifest(self, verify: bool = True) -> tuple[Path, dict]:
        ptr = self.pointer()
        if ptr is None:
            raise IndexUnavailableError(f"{self.path} has no index yet")
        build_id, manifest_sha = ptr
        bdir = self.builds / build_id
        mpath = bdir / "manifest.json"
        if not mpath.is_file():
            raise CorruptIndexError(f"build {build_id} named by {self.path / 'CURRENT'} is missing")
        if verify and sha256_file(mpath) != manifest_sha:
            raise CorruptIndexError(f"{mpath} does not match its checksum")
        try:
            manifest = json.loads(mpath.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptIndexError(f"{mpath} is not valid JSON ({exc})") from None
        return bdir, manifest

    def verify(self, bdir: Path, manifest: dict) -> None:
        """Raise CorruptIndexError if any data file differs from the checksum in the manifest."""
        for name in DATA_FILES:
            f = bdir / name
            want = manifest.get("files", {}).get(name)
            if not f.is_file():
                raise CorruptIndexError(f"{f} is missing")
            if want is None or f.stat().st_size != want["size"]:
                raise CorruptIndexError(f"{f} has the wrong size (truncated or altered)")
            if sha256_file(f) != want["sha256"]:
                raise CorruptIndexError(f"{f} does not match its checksum")

    def open_current(self, model_name: str | None = None, dim: int | None = None, verify: bool = True) -> Build:
        bdir, manifest = self.read_manifest(verify=verify)
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexMismatchError(f"index format {manifest.get('format')} is not {FORMAT_VERSION}")
        if model_name and (manifest.get("model") != model_name or (dim and manifest.get("dim") != dim)):
            raise IndexMismatchError(
                f"the index was built with {manifest.get('model')} ({manifest.get('dim')} dims), "
                f"but the model in use is {model_name} ({dim} dims)")
        if verify:
            self.verify(bdir, manifest)
        return Build(bdir, manifest)

    # ---- writing -------------------------------------------------------------------------
    @contextmanager
    def lock(self, wait: float = 0.0):
        """Hold the build lock; raise BuildLockedError if another build holds it after `wait` s."""
        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.path / "lock", "a+")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "another process"
                    fh.close()
                    raise BuildLockedError(f"another build is running ({holder}); the index is locked") from None
                time.sleep(0.2)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def new_build_dir(self) -> tuple[str, Path]:
        # ids sort in build order (cleanup relies on it): never at or before the newest existing build
        stamp = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
        try:
            names = [p.name.removeprefix(".tmp-") for p in self.builds.iterdir()] if self.builds.is_dir() else []
        except OSError:
            names = []
        for n in names:
            try:
                seen = datetime.strptime(n.split("-")[0], "%Y%m%dT%H%M%S")
            except ValueError:
                continue
            if seen >= stamp:
                stamp = seen + timedelta(seconds=1)
        build_id = stamp.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        tmp = self.builds / f".tmp-{build_id}"
        try:
            tmp.mkdir(parents=True)
        except OSError as exc:
            raise BuildError(f"cannot create a build in {self.builds} ({exc.strerror})") from None
        return build_id, tmp

    def commit(self, build_id: str, tmp: Path, manifest: dict) -> Path:
        """Checksum the files, write the manifest, rename the folder and switch the pointer."""
        manifest["files"] = {n: {"sha256": sha256_file(tmp / n), "size": (tmp / n).stat().st_size} for n in DATA_FILES}
        mtmp = tmp / "manifest.json"
        mtmp.write_text(json.dumps(manifest, indent=1))
        for n in DATA_FILES + ("manifest.json",):
            with open(tmp / n, "rb+") as fh:
                os.fsync(fh.fileno())
        final = self.builds / build_id
        os.rename(tmp, final)
        _fsync_dir(self.builds)
        ptr_tmp = self.path / f"CURRENT.tmp-{build_id}"
        with open(ptr_tmp, "w") as fh:
            fh.write(f"{build_id} {sha256_file(final / 'manifest.json')}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(ptr_tmp, self.path / "CURRENT")
        _fsync_dir(self.path)
        return final

    def cleanup(self, keep: int = 2) -> list[str]:
        """Remove unfinished builds and all but the newest `keep` finished ones (call under the lock)."""
        removed = []
        if not self.builds.is_dir():
            return removed
        try:
            current = (self.pointer() or ("", ""))[0]
        except CorruptIndexError:
            current = ""  # a damaged pointer must not stop the build that repairs it
        for p in self.path.glob("CURRENT.tmp-*"):
            p.unlink(missing_ok=True)
        finished = sorted((p for p in self.builds.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
        stale = [p for p in self.builds.iterdir() if p.name.startswith(".tmp-")]
        # a finished build newer than the current one was never switched to (a build killed between
        # rename and pointer switch): nobody can be reading it
        orphans = [p for p in finished if current and p.name > current]
        others = [p for p in finished if p.name != current and p not in orphans]
        old = (others[:-(keep - 1)] if keep > 1 else others) if keep else []
        for p in stale + orphans + old:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
        return removed


def write_build_files(tmp: Path, db_rows: dict, chunk_vecs: np.ndarray, sent_vecs: np.ndarray, index_kind: str | None = None,
                      document_fts: bool = False) -> str:
    """Write db.sqlite (via sqlite-utils, with FTS5), the FAISS index and the vector files into tmp.

    `document_fts` adds documents_fts, FTS5 over whole documents (title, text) for document-level
    BM25, which search uses up to search.FULL_SCAN_MAX chunks."""
    import faiss
    import sqlite_utils

    try:
        db = sqlite_utils.Database(tmp / "db.sqlite")
        db.conn.execute("pragma journal_mode = off")
        db.conn.execute("pragma synchronous = off")
        db["documents"].insert_all(db_rows["documents"], pk="id")
        db["chunks"].insert_all(db_rows["chunks"], pk="id", batch_size=2000)
        db["sentences"].insert_all(db_rows["sentences"], pk="id", batch_size=5000)
        db["terms"].insert_all(db_rows.get("terms", []), pk="term", batch_size=5000)
        if not db["terms"].exists():
            db["terms"].create({"term": str, "df": int}, pk="term")
        for table in ("documents", "chunks", "sentences"):
            if not db[table].exists():  # an empty corpus still gets its tables
                raise BuildError("no documents to index")
        db["chunks"].create_index(["doc_id"])
        db["sentences"].create_index(["doc_id"])
        db["documents"].create_index(["path"], unique=True)
        db["chunks"].enable_fts(["text", "heading", "title"], fts_version="FTS5", tokenize="porter unicode61 remove_diacritics 2",
                                create_triggers=False)
        db.conn.execute("insert into chunks_fts(chunks_fts) values('optimize')")
        if document_fts:  # whole documents too (external content: the text is not stored twice)
            db["documents"].enable_fts(["title", "text"], fts_version="FTS5", tokenize="porter unicode61 remove_diacritics 2",
                                       create_triggers=False)
        db.conn.commit()
        db.conn.close()
        ids = np.arange(1, len(chunk_vecs) + 1, dtype=np.int64)
        index, kind = make_faiss_index(chunk_vecs, ids, index_kind)
        faiss.write_index(index, str(tmp / "chunks.faiss"))
        np.save(tmp / "chunk_vecs.npy", np.ascontiguousarray(chunk_vecs, dtype=np.float32))
        np.save(tmp / "sent_vecs.npy", np.ascontiguousarray(sent_vecs, dtype=np.float16))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
            raise BuildError(f"cannot write the new build in {tmp.parent} ({exc.strerror})") from None
        raise BuildError(f"writing the new build failed ({exc})") from None
    except sqlite3.OperationalError as exc:
        raise BuildError(f"cannot write the new build's database in {tmp.parent} ({exc})") from None
    except RuntimeError as exc:  # faiss.write_index reports a failed write (disk full, read-only) this way
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BuildError(f"cannot write the new build's FAISS index in {tmp.parent} ({first})") from None
    return kind
