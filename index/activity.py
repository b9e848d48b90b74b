"""What users asked and how they rated it, kept in SQLite beside (not inside) the index builds."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

import sqlite_utils

from .types import Answer

SALT = b"qabot-user-v1"


def hash_user(user_id: int | str) -> str:
    """A stable, non-reversible stand-in for a user id."""
    return hashlib.sha256(SALT + str(user_id).encode()).hexdigest()[:24]


class ActivityLog:
    """Questions, answers shown, latency and feedback; safe to use from several threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ready = False

    def _db(self) -> sqlite_utils.Database:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(sqlite3.connect(self.path, timeout=10))
        if not self._ready:
            db.conn.execute("pragma journal_mode = wal")
            if not db["questions"].exists():
                db["questions"].create({"id": int, "ts": float, "question": str, "abstained": int, "quotes": str,
                                        "more": str, "latency_ms": float, "channel": str, "error": str, "build_id": str}, pk="id")
            if not db["feedback"].exists():
                db["feedback"].create({"answer_id": int, "user_hash": str, "guild_id": int, "vote": int, "ts": float},
                                      pk=("answer_id", "user_hash"))
            self._ready = True
        return db

    def log_question(self, question: str, answer: Answer | None, latency_ms: float, channel: str = "",
                     error: str | None = None) -> int:
        row = {"ts": time.time(), "question": question[:2000], "latency_ms": round(latency_ms, 1), "channel": channel,
               "error": error, "abstained": None, "quotes": "[]", "more": "[]", "build_id": None}
        if answer is not None:
            row.update(abstained=int(answer.abstained), build_id=answer.build_id,
                       quotes=json.dumps([q.to_json() | {"closest": q.closest} for q in answer.quotes]),
                       more=json.dumps([q.to_json() for q in answer.more]))
        with self._lock:
            db = self._db()
            try:
                return db["questions"].insert(row).last_pk
            finally:
                db.conn.close()

    def record_feedback(self, answer_id: int, user_hash: str, guild_id: int | None, vote: int) -> None:
        """One vote per user per answer; voting again replaces the earlier vote."""
        with self._lock:
            db = self._db()
            try:
                db["feedback"].upsert({"answer_id": answer_id, "user_hash": user_hash, "guild_id": guild_id,
                                       "vote": 1 if vote > 0 else -1, "ts": time.time()}, pk=("answer_id", "user_hash"))
            finally:
                db.conn.close()

    def get_answer(self, answer_id: int) -> dict | None:
        with self._lock:
            db = self._db()
            try:
                rows = list(db.query("select * from questions where id = ?", [answer_id]))
            finally:
                db.conn.close()
        if not rows:
            return None
        r = rows[0]
        r["quotes"] = json.loads(r["quotes"] or "[]")
        r["more"] = json.loads(r["more"] or "[]")
        return r

    def stats(self) -> dict:
        with self._lock:
            db = self._db()
            try:
                q = db.execute("select count(*), sum(abstained = 0), sum(abstained = 1), sum(error is not null) from questions").fetchone()
                f = db.execute("select sum(vote > 0), sum(vote < 0) from feedback").fetchone()
            finally:
                db.conn.close()
        return {"questions": q[0] or 0, "answered": q[1] or 0, "abstained": q[2] or 0, "errors": q[3] or 0,
                "upvotes": f[0] or 0, "downvotes": f[1] or 0}

    def report(self, limit: int = 50) -> dict:
        """Unanswered questions and downvoted answers, most frequent first."""
        with self._lock:
            db = self._db()
            try:
                unanswered = list(db.query(
                    "select lower(trim(question)) as question, count(*) as times, max(ts) as last "
                    "from questions where abstained = 1 group by 1 order by times desc, last desc limit ?", [limit]))
                downvoted = list(db.query(
                    "select lower(trim(q.question)) as question, count(*) as downvotes, max(q.quotes) as quotes "
                    "from feedback f join questions q on q.id = f.answer_id where f.vote < 0 "
                    "group by 1 order by downvotes desc limit ?", [limit]))
            finally:
                db.conn.close()
        return {"unanswered": unanswered, "downvoted": downvoted}
