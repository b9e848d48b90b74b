"""Issue 6, bot side, in SimCord on the real engine and model: corruption, reindex while answering,
who may reindex, no token leaks, failed Discord calls, and the read-only database.

The index is built once for this module, on a private copy of `docs_corpus/` and `seeds/`.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import shutil
import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest
import pytest_asyncio

from bot import create_bot
from bot.app import ERROR_MESSAGE
from bot.cogs.admin import can_reindex
from index.engine import Engine
from index.errors import CorruptIndexError
from index.store import IndexStore

import botkit
from botkit import answer_id_of, deferred_with_thinking

# A full rebuild with the real model on a busy 2-core machine takes minutes: give SimCord's settling room.
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.simcord(settle_timeout=600)]

PROJECT = Path(__file__).resolve().parent.parent
BOT_DIR = PROJECT / "bot"
SOURCES = ("docs_corpus", "seeds")
BANKS = "Which banks were sanctioned?"
TOKEN = "MTQ0NDQ0NDQ0NDQ0NDQ0NDQ0.QaBoT.fake-reliability-token-Zx9Qv7Lm3Kp"

QUOKKA_DOC = """---
title: "Team note: the Quokka Harbour Savings Bank"
url: "https://example.org/notes/quokka"
date: "2026-06-01"
---

# Team note

The Quokka Harbour Savings Bank was added to the watch list on 1 June 2026 after it moved funds for a laptop farm.
"""
QUOKKA_QUESTION = "Which savings bank was added to the watch list in June 2026?"

WOMBAT_DOC = """---
title: "Team note: the Wombat Ridge Trust Bank"
url: "https://example.org/notes/wombat"
date: "2026-07-01"
---

# Team note

The Wombat Ridge Trust Bank was added to the watch list on 1 July 2026 after it cleared payments for a mixer.
"""
WOMBAT_QUESTION = "Which trust bank was added to the watch list in July 2026?"


def settings_for(root: Path, **changes):
    return botkit.settings_for(root, SOURCES, **changes)


def bot_settings(root: Path, **changes):
    base = {"reindex_role": "Librarians", "discord_token": TOKEN, "rate_limit_count": 500}
    return settings_for(root, **(base | changes))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A private copy of both source folders with its own index, built once for this module."""
    target = tmp_path_factory.mktemp("bot-reliability-root")
    for folder in SOURCES:
        shutil.copytree(PROJECT / folder, target / folder)
    Engine(settings_for(target)).ensure_index()
    return target


@pytest.fixture(scope="module")
def engine(root):
    return Engine(settings_for(root))


@pytest.fixture
def settings(root):
    return bot_settings(root)


@pytest.fixture
def simcord_bot(settings, engine):
    return create_bot(settings, engine)


@pytest_asyncio.fixture
async def world(simcord_env):
    env = simcord_env
    guild = env.create_guild("Team")
    channel = guild.create_text_channel("general")
    admins = guild.create_role("Admins", permissions=discord.Permissions(administrator=True))
    librarians = guild.create_role("Librarians")
    keepers = guild.create_role("Keepers")
    # Generous but not administrator: managing the server does not make one a reindexer.
    mods = guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True, manage_messages=True))
    await env.bot.tree.sync()
    return SimpleNamespace(
        env=env,
        guild=guild,
        channel=channel,
        keepers=keepers,
        member=guild.add_member(env.create_user("member")),
        admin=guild.add_member(env.create_user("admin"), roles=[admins]),
        librarian=guild.add_member(env.create_user("librarian"), roles=[librarians]),
        keeper=guild.add_member(env.create_user("keeper"), roles=[keepers]),
        mod=guild.add_member(env.create_user("mod"), roles=[mods]),
        bot=env.bot,
    )


# ---------------------------------------------------------------------------- helpers


async def ask(world, question=BANKS, who=None):
    """/ask, asserting it was deferred and answered with a card; returns (result, card, build id)."""
    result = await (who or world.member).slash(world.channel, "ask", question=question)
    assert deferred_with_thinking(world.env, result)
    assert result.response is not None and result.response.embeds, result.response
    card = result.response.embeds[0]
    record = world.bot.engine.activity.get_answer(answer_id_of(result.response))
    return result, card, record["build_id"]


def flip_byte(path: Path) -> bytes:
    """Flip one byte in the middle of the file; returns the original bytes."""
    data = path.read_bytes()
    i = len(data) // 2
    path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    return data


def current_build(root: Path) -> str:
    return IndexStore(settings_for(root).index_path).pointer()[0]


def count_rebuilds(monkeypatch, engine) -> list:
    """Record every rebuild the engine starts (the bot's /reindex goes through Engine.rebuild)."""
    calls = []
    real = engine.rebuild

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "rebuild", spy)
    return calls


# ---------------------------------------------------------------------------- 6. read-only database


async def test_build_database_is_opened_read_only(engine):
    build = engine.build()
    for sql in ("delete from documents", "insert into terms(term, df) values ('x', 1)", "create table t(x)"):
        with pytest.raises(sqlite3.OperationalError, match="readonly database"):
            build.db.execute(sql)

    def write_from_a_worker_thread():
        with pytest.raises(sqlite3.OperationalError, match="readonly database"):
            engine.build().db.execute("drop table documents")

    await asyncio.to_thread(write_from_a_worker_thread)
    assert engine.info()["documents"] == len(engine.sources()) > 0


# ---------------------------------------------------------------------------- 3. who may reindex


REFUSAL = "Sorry, only administrators and members with the reindex role can reindex the documents."


@pytest.mark.parametrize("who", ["member", "keeper", "mod"])
async def test_reindex_refused_privately_and_nothing_is_rebuilt(world, root, engine, monkeypatch, who):
    calls = count_rebuilds(monkeypatch, engine)
    before = current_build(root)
    # A pending change: a rebuild, had one happened, would switch to a new build.
    pending = root / "docs_corpus" / "pending-note.md"
    pending.write_text(QUOKKA_DOC)
    try:
        result = await getattr(world, who).slash(world.channel, "reindex")
    finally:
        pending.unlink()

    assert result.ephemeral and not deferred_with_thinking(world.env, result)
    assert result.response.content == REFUSAL
    assert calls == []
    assert current_build(root) == before == engine.info()["build_id"]


async def test_reindex_allowed_for_admin_and_configured_role_by_name_and_id(world, root, engine, monkeypatch):
    calls = count_rebuilds(monkeypatch, engine)
    build = current_build(root)

    for who in ("admin", "librarian"):
        result = await getattr(world, who).slash(world.channel, "reindex")
        assert result.ephemeral and deferred_with_thinking(world.env, result)
        assert "0 added, 0 changed, 0 removed" in result.response.content, result.response.content

    # The role configured by id instead of name; the name "Librarians" then no longer counts.
    world.bot.settings = world.bot.settings.with_(reindex_role=str(world.keepers.id))
    ok = await world.keeper.slash(world.channel, "reindex")
    assert "0 added, 0 changed, 0 removed" in ok.response.content
    refused = await world.librarian.slash(world.channel, "reindex")
    assert refused.response.content == REFUSAL

    # No role configured: administrators only, and the refusal does not mention a role.
    world.bot.settings = world.bot.settings.with_(reindex_role="")
    refused = await world.keeper.slash(world.channel, "reindex")
    assert refused.ephemeral and refused.response.content == "Sorry, only administrators can reindex the documents."
    ok = await world.admin.slash(world.channel, "reindex")
    assert "0 added" in ok.response.content

    assert len(calls) == 4  # admin, librarian, keeper (by id), admin
    assert current_build(root) == build  # nothing changed on disk, so no new build


async def test_reindex_check_outside_a_guild(world):
    user = world.bot.get_user(world.admin.id) or await world.bot.fetch_user(world.admin.id)
    assert isinstance(user, discord.User) and not isinstance(user, discord.Member)
    assert not can_reindex(user, "Librarians")
    assert not can_reindex(user, "")
    cmd = world.bot.tree.get_command("reindex")
    assert cmd.guild_only  # and Discord never offers it in DMs


def _rebuild_call_sites() -> list[tuple[str, str, str]]:
    """(file, enclosing function, name) for every use in bot/ of something that can build or switch the index."""
    building = {"rebuild", "arebuild", "build_index", "ensure_index", "reload", "commit"}
    found = []
    for path in sorted(BOT_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):  # calls and references (`asyncio.to_thread(engine.rebuild)`) alike
                name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
                if name in building:
                    found.append((str(path.relative_to(PROJECT)), fn.name, name))
    return sorted(set(found))


async def test_the_only_user_triggered_rebuild_is_the_guarded_slash_command():
    """Every path: no button, context menu, mention or other command can start a rebuild.

    `warm_up` builds only when there is no index at all, at startup (not triggered by a user).
    """
    assert _rebuild_call_sites() == [
        ("bot/app.py", "warm_up", "ensure_index"),
        ("bot/cogs/admin.py", "reindex", "arebuild"),
    ]
    source = (BOT_DIR / "cogs" / "admin.py").read_text()
    body = source[source.index("async def reindex") : source.index("async def stats")]
    assert body.index("can_reindex(") < body.index("arebuild(")


async def test_buttons_and_mentions_never_rebuild(world, root, engine, monkeypatch):
    calls = count_rebuilds(monkeypatch, engine)
    result, _, _ = await ask(world)
    message = result.response.message
    answer_id = answer_id_of(result.response)
    await world.member.click(message, custom_id=f"qa:fb:up:{answer_id}")
    await world.member.click(message, custom_id=f"qa:more:{answer_id}")
    await world.member.send(world.channel, f"<@{world.bot.user.id}> reindex")
    await world.member.send(world.channel, f"<@{world.bot.user.id}> /reindex now please")
    sources = await world.member.slash(world.channel, "sources")
    await world.member.click(sources.response.message, label="Next ▶")
    assert calls == []


# ---------------------------------------------------------------------------- 2. ask before, during, after /reindex


async def test_ask_before_and_after_a_reindex_answers_every_time(world, root, engine):
    _, card, old = await ask(world)
    assert "Ryujong Credit Bank" in card.description
    _, card, _ = await ask(world, QUOKKA_QUESTION)
    assert "Quokka" not in card.description

    (root / "docs_corpus" / "2026-06-01_team-note_quokka.md").write_text(QUOKKA_DOC)
    reindex = await world.admin.slash(world.channel, "reindex")
    assert "1 added, 0 changed, 0 removed" in reindex.response.content

    _, card, new = await ask(world, QUOKKA_QUESTION)
    assert new != old
    assert "Quokka Harbour Savings Bank" in card.description
    _, card, same = await ask(world)
    assert same == new and "Ryujong Credit Bank" in card.description


async def test_ask_while_a_rebuild_runs_answers_from_the_old_build(world, root, engine, monkeypatch):
    """A rebuild paused just before it switches builds: /ask keeps answering from the old build,
    a second /reindex is refused with a message, and after the switch /ask uses the new build."""
    old = engine.info()["build_id"]
    (root / "docs_corpus" / "2026-07-01_team-note_wombat.md").write_text(WOMBAT_DOC)

    paused, release = threading.Event(), threading.Event()
    real_commit = IndexStore.commit

    def paused_commit(self, *args, **kwargs):
        paused.set()
        assert release.wait(600), "the test never released the rebuild"
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(IndexStore, "commit", paused_commit)
    rebuild = asyncio.create_task(engine.arebuild())
    try:
        assert await asyncio.to_thread(paused.wait, 600), "the rebuild never reached its switch"
        assert not rebuild.done()

        for question in (BANKS, WOMBAT_QUESTION):
            _, card, during = await ask(world, question)
            assert during == old
            assert "Wombat" not in card.description
            assert not rebuild.done()  # really during the rebuild

        second = await world.admin.slash(world.channel, "reindex")
        assert second.ephemeral
        assert "another build is running" in second.response.content, second.response.content
    finally:
        release.set()
        summary = await rebuild

    assert summary.switched and summary.added == 1 and summary.build_id != old
    _, card, after = await ask(world, WOMBAT_QUESTION)
    assert after == summary.build_id
    assert "Wombat Ridge Trust Bank" in card.description


# ---------------------------------------------------------------------------- 5. failed Discord calls


async def test_failed_followup_is_logged_and_the_next_ask_works(world, caplog):
    world.env.inject_error("POST", "/webhooks/*", status=500)
    with caplog.at_level(logging.WARNING, logger="bot"):
        failed = await world.member.slash(world.channel, "ask", question=BANKS)
    assert deferred_with_thinking(world.env, failed) and failed.followups == []
    assert "couldn't post the answer" in failed.response.content
    assert any("could not send the answer" in r.getMessage() and r.exc_info for r in caplog.records)

    _, card, _ = await ask(world)
    assert "Ryujong Credit Bank" in card.description


async def test_followup_and_the_fallback_edit_both_fail(world, caplog):
    world.env.inject_error("POST", "/webhooks/*", status=500)
    world.env.inject_error("PATCH", "/webhooks/*", status=503)
    with caplog.at_level(logging.WARNING, logger="bot"):
        await world.member.slash(world.channel, "ask", question=BANKS)
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not send the answer" in m for m in messages)
    assert any("could not tell the user either" in m for m in messages)

    _, card, _ = await ask(world)
    assert "Ryujong Credit Bank" in card.description


async def test_failed_defer_is_logged_and_the_next_ask_works(world, caplog):
    world.env.inject_error("POST", "/interactions/*/callback", status=500)
    with caplog.at_level(logging.WARNING, logger="bot"):
        await world.member.slash(world.channel, "ask", question=BANKS)
    assert any("could not acknowledge the question" in r.getMessage() and r.exc_info for r in caplog.records)
    assert world.env.errors == []  # handled: nothing escaped to discord.py's error handlers

    _, card, _ = await ask(world)
    assert "Ryujong Credit Bank" in card.description


# ---------------------------------------------------------------------------- 4. the token never leaks


def _everything_sent(env) -> str:
    parts = []
    for r in env.http_requests:
        parts.append(f"{r.method} {r.path} {r.json!r}")
    parts.append(env.transcript())
    return "\n".join(parts)


async def test_token_never_in_logs_errors_or_messages(world, settings, engine, monkeypatch, caplog, capsys):
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
    assert TOKEN not in repr(world.bot.settings) and TOKEN not in repr(engine.settings)
    assert world.bot.settings.discord_token == TOKEN  # it is there, just never shown

    caplog.set_level(logging.DEBUG)  # every logger, every level
    await ask(world)
    await world.member.slash(world.channel, "ask", question="   ")
    await world.member.slash(world.channel, "ask", question="?? !!")
    await world.member.slash(world.channel, "stats")
    await world.member.slash(world.channel, "sources")
    await world.member.slash(world.channel, "help")
    await world.member.slash(world.channel, "reindex")
    await world.admin.slash(world.channel, "reindex")
    await world.member.send(world.channel, f"<@{world.bot.user.id}> {BANKS}")

    async def broken(question):
        raise RuntimeError("the engine fell over (nothing secret in here)")

    monkeypatch.setattr(engine, "aask", broken)
    failed = await world.member.slash(world.channel, "ask", question=BANKS)
    # The first followup after a public defer replaces "thinking…", so it is public like the defer was.
    assert failed.response.content == ERROR_MESSAGE
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert any("fell over" in str(r.exc_info[1]) for r in errors)
    # SimCord saw the error reach the tree's handler (reading `errors` acknowledges it).
    assert any("fell over" in repr(e) + repr(e.__cause__) for e in world.env.errors)

    logged = caplog.text + "\n".join(
        f"{r.getMessage()} {r.args!r} {logging.Formatter().formatException(r.exc_info) if r.exc_info else ''}"
        for r in caplog.records
    )
    out = capsys.readouterr()
    assert TOKEN not in logged
    assert TOKEN not in out.out and TOKEN not in out.err
    assert TOKEN not in _everything_sent(world.env)
    assert TOKEN not in repr(world.bot.__dict__)


async def test_run_bot_without_a_token_says_what_to_do(root, monkeypatch, capsys):
    from bot import run_bot
    from bot.run import TokenMissingError
    from index import cli

    with pytest.raises(TokenMissingError) as ei:
        run_bot(bot_settings(root, discord_token=""))
    assert "DISCORD_TOKEN is not set" in str(ei.value) and "DISCORD_TOKEN" in ei.value.hint

    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("QABOT_DISCORD_TOKEN", raising=False)
    monkeypatch.chdir(root)
    code = cli.main(["serve"])
    err = capsys.readouterr().err
    assert code != 0
    assert "DISCORD_TOKEN is not set" in err and "Traceback" not in err


async def test_run_bot_with_a_rejected_token_never_prints_it(root, monkeypatch, caplog, capsys):
    """Discord refuses the token: a clear error, no traceback, and the token appears nowhere."""
    from index import cli

    async def refuse(self, token):
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(discord.Client, "login", refuse)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.chdir(root)
    caplog.set_level(logging.DEBUG)

    code = await asyncio.to_thread(cli.main, ["serve"])  # bot.run starts its own event loop
    out = capsys.readouterr()
    assert code != 0
    assert "token" in out.err.lower() and "Traceback" not in out.err, out.err
    assert TOKEN not in out.err + out.out + caplog.text


# ---------------------------------------------------------------------------- 1. corruption


@pytest.fixture
def damaged_root(root, tmp_path) -> Path:
    """A copy of the built index that the corruption test may break and rebuild."""
    target = tmp_path / "damaged"
    shutil.copytree(root, target)
    return target


async def test_corrupt_index_unavailable_then_reindex_recovers(world, damaged_root, caplog):
    env = world.env
    settings = bot_settings(damaged_root)
    running = Engine(settings)
    await env.restart_bot(create_bot(settings, running))
    world.bot = env.bot
    _, card, good = await ask(world)
    assert "Ryujong Credit Bank" in card.description
    build_dir = settings.index_path / "builds" / good

    # Corrupt the build in service. The running engine cannot reopen it, but keeps its good copy in memory.
    flip_byte(build_dir / "chunks.faiss")
    with pytest.raises(CorruptIndexError, match="chunks.faiss"):
        running.reload()
    _, card, still = await ask(world)
    assert still == good and "Ryujong Credit Bank" in card.description

    # A fresh bot and engine (a restart) on the damaged index: it starts, and says the index is unavailable.
    caplog.set_level(logging.WARNING)
    await env.restart_bot(create_bot(settings, Engine(settings)))
    world.bot = env.bot
    assert any("index not ready" in r.getMessage() for r in caplog.records)

    result = await world.member.slash(world.channel, "ask", question=BANKS)
    assert deferred_with_thinking(env, result)
    reply = result.response.content
    assert "index is unavailable" in reply and len(reply) < 400, reply
    assert not result.response.embeds

    stats = await world.member.slash(world.channel, "stats")
    fields = {f.name: f.value for f in stats.response.embeds[0].fields}
    assert fields["Index"].startswith("Unavailable"), fields
    assert "Questions" in fields

    sources = await world.member.slash(world.channel, "sources")
    assert "index is unavailable" in sources.response.content

    await world.member.send(world.channel, f"<@{env.bot.user.id}> {BANKS}")
    assert "index is unavailable" in world.channel.last_message.content

    refused = await world.member.slash(world.channel, "reindex")
    assert refused.response.content == REFUSAL
    assert current_build(damaged_root) == good

    # An administrator's /reindex sees the damage, does not reuse the build and rebuilds in full.
    reindex = await world.admin.slash(world.channel, "reindex")
    text = reindex.response.content
    assert "Reindexed:" in text and "(0 unchanged" in text, text
    recovered = current_build(damaged_root)
    assert recovered != good
    IndexStore(settings.index_path).open_current(verify=True).close()

    _, card, now = await ask(world)
    assert now == recovered and "Ryujong Credit Bank" in card.description
    stats = await world.member.slash(world.channel, "stats")
    fields = {f.name: f.value for f in stats.response.embeds[0].fields}
    assert "Index" not in fields and int(fields["Documents"]) > 0


@pytest.mark.parametrize("name", ["manifest.json", "db.sqlite", "chunk_vecs.npy"])
async def test_other_damaged_files_are_reported_as_unavailable(world, root, name):
    """The same reply for a damaged manifest, database or vectors (repaired here by restoring the file)."""
    env = world.env
    settings = bot_settings(root)
    path = settings.index_path / "builds" / current_build(root) / name
    original = flip_byte(path)
    try:
        await env.restart_bot(create_bot(settings, Engine(settings)))
        world.bot = env.bot
        result = await world.member.slash(world.channel, "ask", question=BANKS)
        assert "index is unavailable" in result.response.content, result.response.content
        stats = await world.member.slash(world.channel, "stats")
        assert {f.name: f.value for f in stats.response.embeds[0].fields}["Index"].startswith("Unavailable")
    finally:
        path.write_bytes(original)
    await env.restart_bot(create_bot(settings, Engine(settings)))
    world.bot = env.bot
    _, card, _ = await ask(world)
    assert "Ryujong Credit Bank" in card.description
