"""The one entry point the CLI, the bot and the benchmarks share: ask, rebuild, reload.

The engine serves one build at a time and follows CURRENT: a `qabot index` run by another process (an
admin's terminal while `qabot serve` runs) is picked up by the next ask, at the cost of one stat() of
CURRENT per ask. Asks in flight keep the build they started with; a build no ask uses any more is closed,
which releases its reader lease so a later cleanup may remove it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Collection
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import saved as saved_mod
from .activity import ActivityLog
from .answer import Answerer
from .config import Settings, load_settings
from .decide import CALIBRATION_FILE, load_calibration
from .errors import IndexMismatchError, IndexUnavailableError, QabotError, QuestionError, SavedAnswerError
from .followup import understand
from .present import saved_quote
from .question import parse_question
from .saved import SavedAnswer, same_question
from .sets import is_saved, saved_set, wanted
from .store import Build, IndexStore
from .text import content_terms, term_set
from .types import Answer, BuildSummary, Quote

log = logging.getLogger(__name__)

CALIBRATION_NAME = "calibration.json"  # in the index folder: `qabot calibrate`'s fit for this installation
REFRESH_LOG = 20  # refreshes remembered for /stats
SAVE_LOCK_WAIT_S = 30.0  # a save waits this long for a build in progress before it reports the lock


@dataclass
class Refresh:
    """One refresh: each source synced, then the build (None when the build itself failed: `error`)."""

    syncs: list = field(default_factory=list)  # sources.SyncReport, one per remote source synced
    build: BuildSummary | None = None
    error: str = ""
    at: str = ""

    def to_json(self) -> dict:
        return {
            "at": self.at,
            "sources": [r.to_json() for r in self.syncs],
            "build": self.build.to_json() if self.build else None,
            "error": self.error,
        }

    def line(self) -> str:
        parts = [r.line() for r in self.syncs]
        parts.append(self.build.line() if self.build else f"build failed: {self.error}")
        return "; ".join(parts)


def check_question(question: str, max_chars: int = 1000, need_terms: bool = True) -> str:
    """The question cleaned of control characters, or QuestionError saying what to ask instead.
    `need_terms=False` lets through a question without a word to search for ("what's its name?"): a
    follow-up, which its earlier question may complete."""
    if not isinstance(question, str):
        raise QuestionError("Ask a question as text.")
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in question)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError("The question is empty. Ask something like: which banks were sanctioned?")
    if len(cleaned) > max_chars:
        raise QuestionError(f"The question is {len(cleaned)} characters long; please keep it under {max_chars}.")
    if need_terms and not content_terms(cleaned):
        raise QuestionError(
            "That question has no words to search for. Try naming what you want to know, "
            "for example: which banks were sanctioned?"
        )
    return cleaned


class Engine:
    """Owns the current build and the encoder; answers questions and swaps builds without a restart."""

    def __init__(self, settings: Settings | None = None, encoder=None, reader: bool = True):
        """reader=False answers by the rules alone (`qabot train` reads with them, whatever reader is shipped)."""
        self.settings = settings or load_settings()
        self.store = IndexStore(self.settings.index_path)
        self._encoder = encoder
        self._build: Build | None = None
        self._stamp = None  # store.pointer_stamp() when the build in service was chosen
        self._users: dict[Build, int] = {}  # builds in use by asks (sources, info): closed when retired and unused
        self._lock = threading.RLock()  # guards _build, _stamp and _users
        self._swap_lock = threading.Lock()  # one thread at a time opens a new build
        self.answerer = Answerer(
            max_quotes=self.settings.max_quotes,
            max_list_quotes=self.settings.max_list_quotes,
            calibration=load_calibration(self.calibration_path),
            reader=reader,
        )
        self.activity = ActivityLog(self.settings.index_path / "activity.sqlite")
        self._qcache: dict[str, np.ndarray] = {}
        self.refreshes: deque[Refresh] = deque(maxlen=REFRESH_LOG)  # newest last; /stats shows them

    @property
    def calibration_path(self) -> Path:
        """This index's own calibration (written by `qabot calibrate`) if there is one, else the corpus's
        (the `calibration` setting, a file beside the configuration), else the shipped one."""
        own = self.settings.index_path / CALIBRATION_NAME
        if own.is_file():
            return own
        if self.settings.calibration:
            configured = (self.settings.root / self.settings.calibration).resolve()
            if not configured.is_file():
                log.warning("calibration file %s not found; using the shipped calibration", configured)
            elif not self._calibration_fits(configured):
                log.warning(
                    "calibration file %s was fitted on other sources than this corpus's; using the shipped calibration",
                    configured,
                )
            else:
                return configured
        return CALIBRATION_FILE

    def _calibration_fits(self, path: Path) -> bool:
        """A corpus calibration may name the source folders it was fitted on (`"sources"`); it fits only a
        deployment that still reads them all. The bundled corpus's threshold, applied to another corpus
        through the same qabot.toml (QABOT_SOURCES pointing elsewhere), would answer at a level measured
        on other questions."""
        cal = load_calibration(path)  # {} when unreadable: nothing to check here
        fitted = cal.get("sources") if isinstance(cal, dict) else None
        if not fitted:
            return True
        have = {(self.settings.root / s.location).resolve() for s in self.settings.all_sources if s.kind == "folder"}
        return all((self.settings.root / f).resolve() in have for f in fitted)

    @property
    def encoder(self):
        if self._encoder is None:
            from .embedding import HashEncoder, shared_encoder

            self._encoder = HashEncoder() if self.settings.encoder == "hash" else shared_encoder()
        return self._encoder

    # ---- the build in service ------------------------------------------------------------
    def build(self) -> Build:
        """The build in service: opened (and verified) on first use, and switched to the one CURRENT names
        whenever CURRENT changed since (a stat per call; the pointer is read only when the stat differs).

        While one thread opens the new build, other calls keep getting the old one. A new build that cannot
        be opened is logged and the old one kept, until CURRENT changes again."""
        stamp = self.store.pointer_stamp()
        with self._lock:
            serving = self._build
            if serving is not None and stamp == self._stamp:
                return serving
        if serving is None:
            self._swap_lock.acquire()
        elif not self._swap_lock.acquire(blocking=False):
            return serving
        try:
            with self._lock:  # another thread may have switched while this one waited
                serving = self._build
                if serving is not None and stamp == self._stamp:
                    return serving
            if serving is None:
                return self._serve(self._open(), stamp)
            try:
                ptr = self.store.pointer()
                if ptr is not None and ptr[0] == serving.build_id:
                    return self._serve(serving, stamp)
                new = self._open()
            except IndexUnavailableError as exc:
                log.warning(
                    "CURRENT changed, but staying on build %s: %s%s",
                    serving.build_id,
                    exc,
                    f" ({exc.hint})" if exc.hint else "",
                )
                return self._serve(serving, stamp)
            log.info("switched to build %s (CURRENT changed; was %s)", new.build_id, serving.build_id)
            return self._serve(new, stamp)
        finally:
            self._swap_lock.release()

    def reload(self) -> str:
        """Switch to whatever build the pointer names now; asks in flight keep their old build."""
        with self._swap_lock:
            stamp = self.store.pointer_stamp()  # before the pointer is read: a later switch is noticed
            return self._serve(self._open(), stamp).build_id

    def _open(self) -> Build:
        """The current build, opened and verified for this engine's encoder."""
        build = self.store.open_current(self.encoder.name, None)
        dim = getattr(self.encoder, "dim", None)
        if dim is not None and build.manifest.get("dim") != dim:
            build.close()
            raise IndexMismatchError(f"the index has {build.manifest.get('dim')} dimensions, the model {dim}")
        return build

    def _serve(self, build: Build, stamp) -> Build:
        """Put `build` in service as of pointer `stamp`; close the one it replaces if no ask is using it."""
        with self._lock:
            old, self._build, self._stamp = self._build, build, stamp
            if old is not None and old is not build and not self._users.get(old):
                old.close()
            return build

    @contextmanager
    def _using(self):
        """The build in service, counted as in use until the block ends (then closed if it was retired)."""
        while True:
            build = self.build()
            with self._lock:
                if build is self._build:  # not retired (and perhaps closed) since build() returned it
                    self._users[build] = self._users.get(build, 0) + 1
                    break
        try:
            yield build
        finally:
            with self._lock:
                left = self._users.pop(build) - 1
                if left:
                    self._users[build] = left
                elif build is not self._build:
                    build.close()

    def ensure_index(self, progress: bool = False) -> BuildSummary | None:
        """Build the index if there is none yet; returns the summary or None if one existed."""
        if self.store.exists():
            return None
        return self.rebuild(progress=progress)

    def rebuild(self, full: bool = False, progress: bool = False, lock_wait: float = 0.0) -> BuildSummary:
        """Incremental (or full) rebuild under the build lock, then switch this engine to it."""
        from .build import build_index

        summary = build_index(self.settings, self.encoder, full=full, progress=progress, lock_wait=lock_wait)
        current = self._build.build_id if self._build is not None else None
        if summary.build_id != current:
            self.reload()
        return summary

    async def arebuild(self, full: bool = False) -> BuildSummary:
        return await asyncio.to_thread(self.rebuild, full)

    def refresh(
        self,
        names: list[str] | None = None,
        *,
        accept_removals: bool = False,
        full: bool = False,
        progress: bool = False,
        lock_wait: float = 0.0,
        build: bool = True,
    ) -> Refresh:
        """Sync the named remote sources (every one when None), then rebuild from all sources, as
        `qabot index` and the scheduler do. A source that fails keeps its last good documents (its
        report says why); a build that fails raises, after the refresh is recorded."""
        from . import sources

        out = Refresh(at=sources.now_iso())
        for spec in sources.select(self.settings, names):
            if spec.remote:
                out.syncs.append(sources.sync(self.settings, spec, accept_removals=accept_removals))
        self.refreshes.append(out)
        if build:
            try:
                out.build = self.rebuild(full=full, progress=progress, lock_wait=lock_wait)
            except QabotError as exc:
                out.error = str(exc)
                raise
        log.info("refresh: %s", out.line())
        return out

    def source_status(self) -> list[dict]:
        """Each source: kind, where, documents in the build in service, last good sync, next sync, last
        error (and whether it is stale: its last sync failed, so its documents are from an older one)."""
        from . import sources

        try:
            with self._using() as b:
                counts = b.manifest.get("source_counts")
        except IndexUnavailableError:
            counts = None
        out = []
        for spec in self.settings.all_sources:
            st = sources.status(self.settings, spec)
            if spec.remote:
                next_sync = st.get("next_sync") or "at the next `qabot index`"
            else:
                next_sync = "on change (watched)" if spec.watch else "at the next `qabot index`"
            out.append(
                {
                    "name": spec.name,
                    "kind": spec.kind,
                    "location": spec.location,
                    "documents": None if counts is None else counts.get(spec.name),
                    "last_ok": st.get("last_ok", ""),
                    "last_attempt": st.get("last_attempt", ""),
                    "next_sync": next_sync,
                    "last_error": st.get("last_error", ""),
                    "stale": bool(st.get("last_error")),
                    "refresh_s": spec.refresh,
                    "sets": list(spec.all_sets),
                }
            )
        return out

    # ---- asking --------------------------------------------------------------------------
    def embed_question(self, question: str) -> np.ndarray:
        vec = self._qcache.get(question)
        if vec is None:
            vec = self.encoder.encode([question])[0]
            if len(self._qcache) > 2048:
                self._qcache.clear()
            self._qcache[question] = vec
        return vec

    def embed_questions(self, questions: list[str]) -> np.ndarray:
        """Several questions in one encoder call (cached like embed_question)."""
        todo = [q for q in dict.fromkeys(questions) if q not in self._qcache]
        if todo:
            if len(self._qcache) > 2048:
                self._qcache.clear()
            self._qcache.update(zip(todo, self.encoder.encode(todo)))
        return np.vstack([self._qcache[q] for q in questions])

    def ask(
        self,
        question: str,
        *,
        sets: Collection[str] | None = None,
        guild_id: int | None = None,
        previous: str | None = None,
    ) -> Answer:
        """Answer from the build in service: verbatim quotes, or an abstention with closest passages.

        `sets`: only documents in one of these sets (None, or naming `all`: every source document; an
        unknown set searches nothing, and the answer's note says so). `guild_id`: that server's saved
        answers are searched too (and no other server's, ever). `previous`: the earlier question this
        one may follow up (index/followup.py decides; Answer.follow_up says whether it did)."""
        t0 = time.perf_counter()
        q = check_question(question, self.settings.max_question_chars, need_terms=not previous)
        fu = understand(previous, q) if previous else None
        searched = fu.question if fu is not None and fu.previous else q
        if previous:
            check_question(searched, len(searched) + 1)  # still nothing to search for: say so
        names = wanted(sets, guild_id)
        with self._using() as build:  # captured once: a switch during this ask does not affect it
            scope, note = build.scope(names)
            if scope is not None and scope.empty:
                answer = Answer(q, True, [], build_id=build.build_id, built_at=build.built_at)
            else:
                parsed = parse_question(searched)  # once, for every stage
                if parsed.parts:  # a two-part question: the whole and its halves in one encoder call
                    self.embed_questions([searched, *parsed.parts])
                qvec = self.embed_question(searched)
                answer = self.answerer.answer(build, parsed, qvec, embed=self.embed_questions, scope=scope)
                if guild_id is not None:
                    answer = self._prefer_saved(build, answer, parsed, qvec, saved_set(guild_id))
                if build.manifest.get("line_links"):
                    for quote in (*answer.quotes, *answer.more):
                        _link_lines(build, quote)
        answer.question = q
        answer.sets = names
        answer.note = note
        if fu is not None and fu.previous:
            answer.follow_up, answer.understood = fu.previous, searched
        answer.took_ms = (time.perf_counter() - t0) * 1000
        return answer

    async def aask(
        self,
        question: str,
        *,
        sets: Collection[str] | None = None,
        guild_id: int | None = None,
        previous: str | None = None,
    ) -> Answer:
        return await asyncio.to_thread(self.ask, question, sets=sets, guild_id=guild_id, previous=previous)

    # ---- saved answers -------------------------------------------------------------------
    def _prefer_saved(self, build: Build, answer: Answer, parsed, qvec: np.ndarray, name: str) -> Answer:
        """The answer with the server's saved answer first when the question repeats its question
        (saved.same_question); unchanged otherwise."""
        asked = build.saved_questions(name)
        if not asked:
            return answer
        cos = self.embed_questions([q for _, q in asked]) @ np.asarray(qvec, dtype=np.float32)
        best = None
        for (doc_id, q), c in sorted(zip(asked, cos), key=lambda x: -float(x[1])):
            terms = term_set(q + " " + build.doc_text(doc_id))
            if same_question(float(c), parsed.names, terms):
                best = (doc_id, float(c))
                break
        if best is None:
            return answer
        first = saved_quote(build, best[0], best[1], parsed)
        rest = [] if answer.abstained else [q for q in answer.quotes if q.doc != first.doc]
        answer.quotes = [first, *rest][: self.settings.max_quotes]
        answer.abstained = False
        return answer

    def save_answer(self, saved: SavedAnswer) -> BuildSummary:
        """Store a message as a saved answer of its server (index/saved.py) and index it at once,
        incrementally (only its text is embedded). SavedAnswerError when it has nothing to quote."""
        path = saved_mod.write(self.settings.index_path, saved)
        summary = self.rebuild(lock_wait=SAVE_LOCK_WAIT_S)
        skipped = [w for w in summary.warnings if w.startswith(saved.path + ":")]
        if skipped:
            path.unlink(missing_ok=True)
            self.rebuild(lock_wait=SAVE_LOCK_WAIT_S)
            raise SavedAnswerError("That message has no sentence to quote, so it was not saved.")
        log.info("saved answer %s (guild %s) indexed: %s", saved.message_id, saved.guild_id, summary.line())
        return summary

    def remove_saved(self, guild_id: int, message_id: int) -> bool:
        """Remove a saved answer and rebuild without it; False when that message was not saved."""
        if not saved_mod.remove(self.settings.index_path, guild_id, message_id):
            return False
        self.rebuild(lock_wait=SAVE_LOCK_WAIT_S)
        return True

    async def asave_answer(self, saved: SavedAnswer) -> BuildSummary:
        return await asyncio.to_thread(self.save_answer, saved)

    async def aremove_saved(self, guild_id: int, message_id: int) -> bool:
        return await asyncio.to_thread(self.remove_saved, guild_id, message_id)

    # ---- listing -------------------------------------------------------------------------
    def sources(self, filter: str = "", *, guild_id: int | None = None) -> list[dict]:
        """The indexed documents, newest first, with their sets. Saved answers are listed only for their
        own server (`guild_id`); without one, none are."""
        own = saved_set(guild_id) if guild_id is not None else None
        with self._using() as b:
            docs = sorted(b.documents.values(), key=lambda d: (d["date"] or "", d["path"]), reverse=True)
        f = filter.lower().strip()
        return [
            {"path": d["path"], "title": d["title"], "url": d["url"], "date": d["date"], "sets": list(d["sets"])}
            for d in docs
            if (not f or f in (d["title"] or "").lower() or f in d["path"].lower())
            and all(not is_saved(n) or n == own for n in d["sets"])
        ]

    def info(self) -> dict:
        """Counts of the build in service; `sets` has every set's documents and chunks, saved sets
        (`saved:<guild id>`) included: an edge shows a server only its own."""
        with self._using() as b:
            c = b.manifest["counts"]
            sets = b.set_counts()
        return {
            "sets": sets,
            "documents": c["documents"],
            "chunks": c["chunks"],
            "sentences": c["sentences"],
            "build_id": b.build_id,
            "built_at": b.built_at,
            "index_type": b.manifest.get("index_type"),
            "model": b.manifest.get("model"),
        }


def _link_lines(build: Build, quote: Quote) -> None:
    """A quote from a git file links to the lines it spans at the indexed commit (`…#L40-L42`)."""
    from .git_source import line_link

    doc_id = build.doc_id(quote.doc)
    if doc_id is None:
        return
    meta = build.doc_meta(doc_id)
    if meta.get("line_link"):
        text = build.doc_text(doc_id)
        quote.url = line_link(meta["line_link"], int(meta.get("line_base") or 0), text, quote.start, quote.end)
