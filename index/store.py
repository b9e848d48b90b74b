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

A build's two sides live in modules of their own, as txtai keeps `database/` and `ann/` apart: content.py
(the SQLite database, and every SQL statement about it) and vectors.py (FAISS and the vector files). This
module puts them together (Build, write_build_files) and owns the folder: leases, checksums, the pointer,
cleanup.
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
import time
import uuid
import weakref
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from .content import DB_FILE, Content, write_content
from .errors import (
    BuildError,
    BuildLockedError,
    CorruptIndexError,
    IndexChangingError,
    IndexMismatchError,
    IndexUnavailableError,
    UnsafeIndexDirError,
)
from .sets import SCOPE_CACHE, Scope, make_scope, set_counts, unknown_note
from .vectors import VECTOR_FILES, Vectors, write_vectors

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DATA_FILES = (DB_FILE,) + VECTOR_FILES
BUILD_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}")  # "20260601T120000-1a2b3c": UTC time of the build, random tail
TMP_PREFIX = ".tmp-"  # builds/.tmp-<id>: a build being written
BUILD_MARKER = ".qabot-build"  # written first into every build folder: the store made it
LEASE_FILE = ".readers"  # flock(LOCK_SH) by every open Build; cleanup skips a build it cannot lock exclusively
# what a build folder holds; a folder without the marker (a build from before markers) is the store's only
# if it holds nothing else
BUILD_FILES = frozenset(DATA_FILES + ("manifest.json", DB_FILE + "-journal", BUILD_MARKER, LEASE_FILE))
KEEP_BUILDS = 2  # cleanup keeps the current build and the one before it (unless a reader holds older ones)
OPEN_ATTEMPTS = 3  # pointer reads when the build it names is replaced while being opened
FOREIGN_SHOWN = 5  # entries named in the refusal of a builds/ that holds foreign ones
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


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
    """A finished build opened for reading: its content database (content.py) and its vectors
    (vectors.py), put together with the manifest.

    The methods the engine reads a build through are named here, each answered by one side; `db` and
    `query` give tests raw read access. While open the build holds a reader lease (see ReaderLease) so
    that no cleanup deletes its files; close() releases it."""

    def __init__(self, path: Path, manifest: dict, lease: ReaderLease | None = None):
        self.path = path
        self.manifest = manifest
        self.build_id = manifest["build_id"]
        self.built_at = manifest["built_at"]
        self._lease = lease
        try:
            self.vectors = Vectors(path, manifest)
        except Exception as exc:
            raise CorruptIndexError(f"build {self.build_id} cannot be read ({exc})") from None
        self.content = Content(path, self.build_id)
        self.documents = self.content.documents  # id -> id, path, title, url, date, kind, pages
        self.has_doc_fts = self.content.has_doc_fts
        self._doc_ids: dict[str, int] | None = None
        self._scopes: dict[tuple[str, ...], tuple[Scope | None, str]] = {}
        self._memo: dict[tuple[str, str], list[tuple[int, str]]] = {}  # saved_questions by set

    @property
    def n_chunks(self) -> int:
        return int(self.manifest["counts"]["chunks"])

    # ---- document sets -------------------------------------------------------------------
    def scope(self, names: tuple[str, ...]) -> tuple[Scope | None, str]:
        """The Scope of the documents in any of the sets `names` (sets.wanted makes them), and a note
        naming those of `names` that no document is in ("" when all exist). None: every document is in
        scope, so nothing is filtered. Cached per build."""
        got = self._scopes.get(names)
        if got is None:
            docs = self.documents
            present = {n for d in docs.values() for n in d["sets"]}
            # a saved set nobody has saved into yet is not worth a note; an unknown document set is
            unknown = [n for n in names if n not in present and not n.startswith("saved:")]
            note = unknown_note(unknown, sorted(present)) if unknown else ""
            wanted = set(names)
            ids = frozenset(i for i, d in docs.items() if wanted.intersection(d["sets"]))
            scope = None if len(ids) == len(docs) else make_scope(names, ids, self.content.chunk_spans(), self.n_chunks)
            if len(self._scopes) >= SCOPE_CACHE:
                self._scopes.clear()
            got = self._scopes[names] = (scope, note)
        return got

    def saved_questions(self, name: str) -> list[tuple[int, str]]:
        """(document id, the question it replied to) of every saved answer in set `name` that has one."""
        key = ("questions", name)
        got = self._memo.get(key)
        if got is None:
            ids = [i for i, d in self.documents.items() if name in d["sets"]]
            got = [(i, q) for i in ids if (q := str(self.doc_meta(i).get("question") or "").strip())]
            self._memo[key] = got
        return got

    def set_counts(self) -> dict[str, dict[str, int]]:
        """{set name: {"documents", "chunks"}} for every set of this build, saved sets included."""
        return set_counts(self.documents, self.content.chunk_spans())

    # ---- the vector side -----------------------------------------------------------------
    def dense(self, qvec: np.ndarray, k: int, scope: Scope | None = None) -> list[tuple[int, float]]:
        if scope is None:
            return self.vectors.dense(qvec, k)
        return self.vectors.dense(qvec, k, scope.bitmap, scope.chunks)

    def chunk_cosines(self, ids, qvec: np.ndarray) -> np.ndarray:
        return self.vectors.chunk_cosines(ids, qvec)

    def chunk_vectors(self, ids) -> np.ndarray:
        return self.vectors.chunk_vectors(ids)

    def sentence_vectors(self, ids) -> np.ndarray:
        return self.vectors.sentence_vectors(ids)

    # ---- the content side ----------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        return self.content.db

    def query(self, sql: str, params=()) -> list[dict]:
        return self.content.query(sql, params)

    def doc_text(self, doc_id: int) -> str:
        return self.content.doc_text(doc_id)

    def doc_rows(self) -> list[dict]:
        return self.content.doc_rows()

    def doc_meta(self, doc_id: int) -> dict:
        return self.content.doc_meta(doc_id)

    def doc_id(self, path: str) -> int | None:
        """The id of the document at `path` (a map made on first use)."""
        if self._doc_ids is None:
            self._doc_ids = {d["path"]: i for i, d in self.documents.items()}
        return self._doc_ids.get(path)

    def doc_freq(self, terms: list[str]) -> dict[str, int]:
        return self.content.doc_freq(terms)

    def chunk_rows(self, ids: list[int]) -> dict[int, dict]:
        return self.content.chunk_rows(ids)

    def chunk_docs(self, ids: list[int]) -> dict[int, int]:
        return self.content.chunk_docs(ids)

    def chunk_ids(self, doc_id: int) -> list[int]:
        return self.content.chunk_ids(doc_id)

    def sentence_ids(self, doc_id: int) -> list[int]:
        return self.content.sentence_ids(doc_id)

    def sentences(self, ids: list[int]) -> dict[int, dict]:
        return self.content.sentences(ids)

    def neighbours(self, doc_id: int, ord: int, radius: int) -> list[tuple[int, int]]:
        return self.content.neighbours(doc_id, ord, radius)

    def sentence_at(self, doc_id: int, ord: int) -> tuple[int, int] | None:
        return self.content.sentence_at(doc_id, ord)

    def sentence_window(self, doc_id: int, ord: int) -> tuple[tuple | None, tuple | None]:
        return self.content.sentence_window(doc_id, ord)

    def keyword(self, match: str, k: int, scope: Scope | None = None) -> list[tuple[int, float]]:
        return self.content.keyword(match, k, None if scope is None else scope.mask)

    def keyword_scores(self, match: str, among: set[int]) -> dict[int, float]:
        return self.content.keyword_scores(match, among)

    def doc_keyword_scores(self, match: str) -> dict[int, float]:
        return self.content.doc_keyword_scores(match)

    def close(self):
        """Close every thread's connection and release the reader lease: cleanup may then remove the build.

        Call it when no thread is reading the build any more (Engine counts its readers for this)."""
        self.content.close()
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
        for _ in range(OPEN_ATTEMPTS):
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
                log.info(
                    "build %s was replaced while being opened (%s); reading %s again",
                    ptr[0],
                    exc,
                    self.path / "CURRENT",
                )
        raise IndexChangingError(
            f"{self.path / 'CURRENT'} moved to a new build {OPEN_ATTEMPTS} times while it was being opened"
        )

    def _open(self, build_id: str, manifest_sha: str, model_name: str | None, dim: int | None, verify: bool) -> Build:
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
                    f"but the model in use is {model_name} ({dim} dims)"
                )
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
        stamp = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
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
            old = (others[: -(keep - 1)] if keep > 1 else others) if keep else []
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
                f"or {elsewhere}",
            )
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeIndexDirError(
                f"{self.builds} is not a folder; qabot keeps its builds there",
                f"move {self.builds} aside, or {elsewhere}",
            )
        try:
            return os.open(self.builds, _DIR_FLAGS)
        except OSError as exc:  # ELOOP: swapped for a link since the check
            raise BuildError(f"cannot open {self.builds} ({exc.strerror})") from None

    def _survey(self, fd: int) -> tuple[list[str], list[str]]:
        """Names of the finished and unfinished builds in builds/ (open as `fd`), refusing foreign entries."""
        finished: list[str] = []
        unfinished: list[str] = []
        foreign: list[str] = []
        with os.scandir(fd) as it:
            entries = list(it)
        for e in entries:
            ours = (
                BUILD_ID.fullmatch(e.name.removeprefix(TMP_PREFIX)) is not None
                and e.is_dir(follow_symlinks=False)
                and _made_by_store(fd, e.name)
            )
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
                "or set index_dir to a folder of its own",
            )
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


def write_build_files(
    tmp: Path,
    db_rows: dict,
    chunk_vecs: np.ndarray,
    sent_vecs: np.ndarray,
    index_kind: str | None = None,
    document_fts: bool = False,
) -> str:
    """Write a build's data files into tmp: the content database (content.write_content, which says what
    `document_fts` adds), then the FAISS index and the vector files (vectors.write_vectors). Returns the
    index kind; a failed write is a BuildError saying what could not be written."""
    try:
        write_content(tmp, db_rows, document_fts)
        return write_vectors(tmp, chunk_vecs, sent_vecs, index_kind)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
            raise BuildError(f"cannot write the new build in {tmp.parent} ({exc.strerror})") from None
        raise BuildError(f"writing the new build failed ({exc})") from None
    except sqlite3.OperationalError as exc:
        raise BuildError(f"cannot write the new build's database in {tmp.parent} ({exc})") from None
    except RuntimeError as exc:  # faiss.write_index reports a failed write (disk full, read-only) this way
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BuildError(f"cannot write the new build's FAISS index in {tmp.parent} ({first})") from None
