"""The one entry point the CLI, the bot and the benchmarks share: ask, rebuild, reload."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from functools import lru_cache

import numpy as np

from .activity import ActivityLog
from .answer import Answerer, question_parts
from .config import Settings, load_settings
from .errors import IndexUnavailableError, QuestionError
from .store import Build, IndexStore
from .text import content_terms
from .types import Answer, BuildSummary

log = logging.getLogger(__name__)


def check_question(question: str, max_chars: int = 1000) -> str:
    """The question cleaned of control characters, or QuestionError saying what to ask instead."""
    if not isinstance(question, str):
        raise QuestionError("Ask a question as text.")
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in question)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError("The question is empty. Ask something like: which banks were sanctioned?")
    if len(cleaned) > max_chars:
        raise QuestionError(f"The question is {len(cleaned)} characters long; please keep it under {max_chars}.")
    if not content_terms(cleaned):
        raise QuestionError("That question has no words to search for. Try naming what you want to know, "
                            "for example: which banks were sanctioned?")
    return cleaned


class Engine:
    """Owns the current build and the encoder; answers questions and swaps builds without a restart."""

    def __init__(self, settings: Settings | None = None, encoder=None):
        self.settings = settings or load_settings()
        self.store = IndexStore(self.settings.index_path)
        self._encoder = encoder
        self._build: Build | None = None
        self._lock = threading.RLock()
        self.answerer = Answerer(max_quotes=self.settings.max_quotes, max_list_quotes=self.settings.max_list_quotes)
        self.activity = ActivityLog(self.settings.index_path / "activity.sqlite")
        self._qcache: dict[str, np.ndarray] = {}

    @property
    def encoder(self):
        if self._encoder is None:
            from .embedding import HashEncoder, shared_encoder

            self._encoder = HashEncoder() if self.settings.encoder == "hash" else shared_encoder()
        return self._encoder

    # ---- the build in service ------------------------------------------------------------
    def build(self) -> Build:
        """The build in service, opened (and verified) on first use."""
        with self._lock:
            if self._build is None:
                self._build = self.store.open_current(self.encoder.name, None)
                if self._build.manifest.get("dim") != getattr(self.encoder, "dim", self._build.manifest.get("dim")):
                    from .errors import IndexMismatchError

                    raise IndexMismatchError(f"the index has {self._build.manifest.get('dim')} dimensions, the model {self.encoder.dim}")
            return self._build

    def reload(self) -> str:
        """Switch to whatever build the pointer names now; asks in flight keep their old build."""
        new = self.store.open_current(self.encoder.name, None)
        with self._lock:
            self._build = new
        return new.build_id

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

    def ask(self, question: str) -> Answer:
        """Answer from the build in service: verbatim quotes, or an abstention with closest passages."""
        t0 = time.perf_counter()
        q = check_question(question, self.settings.max_question_chars)
        build = self.build()  # captured once: a reload during this ask does not affect it
        parts = question_parts(q)
        if parts:  # a two-part question: the whole and its halves in one encoder call
            self.embed_questions([q, *parts])
        answer = self.answerer.answer(build, q, self.embed_question(q), embed=self.embed_questions)
        answer.question = q
        answer.took_ms = (time.perf_counter() - t0) * 1000
        return answer

    async def aask(self, question: str) -> Answer:
        return await asyncio.to_thread(self.ask, question)

    # ---- listing -------------------------------------------------------------------------
    def sources(self, filter: str = "") -> list[dict]:
        b = self.build()
        f = filter.lower().strip()
        docs = sorted(b.documents.values(), key=lambda d: (d["date"] or "", d["path"]), reverse=True)
        return [{"path": d["path"], "title": d["title"], "url": d["url"], "date": d["date"]} for d in docs
                if not f or f in (d["title"] or "").lower() or f in d["path"].lower()]

    def info(self) -> dict:
        b = self.build()
        c = b.manifest["counts"]
        return {"documents": c["documents"], "chunks": c["chunks"], "sentences": c["sentences"], "build_id": b.build_id,
                "built_at": b.built_at, "index_type": b.manifest.get("index_type"), "model": b.manifest.get("model")}
