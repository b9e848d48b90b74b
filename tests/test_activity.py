"""The activity log: what it stores about people (an HMAC under a per-installation secret, no
mentions), and a clear error, never a traceback, when its database cannot be used."""

from __future__ import annotations

import hashlib
import sqlite3
import stat

import pytest

from index.activity import KEY_FILE, ActivityLog, redact_mentions
from index.errors import ActivityError

from clikit import qabot

USER = 123456789012345678


def test_user_hash_is_keyed_per_installation(tmp_path):
    a = ActivityLog(tmp_path / "a" / "activity.sqlite")
    b = ActivityLog(tmp_path / "b" / "activity.sqlite")

    assert a.user_hash(USER) == a.user_hash(USER)  # stable within an installation
    assert a.user_hash(USER) != b.user_hash(USER)  # but not guessable from another one
    assert a.user_hash(USER) != a.user_hash(USER + 1)
    # The old scheme (a salt in the public source) let anyone with a member list re-identify voters.
    public = hashlib.sha256(b"qabot-user-v1" + str(USER).encode()).hexdigest()[:24]
    assert a.user_hash(USER) != public

    key = tmp_path / "a" / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_bytes()) >= 32
    # A restart (a new ActivityLog on the same folder) reads the same key.
    assert ActivityLog(tmp_path / "a" / "activity.sqlite").user_hash(USER) == a.user_hash(USER)


def test_feedback_stores_the_hmac_never_the_id(tmp_path):
    log = ActivityLog(tmp_path / "activity.sqlite")
    answer_id = log.log_question("q", None, 1.0)
    log.record_feedback(answer_id, USER, 42, 1)

    with sqlite3.connect(log.path) as db:
        rows = db.execute("select user_hash, guild_id, vote from feedback").fetchall()
        dump = "\n".join(db.iterdump())
    assert rows == [(log.user_hash(USER), 42, 1)]
    assert str(USER) not in dump


@pytest.mark.parametrize(
    "question, stored",
    [
        ("what did <@123456789012345678> say about <@!223456789012345678>?", "what did <@user> say about <@user>?"),
        ("ask <@&323456789012345678> which banks", "ask <@role> which banks"),
        ("plain question, no mentions", "plain question, no mentions"),
    ],
)
def test_mentions_in_stored_questions_are_replaced(tmp_path, question, stored):
    log = ActivityLog(tmp_path / "activity.sqlite")
    answer_id = log.log_question(question, None, 1.0)

    assert log.get_answer(answer_id)["question"] == stored
    assert redact_mentions(question) == stored


def test_unreadable_activity_log_raises_a_named_error(tmp_path):
    path = tmp_path / "activity.sqlite"
    path.write_bytes(b"this is not a SQLite database" * 100)
    log = ActivityLog(path)

    for call in (log.stats, log.report, lambda: log.log_question("q", None, 1.0)):
        with pytest.raises(ActivityError, match="activity.sqlite"):
            call()


@pytest.mark.slow
@pytest.mark.parametrize("command", ["stats", "report"])
def test_cli_stats_and_report_say_what_is_wrong_without_a_traceback(tmp_path, command):
    idx = tmp_path / "idx"
    built = qabot("--index-dir", str(idx), "index", "-q", probe=True)
    assert built.returncode == 0, built.stderr
    (idx / "activity.sqlite").write_bytes(b"garbage, not a database" * 100)

    r = qabot("--index-dir", str(idx), command, probe=True)

    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert "activity log" in r.stderr and "activity.sqlite" in r.stderr
    assert "move it aside" in r.stderr  # the hint says how to fix it
