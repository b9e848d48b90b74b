"""What users asked and how they rated it, kept in SQLite beside (not inside) the index builds.

Nothing here identifies a person to someone holding only `activity.sqlite`: voters are stored as an
HMAC of their id under a random secret made on first use (`activity.key`, mode 0600, beside the log,
never logged), so a member list cannot be hashed to match them; and Discord mentions of people and
roles in stored questions are replaced by placeholders.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from .errors import ActivityError
from .types import Answer

KEY_FILE = "activity.key"
KEY_BYTES = 32
USER_HASH_CHARS = 24
STORED_QUESTION_CHARS = 2000
_USER_MENTION = re.compile(r"<@!?\d+>")
_ROLE_MENTION = re.compile(r"<@&\d+>")


def hash_user(user_id: int | str, key: bytes) -> str:
    """A stable stand-in for a user id: an HMAC under the installation's secret key."""
    return hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()[:USER_HASH_CHARS]


def redact_mentions(text: str) -> str:
    """`text` with user and role mentions (`<@123>`, `<@!123>`, `<@&123>`) replaced by placeholders."""
    return _ROLE_MENTION.sub("<@role>", _USER_MENTION.sub("<@user>", text))


def load_or_create_key(path: Path) -> bytes:
    """The secret at `path`, created (random, owner-only) on first use; raced creators agree on one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(KEY_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
    for _ in range(50):  # a creator that just won the race may not have written its bytes yet
        key = path.read_bytes()
        if len(key) >= KEY_BYTES:
            return key
        time.sleep(0.01)
    raise ActivityError(f"{path} is not a valid activity key (too short)")


class ActivityLog:
    """Questions, answers shown, latency and feedback; safe to use from several threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ready = False
        self._key: bytes | None = None

    def user_hash(self, user_id: int | str) -> str:
        """The stored stand-in for `user_id` (HMAC under this installation's key)."""
        if self._key is None:
            try:
                self._key = load_or_create_key(self.path.parent / KEY_FILE)
            except OSError as exc:
                raise ActivityError(
                    f"{self.path.parent / KEY_FILE} cannot be read or created ({exc.strerror})"
                ) from None
        return hash_user(user_id, self._key)

    @contextmanager
    def _session(self):
        """The database, opened under the lock and closed after; SQLite failures become ActivityError."""
        with self._lock:
            try:
                db = self._open()
            except (sqlite3.Error, OSError) as exc:
                raise ActivityError(f"the activity log {self.path} cannot be opened ({exc})") from None
            try:
                yield db
            except sqlite3.Error as exc:
                raise ActivityError(f"the activity log {self.path} cannot be used ({exc})") from None
            finally:
                db.conn.close()

    def _open(self) -> sqlite_utils.Database:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(sqlite3.connect(self.path, timeout=10))
        if not self._ready:
            try:
                db.conn.execute("pragma journal_mode = wal")
                if not db["questions"].exists():
                    db.table("questions").create(
                        {
                            "id": int,
                            "ts": float,
                            "question": str,
                            "abstained": int,
                            "quotes": str,
                            "more": str,
                            "latency_ms": float,
                            "channel": str,
                            "error": str,
                            "build_id": str,
                        },
                        pk="id",
                    )
                questions = db.table("questions")
                for column, kind in (("guild_id", int), ("follow_up", str)):  # the server; the question followed
                    if column not in questions.columns_dict:  # a log from before servers and follow-ups
                        questions.add_column(column, kind)
                if not db["feedback"].exists():
                    db.table("feedback").create(
                        {"answer_id": int, "user_hash": str, "guild_id": int, "vote": int, "ts": float},
                        pk=("answer_id", "user_hash"),
                    )
            except sqlite3.Error:
                db.conn.close()
                raise
            self._ready = True
        return db

    def log_question(
        self,
        question: str,
        answer: Answer | None,
        latency_ms: float,
        channel: str = "",
        error: str | None = None,
        guild_id: int | None = None,
    ) -> int:
        """Store one question (mentions redacted) with what was shown, and the server it was asked in; returns
        its answer id."""
        row = {
            "guild_id": guild_id,
            "ts": time.time(),
            "question": redact_mentions(question)[:STORED_QUESTION_CHARS],
            "latency_ms": round(latency_ms, 1),
            "channel": channel,
            "error": error,
            "abstained": None,
            "quotes": "[]",
            "more": "[]",
            "build_id": None,
        }
        if answer is not None:
            row.update(
                abstained=int(answer.abstained),
                build_id=answer.build_id,
                quotes=json.dumps([q.to_json() | {"closest": q.closest} for q in answer.quotes]),
                more=json.dumps([q.to_json() for q in answer.more]),
                follow_up=answer.follow_up,
            )
        with self._session() as db:
            return db["questions"].insert(row).last_pk

    def record_feedback(self, answer_id: int, user_id: int | str, guild_id: int | None, vote: int) -> None:
        """One vote per user per answer; voting again replaces the earlier vote. Stores the user's HMAC only."""
        user_hash = self.user_hash(user_id)
        with self._session() as db:
            db["feedback"].upsert(
                {
                    "answer_id": answer_id,
                    "user_hash": user_hash,
                    "guild_id": guild_id,
                    "vote": 1 if vote > 0 else -1,
                    "ts": time.time(),
                },
                pk=("answer_id", "user_hash"),
            )

    def get_answer(self, answer_id: int) -> dict | None:
        """The stored question and quotes behind an answer id, or None."""
        with self._session() as db:
            rows = list(db.query("select * from questions where id = ?", [answer_id]))
        if not rows:
            return None
        r = rows[0]
        r["quotes"] = json.loads(r["quotes"] or "[]")
        r["more"] = json.loads(r["more"] or "[]")
        return r

    def stats(self, guild_id: int | None = None) -> dict:
        """Counts of questions (answered, abstained, failed) and votes: in one server, or everywhere (None)."""
        where, args = ("where guild_id = ?", [guild_id]) if guild_id is not None else ("", [])
        with self._session() as db:
            q = db.execute(
                "select count(*), sum(abstained = 0), sum(abstained = 1), sum(error is not null) from questions "
                + where,
                args,
            ).fetchone()
            f = db.execute("select sum(vote > 0), sum(vote < 0) from feedback " + where, args).fetchone()
        return {
            "questions": q[0] or 0,
            "answered": q[1] or 0,
            "abstained": q[2] or 0,
            "errors": q[3] or 0,
            "upvotes": f[0] or 0,
            "downvotes": f[1] or 0,
        }

    def report(self, limit: int = 50) -> dict:
        """Unanswered questions and downvoted answers, most frequent first."""
        with self._session() as db:
            unanswered = list(
                db.query(
                    "select lower(trim(question)) as question, count(*) as times, max(ts) as last "
                    "from questions where abstained = 1 group by 1 order by times desc, last desc limit ?",
                    [limit],
                )
            )
            downvoted = list(
                db.query(
                    "select lower(trim(q.question)) as question, count(*) as downvotes, max(q.quotes) as quotes "
                    "from feedback f join questions q on q.id = f.answer_id where f.vote < 0 "
                    "group by 1 order by downvotes desc limit ?",
                    [limit],
                )
            )
        return {"unanswered": unanswered, "downvoted": downvoted}
