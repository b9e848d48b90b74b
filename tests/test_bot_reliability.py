"""Issue 6, bot side, in SimCord on the real engine and model: corruption, no token leaks, and failed
Discord calls. (Who may reindex, and asking while it runs: tests/test_bot_reindex.py.)"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import discord
import pytest

from bot import create_bot
from bot.replies import ERROR_MESSAGE
from index.engine import Engine
from index.errors import CorruptIndexError
from index.store import IndexStore

from botkit import BANKS, REFUSAL, TOKEN, ask, current_build, deferred_with_thinking, refusals

# A full rebuild with the real model on a busy 2-core machine takes minutes: give SimCord's settling room.
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.simcord(settle_timeout=600)]


def flip_byte(path: Path) -> bytes:
    """Flip one byte in the middle of the file; returns the original bytes."""
    data = path.read_bytes()
    i = len(data) // 2
    path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    return data


async def restart_on(world, settings) -> None:
    """A restart: a brand-new bot and engine on `settings`."""
    await world.env.restart_bot(create_bot(settings, Engine(settings.engine_settings)))
    world.bot = world.env.bot


# ---------------------------------------------------------------------------- 5. failed Discord calls


async def test_failed_followup_is_logged_and_the_next_ask_works(world, caplog):
    world.env.inject_error("POST", "/webhooks/*", status=500)
    with caplog.at_level(logging.WARNING, logger="bot"):
        failed = await world.alice.slash(world.channel, "ask", question=BANKS)
    assert deferred_with_thinking(world.env, failed) and failed.followups == []
    assert "couldn't post the answer" in failed.response.content
    assert any("could not send the answer" in r.getMessage() and r.exc_info for r in caplog.records)

    _, card, _ = await ask(world)
    assert "Ryujong Credit Bank" in card.description


async def test_followup_and_the_fallback_edit_both_fail(world, caplog):
    world.env.inject_error("POST", "/webhooks/*", status=500)
    world.env.inject_error("PATCH", "/webhooks/*", status=503)
    with caplog.at_level(logging.WARNING, logger="bot"):
        await world.alice.slash(world.channel, "ask", question=BANKS)
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not send the answer" in m for m in messages)
    assert any("could not tell the user either" in m for m in messages)

    _, card, _ = await ask(world)
    assert "Ryujong Credit Bank" in card.description


async def test_failed_defer_is_logged_and_the_next_ask_works(world, caplog):
    world.env.inject_error("POST", "/interactions/*/callback", status=500)
    with caplog.at_level(logging.WARNING, logger="bot"):
        await world.alice.slash(world.channel, "ask", question=BANKS)
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


async def test_token_never_in_logs_errors_or_messages(world, bot_settings, bot_engine, monkeypatch, caplog, capsys):
    assert TOKEN not in repr(bot_settings) and TOKEN not in str(bot_settings)
    assert TOKEN not in repr(world.bot.settings) and TOKEN not in repr(bot_engine.settings)
    assert world.bot.settings.discord_token == TOKEN  # it is there, just never shown

    caplog.set_level(logging.DEBUG)  # every logger, every level
    await ask(world)
    await world.alice.slash(world.channel, "ask", question="   ")
    await world.alice.slash(world.channel, "ask", question="?? !!")
    await world.alice.slash(world.channel, "stats")
    await world.alice.slash(world.channel, "sources")
    await world.alice.slash(world.channel, "help")
    await world.alice.slash(world.channel, "reindex")
    await world.admin.slash(world.channel, "reindex")
    await world.alice.send(world.channel, f"<@{world.bot.user.id}> {BANKS}")

    async def broken(question, **scope):
        raise RuntimeError("the engine fell over (nothing secret in here)")

    monkeypatch.setattr(bot_engine, "aask", broken)
    failed = await world.alice.slash(world.channel, "ask", question=BANKS)
    # The first followup after a public defer replaces "thinking…", so it is public like the defer was.
    assert failed.response.content == ERROR_MESSAGE
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert any("fell over" in str(r.exc_info[1]) for r in errors)
    # SimCord saw the refusal and the error reach the tree's handler (reading `errors` acknowledges them).
    seen = world.env.errors
    assert [str(e) for e in seen[:1]] == [REFUSAL]
    assert len(seen) == 2 and "fell over" in repr(seen[1]) + repr(seen[1].__cause__)

    logged = caplog.text + "\n".join(
        f"{r.getMessage()} {r.args!r} {logging.Formatter().formatException(r.exc_info) if r.exc_info else ''}"
        for r in caplog.records
    )
    out = capsys.readouterr()
    assert TOKEN not in logged
    assert TOKEN not in out.out and TOKEN not in out.err
    assert TOKEN not in _everything_sent(world.env)
    assert TOKEN not in repr(world.bot.__dict__)


async def test_run_bot_without_a_token_says_what_to_do(bot_root, bot_settings, monkeypatch, capsys):
    from bot import run_bot
    from bot.run import TokenMissingError
    from cli.main import main

    with pytest.raises(TokenMissingError) as ei:
        run_bot(bot_settings.with_(discord_token=""))
    assert "DISCORD_TOKEN is not set" in str(ei.value) and "DISCORD_TOKEN" in ei.value.hint

    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("QABOT_DISCORD_TOKEN", raising=False)
    monkeypatch.chdir(bot_root)
    code = main(["serve"])
    err = capsys.readouterr().err
    assert code != 0
    assert "DISCORD_TOKEN is not set" in err and "Traceback" not in err


async def test_run_bot_with_a_rejected_token_never_prints_it(bot_root, monkeypatch, caplog, capsys):
    """Discord refuses the token: a clear error, no traceback, and the token appears nowhere."""
    from cli.main import main

    async def refuse(self, token):
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(discord.Client, "login", refuse)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.chdir(bot_root)
    caplog.set_level(logging.DEBUG)

    code = await asyncio.to_thread(main, ["serve"])  # bot.run starts its own event loop
    out = capsys.readouterr()
    assert code != 0
    assert "token" in out.err.lower() and "Traceback" not in out.err, out.err
    assert TOKEN not in out.err + out.out + caplog.text


# ---------------------------------------------------------------------------- 1. corruption


@pytest.fixture
def damaged_root(bot_root, tmp_path) -> Path:
    """A copy of the built index that the corruption test may break and rebuild."""
    target = tmp_path / "damaged"
    shutil.copytree(bot_root, target)
    return target


async def test_corrupt_index_unavailable_then_reindex_recovers(world, bot_settings, damaged_root, caplog):
    env = world.env
    settings = bot_settings.with_(root=damaged_root)
    running = Engine(settings.engine_settings)
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
    await restart_on(world, settings)
    assert any("index not ready" in r.getMessage() for r in caplog.records)

    result = await world.alice.slash(world.channel, "ask", question=BANKS)
    assert deferred_with_thinking(env, result)
    reply = result.response.content
    assert "index is unavailable" in reply and len(reply) < 400, reply
    assert not result.response.embeds

    stats = await world.alice.slash(world.channel, "stats")
    fields = {f.name: f.value for f in stats.response.embeds[0].fields}
    assert fields["Index"].startswith("Unavailable"), fields
    assert "Questions" in fields

    sources = await world.alice.slash(world.channel, "sources")
    assert "index is unavailable" in sources.response.content

    await world.alice.send(world.channel, f"<@{env.bot.user.id}> {BANKS}")
    assert "index is unavailable" in world.channel.last_message.content

    refused = await world.alice.slash(world.channel, "reindex")
    assert refused.response.content == REFUSAL and refusals(env) == [REFUSAL]
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
    stats = await world.alice.slash(world.channel, "stats")
    fields = {f.name: f.value for f in stats.response.embeds[0].fields}
    assert "Index" not in fields and int(fields["Documents"]) > 0


@pytest.mark.parametrize("name", ["manifest.json", "db.sqlite", "chunk_vecs.npy"])
async def test_other_damaged_files_are_reported_as_unavailable(world, bot_root, bot_settings, name):
    """The same reply for a damaged manifest, database or vectors (repaired here by restoring the file)."""
    path = bot_settings.index_path / "builds" / current_build(bot_root) / name
    original = flip_byte(path)
    try:
        await restart_on(world, bot_settings)
        result = await world.alice.slash(world.channel, "ask", question=BANKS)
        assert "index is unavailable" in result.response.content, result.response.content
        stats = await world.alice.slash(world.channel, "stats")
        assert {f.name: f.value for f in stats.response.embeds[0].fields}["Index"].startswith("Unavailable")
    finally:
        path.write_bytes(original)
    await restart_on(world, bot_settings)
    _, card, _ = await ask(world)
    assert "Ryujong Credit Bank" in card.description
