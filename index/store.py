"""The on-disk index: builds written beside the live one, switched in by an atomic pointer.

Layout of the index folder:
    CURRENT            "<build id> <sha256 of its manifest>"; replaced atomically with os.replace
    lock               flock()ed by the one build allowed at a time
    builds/<id>/       manifest.json, db.sqlite (documents, chunks, sentences, chunks_fts, and
                       documents_fts up to search.FULL_SCAN_MAX chunks), chunks.faiss (ids = chunks.id),
                       chunk_vecs.npy, sent_vecs.npy (row = id - 1); and two files outside the checksums:
                       .qabot-build (the marker: this store made the folder) and .readers (the lease file:
                       every process that has the build open holds a shared flock on it)
    builds/.tmp-<id>/  a build being written; never read, removed by the next build

A build id is "YYYYMMDDTHHMMSS-" and six hex digits, in build order. builds/ belongs to the store: cleanup
deletes old builds there, so it touches only folders the store made (a build-id name and the marker, or
nothing but build files inside), never follows a link, and refuses a builds/ that is a link or holds
anything else. It also keeps any build a live reader holds a lease on, so a running bot's build is never
deleted under it by a `qabot index` in another process.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import stat
import threading
import time
import uuid
import weakref
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import (BuildError, BuildLockedError, CorruptIndexError, IndexChangingError, IndexMismatchError,
                     IndexUnavailableError, UnsafeIndexDirError)

log = logging.getLogger(__name__)

# FTS5 column weights for text, heading, title. A title match counts most: a title names what the
# whole document is about (chosen on SciFact's train split, see docs/BENCHMARKS.md).
BM25_WEIGHTS = "1.0, 0.5, 3.0"
DOC_BM25_WEIGHTS = "3.0, 1.0"  # documents_fts: title, text
FORMAT_VERSION = 1
DATA_FILES = ("db.sqlite", "chunks.faiss", "chunk_vecs.npy", "sent_vecs.npy")
BUILD_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}")  # "20260601T120000-1a2b3c": UTC time of the build, random tail
TMP_PREFIX = ".tmp-"  # builds/.tmp-<id>: a build being written
BUILD_MARKER = ".qabot-build"  # written first into every build folder: the store made it
LEASE_FILE = ".readers"  # flock(LOCK_SH) by every open Build; cleanup skips a build it cannot lock exclusively
# what a build folder holds; a folder without the marker (a build from before markers) is the store's only
# if it holds nothing else
BUILD_FILES = frozenset(DATA_FILES + ("manifest.json", "db.sqlite-journal", BUILD_MARKER, LEASE_FILE))
KEEP_BUILDS = 2  # cleanup keeps the current build and the one before it (unless a reader holds older ones)
OPEN_ATTEMPTS = 3  # pointer reads when the build it names is replaced while being opened
FOREIGN_SHOWN = 5  # entries named in the refusal of a builds/ that holds foreign ones
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
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


class BuildGone(Exception):
    """The build folder is gone, or being removed by a cleanup (its lease file is locked exclusively)."""


class ReaderLease:
    """A shared flock on a build's LEASE_FILE, held while this process has the build open.

    flock belongs to an open file description, so each open Build holds its own lease, across processes
    and within one; cleanup (in any process) tries an exclusive lock without waiting and keeps the build
    when that fails. Readers never create the file: only the builder does, so a reader cannot lease a
    folder that cleanup is emptying. The lock goes with the descriptor: on release(), or when the lease
    is garbage-collected."""

    def __init__(self, fd: int):
        self._release = weakref.finalize(self, os.close, fd)

    @classmethod
    def take(cls, bdir: Path) -> ReaderLease | None:
        """The lease on the build in `bdir`; None for a build made before leases existed.

        Raises BuildGone when the build is gone or being removed."""
        path = bdir / LEASE_FILE
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            if not (bdir / BUILD_MARKER).exists() and (bdir / "manifest.json").is_file():
                log.debug("%s has no lease file (built before leases): opened without one", bdir)
                return None
            raise BuildGone("missing") from None
        except OSError as exc:
            raise CorruptIndexError(f"{path} cannot be opened ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            # cleanup may have emptied the folder between our open and our lock: the file must still be there
            here, mine = os.stat(path, follow_symlinks=False), os.fstat(fd)
            if (here.st_dev, here.st_ino) != (mine.st_dev, mine.st_ino):
                raise FileNotFoundError
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            raise BuildGone("being removed") from None
        return cls(fd)

    def release(self) -> None:
        self._release()


class Build:
    """A finished build opened for reading: SQLite read-only, FAISS in memory, vectors memory-mapped.

    While open it holds a reader lease (see ReaderLease) so that no cleanup deletes its files; close()
    releases it."""

    def __init__(self, path: Path, manifest: dict, lease: ReaderLease | None = None):
        self.path = path
        self.manifest = manifest
        self.build_id = manifest["build_id"]
        self.built_at = manifest["built_at"]
        self._lease = lease
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []  # every thread's connection, so close() reaches them all
        self._conns_lock = threading.Lock()
        self._generation = 0  # bumped by close(): a thread's older connection is then reopened
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
        """This thread's read-only connection (one per thread; reopened after close())."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.generation != self._generation:
            uri = f"file:{self.path / 'db.sqlite'}?mode=ro&immutable=1"
            try:
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute("select count(*) from documents").fetchone()
            except sqlite3.DatabaseError as exc:
                raise CorruptIndexError(f"build {self.build_id}: db.sqlite cannot be read ({exc})") from None
            with self._conns_lock:
                self._conns.append(conn)
                self._local.conn, self._local.generation = conn, self._generation
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
        """Close every thread's connection and release the reader lease: cleanup may then remove the build.

        Call it when no thread is reading the build any more (Engine counts its readers for this)."""
        with self._conns_lock:
            conns, self._conns = self._conns, []
            self._generation += 1
        for conn in conns:
            conn.close()
        if self._lease is not None:
            self._lease.release()
            self._lease = None


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

    def pointer_stamp(self) -> tuple[int, int, int, int] | None:
        """A cheap fingerprint of CURRENT (inode, size, mtime and ctime in ns): it changes whenever any
        process switches the pointer (os.replace gives it a new inode and times). None if it is missing."""
        try:
            st = os.stat(self.path / "CURRENT")
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns

    def exists(self) -> bool:
        """True when there is a CURRENT pointer, even a damaged one (opening it then says what is wrong)."""
        try:
            return self.pointer() is not None
        except CorruptIndexError:
            return True

    def read_manifest(self, verify: bool = True) -> tuple[Path, dict]:
        """The folder and manifest of the build CURRENT names (its checksum checked when `verify`)."""
        ptr = self.pointer()
        if ptr is None:
            raise IndexUnavailableError(f"{self.path} has no index yet")
        return self._manifest(*ptr, verify=verify)

    def _manifest(self, build_id: str, manifest_sha: str, verify: bool = True) -> tuple[Path, dict]:
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
        """Open (and verify) the build CURRENT names, under a reader lease.

        A build that vanishes or fails while the pointer moves on was replaced by another process's
        `qabot index`, not damaged: the pointer is read again (OPEN_ATTEMPTS in all). Only a failure of
        the build the pointer still names is reported as corruption."""
        for attempt in range(OPEN_ATTEMPTS):
            ptr = self.pointer()
            if ptr is None:
                raise IndexUnavailableError(f"{self.path} has no index yet")
            try:
                return self._open(*ptr, model_name=model_name, dim=dim, verify=verify)
            except CorruptIndexError as exc:
                try:
                    moved = self.pointer() != ptr
                except CorruptIndexError:
                    moved = False
                if not moved:
                    raise
                log.info("build %s was replaced while being opened (%s); reading %s again",
                         ptr[0], exc, self.path / "CURRENT")
        raise IndexChangingError(f"{self.path / 'CURRENT'} moved to a new build {OPEN_ATTEMPTS} times "
                                 "while it was being opened")

    def _open(self, build_id: str, manifest_sha: str, model_name: str | None, dim: int | None,
              verify: bool) -> Build:
        try:
            lease = ReaderLease.take(self.builds / build_id)
        except BuildGone as gone:
            state = "" if str(gone) == "missing" else f" ({gone})"
            raise CorruptIndexError(f"build {build_id} named by {self.path / 'CURRENT'} is missing{state}") from None
        try:
            bdir, manifest = self._manifest(build_id, manifest_sha, verify=verify)
            if manifest.get("format") != FORMAT_VERSION:
                raise IndexMismatchError(f"index format {manifest.get('format')} is not {FORMAT_VERSION}")
            if model_name and (manifest.get("model") != model_name or (dim and manifest.get("dim") != dim)):
                raise IndexMismatchError(
                    f"the index was built with {manifest.get('model')} ({manifest.get('dim')} dims), "
                    f"but the model in use is {model_name} ({dim} dims)")
            if verify:
                self.verify(bdir, manifest)
            return Build(bdir, manifest, lease)
        except BaseException:
            if lease is not None:
                lease.release()
            raise

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
        """A new build id and its empty `.tmp-<id>` folder, marked as this store's and given its lease file."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = self._open_builds()  # refuses a builds/ that is a link
        names = []
        if fd is not None:
            try:
                names = [n.removeprefix(TMP_PREFIX) for n in os.listdir(fd)]
            except OSError:
                pass
            finally:
                os.close(fd)
        # ids sort in build order (cleanup relies on it): never at or before the newest existing build
        stamp = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
        for n in names:
            try:
                seen = datetime.strptime(n.split("-")[0], "%Y%m%dT%H%M%S")
            except ValueError:
                continue
            if seen >= stamp:
                stamp = seen + timedelta(seconds=1)
        build_id = stamp.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        tmp = self.builds / f"{TMP_PREFIX}{build_id}"
        try:
            tmp.mkdir(parents=True)
            # the marker first: a folder killed before it is empty, which cleanup may remove too
            (tmp / BUILD_MARKER).write_text(f"qabot build {build_id}: made by qabot's index store\n")
            (tmp / LEASE_FILE).touch(mode=0o644)  # readers only open it, so it must exist before any reader
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

    def cleanup(self, keep: int = KEEP_BUILDS) -> list[str]:
        """Remove unfinished builds, finished builds never switched to, and all but the newest `keep`
        finished ones; returns the names removed. Call it under the lock.

        Only folders this store made are touched, through a descriptor of builds/ opened without
        following links. A build that a live process has open (its reader lease is held) is kept for a
        later cleanup. Raises UnsafeIndexDirError, having removed nothing, when builds/ is a link or
        holds anything the store did not make."""
        removed: list[str] = []
        fd = self._open_builds()
        if fd is None:
            return removed
        try:
            finished, unfinished = self._survey(fd)
            try:
                current = (self.pointer() or ("", ""))[0]
            except CorruptIndexError:
                current = ""  # a damaged pointer must not stop the build that repairs it
            for p in self.path.glob("CURRENT.tmp-*"):
                if not p.is_dir():
                    p.unlink(missing_ok=True)
            finished.sort()
            # a finished build newer than the current one was never switched to (a build killed between
            # rename and pointer switch): nobody can be reading it
            orphans = [n for n in finished if current and n > current]
            others = [n for n in finished if n != current and n not in orphans]
            old = (others[:-(keep - 1)] if keep > 1 else others) if keep else []
            for name in unfinished:
                if self._remove(fd, name, leased=False):
                    removed.append(name)
            for name in orphans + old:
                if self._remove(fd, name, leased=True):
                    removed.append(name)
                else:
                    log.info("build %s kept: another process has it open (removed by a later build)", name)
        finally:
            os.close(fd)
        return removed

    def discard(self, build_id: str) -> None:
        """Remove a failed build's folder, renamed or not, unless the pointer already names it; never raises."""
        try:
            named = (self.pointer() or ("", ""))[0]
        except CorruptIndexError:
            named = ""
        try:
            fd = self._open_builds()
        except UnsafeIndexDirError as exc:
            log.warning("failed build %s left in place: %s", build_id, exc)
            return
        if fd is None:
            return
        try:
            self._remove(fd, TMP_PREFIX + build_id, leased=False)
            if named != build_id:
                self._remove(fd, build_id, leased=True)
        finally:
            os.close(fd)

    def _open_builds(self) -> int | None:
        """A descriptor of builds/ (None if there is none); UnsafeIndexDirError if it is not a real folder."""
        try:
            st = os.lstat(self.builds)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BuildError(f"cannot read {self.builds} ({exc.strerror})") from None
        elsewhere = "set index_dir to a folder of its own (index_dir itself may be a link, say to another disk)"
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeIndexDirError(
                f"{self.builds} is a symbolic link (to {os.readlink(self.builds)}); qabot deletes old builds in "
                "that folder, so it never follows a link there and will not build",
                f"remove the link (`rm {self.builds}` removes only the link) and run `qabot index --full`, "
                f"or {elsewhere}")
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeIndexDirError(f"{self.builds} is not a folder; qabot keeps its builds there",
                                      f"move {self.builds} aside, or {elsewhere}")
        try:
            return os.open(self.builds, _DIR_FLAGS)
        except OSError as exc:  # ELOOP: swapped for a link since the check
            raise BuildError(f"cannot open {self.builds} ({exc.strerror})") from None

    def _survey(self, fd: int) -> tuple[list[str], list[str]]:
        """Names of the finished and unfinished builds in builds/ (open as `fd`), refusing foreign entries."""
        finished, unfinished, foreign = [], [], []
        with os.scandir(fd) as it:
            entries = list(it)
        for e in entries:
            ours = (BUILD_ID.fullmatch(e.name.removeprefix(TMP_PREFIX)) is not None
                    and e.is_dir(follow_symlinks=False) and _made_by_store(fd, e.name))
            if not ours:
                foreign.append(e.name)
            else:
                (unfinished if e.name.startswith(TMP_PREFIX) else finished).append(e.name)
        if foreign:
            shown = ", ".join(sorted(foreign)[:FOREIGN_SHOWN]) + (", ..." if len(foreign) > FOREIGN_SHOWN else "")
            raise UnsafeIndexDirError(
                f"{self.builds} holds {len(foreign)} entr{'y' if len(foreign) == 1 else 'ies'} qabot did not "
                f"create ({shown}); qabot deletes old builds in that folder, so it will not build there",
                f"move {'it' if len(foreign) == 1 else 'them'} out of {self.builds}, "
                "or set index_dir to a folder of its own")
        return finished, unfinished

    def _remove(self, fd: int, name: str, leased: bool) -> bool:
        """Delete the build folder `name` in builds/ (open as `fd`) without following links; False, leaving
        it, when `leased` and a reader holds its lease, or when it cannot be deleted. The marker goes last,
        so a removal cut short leaves a folder the next cleanup still recognises."""
        try:
            dfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            return True
        except OSError as exc:
            log.warning("cannot remove %s (%s)", self.builds / name, exc.strerror)
            return False
        lease = None
        try:
            if leased:
                try:
                    lease = os.open(LEASE_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
                    fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until the folder is gone
                except FileNotFoundError:
                    pass  # a build from before leases: no reader can hold one
                except BlockingIOError:
                    return False
            with os.scandir(dfd) as it:
                entries = list(it)
            last = [e.name for e in entries if e.name in (LEASE_FILE, BUILD_MARKER)]
            for e in entries:
                if e.name in last:
                    continue
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.name, dir_fd=dfd)
                else:
                    os.unlink(e.name, dir_fd=dfd)
            for n in sorted(last, key=lambda n: n == BUILD_MARKER):  # the lease file, then the marker
                os.unlink(n, dir_fd=dfd)
            os.rmdir(name, dir_fd=fd)
            return True
        except OSError as exc:
            log.warning("cannot remove %s (%s)", self.builds / name, exc.strerror or exc)
            return False
        finally:
            os.close(dfd)
            if lease is not None:
                os.close(lease)


def _made_by_store(fd: int, name: str) -> bool:
    """True if the folder `name` in builds/ (open as `fd`) holds the marker, or holds only build files."""
    try:
        dfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
    except OSError:
        return False
    try:
        with os.scandir(dfd) as it:
            inside = {e.name: e.is_file(follow_symlinks=False) for e in it}
    finally:
        os.close(dfd)
    if inside.get(BUILD_MARKER):
        return True
    return all(regular and n in BUILD_FILES for n, regular in inside.items())


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
