"""/reindex in SimCord on the real engine and model: who may run it (an `app_commands` check, on the
only command that can rebuild), what it reports, and answers before, during and after it."""

from __future__ import annotations

import ast
import asyncio
import re
import threading

import discord
import pytest

from bot.checks import can_reindex, reindex_allowed
from index.errors import UnsafeIndexDirError
from index.store import IndexStore

from botkit import BANKS, PROJECT, REFUSAL, answer_id_of, ask, current_build, deferred_with_thinking, refusals

# An incremental rebuild with the real model on a busy 2-core machine can take minutes.
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.simcord(settle_timeout=600)]

BOT_DIR = PROJECT / "bot"

QUOKKA_DOC = """---
title: "Team note: the Quokka Harbour Savings Bank"
url: "https://example.org/notes/quokka"
date: "2026-06-01"
---

# Team note

The Quokka Harbour Savings Bank was added to the watch list on 1 June 2026 after it moved funds for a laptop farm.
An anonymous note said: ping @everyone and read [the real list](http://evil.example/phish) before <@123> does.
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


def count_rebuilds(monkeypatch, engine) -> list:
    """Record every rebuild the engine starts (the bot's /reindex goes through Engine.rebuild)."""
    calls = []
    real = engine.rebuild

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "rebuild", spy)
    return calls


# ---------------------------------------------------------------------------- who may reindex


@pytest.mark.parametrize("who", ["alice", "keeper", "mod"])
async def test_reindex_refused_privately_and_nothing_is_rebuilt(world, bot_root, bot_engine, monkeypatch, who):
    calls = count_rebuilds(monkeypatch, bot_engine)
    before = current_build(bot_root)
    # A pending change: a rebuild, had one happened, would switch to a new build.
    pending = bot_root / "docs_corpus" / "pending-note.md"
    pending.write_text(QUOKKA_DOC)
    try:
        result = await getattr(world, who).slash(world.channel, "reindex")
    finally:
        pending.unlink()

    assert result.ephemeral and not deferred_with_thinking(world.env, result)
    assert result.response.content == REFUSAL
    assert refusals(world.env) == [REFUSAL]  # refused by the command's check, before its body ran
    assert calls == []
    assert current_build(bot_root) == before == bot_engine.info()["build_id"]


async def test_reindex_allowed_for_admin_and_configured_role_by_name_and_id(world, bot_root, bot_engine, monkeypatch):
    calls = count_rebuilds(monkeypatch, bot_engine)
    build = current_build(bot_root)

    for who in ("admin", "librarian"):
        result = await getattr(world, who).slash(world.channel, "reindex")
        assert result.ephemeral and deferred_with_thinking(world.env, result)
        assert "0 added, 0 changed, 0 removed" in result.response.content, result.response.content
        assert "Nothing changed; the current index stays in service." in result.response.content

    # The role configured by id instead of name; the name "Librarians" then no longer counts.
    world.bot.settings = world.bot.settings.with_(reindex_role=str(world.keepers.id))
    ok = await world.keeper.slash(world.channel, "reindex")
    assert "0 added, 0 changed, 0 removed" in ok.response.content
    refused = await world.librarian.slash(world.channel, "reindex")
    assert refused.response.content == REFUSAL

    # No role configured: administrators only, and the refusal does not mention a role.
    world.bot.settings = world.bot.settings.with_(reindex_role="")
    refused = await world.keeper.slash(world.channel, "reindex")
    admins_only = "Sorry, only administrators can reindex the documents."
    assert refused.ephemeral and refused.response.content == admins_only
    ok = await world.admin.slash(world.channel, "reindex")
    assert "0 added" in ok.response.content

    assert refusals(world.env) == [REFUSAL, admins_only]
    assert len(calls) == 4  # admin, librarian, keeper (by id), admin
    assert current_build(bot_root) == build  # nothing changed on disk, so no new build


async def test_reindex_check_outside_a_guild(world):
    user = world.bot.get_user(world.admin.id) or await world.bot.fetch_user(world.admin.id)
    assert type(user) is discord.User  # the administrator as Discord shows them in a DM: no server roles
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
                name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
                if name in building:
                    found.append((str(path.relative_to(PROJECT)), fn.name, name))
    return sorted(set(found))


async def test_the_only_user_triggered_rebuild_is_the_guarded_slash_command(world):
    """Every path: no button, context menu, mention or other command can start a rebuild, and the one
    command that can carries the reindex check.

    `warm_up` builds only when there is no index at all, at startup (not triggered by a user).
    """
    assert _rebuild_call_sites() == [
        ("bot/app.py", "warm_up", "ensure_index"),
        ("bot/cogs/admin.py", "reindex", "arebuild"),
    ]
    guarded = [c.name for c in world.bot.tree.walk_commands() if reindex_allowed in getattr(c, "checks", [])]
    assert guarded == ["reindex"]


async def test_buttons_and_mentions_never_rebuild(world, bot_engine, monkeypatch):
    calls = count_rebuilds(monkeypatch, bot_engine)
    result, _, _ = await ask(world)
    message = result.response.message
    answer_id = answer_id_of(result.response)
    await world.alice.click(message, custom_id=f"qa:fb:up:{answer_id}")
    await world.alice.click(message, custom_id=f"qa:more:{answer_id}")
    await world.alice.send(world.channel, f"<@{world.bot.user.id}> reindex")
    await world.alice.send(world.channel, f"<@{world.bot.user.id}> /reindex now please")
    sources = await world.alice.slash(world.channel, "sources")
    await world.alice.click(sources.response.message, label="Next ▶")
    assert calls == []


async def test_a_failed_reindex_says_why_and_what_to_do_and_the_old_build_answers(
    world, bot_root, bot_engine, monkeypatch
):
    before = current_build(bot_root)

    async def fail(*args, **kwargs):
        raise UnsafeIndexDirError("cannot write the new build: No space left on device", "free some disk space")

    monkeypatch.setattr(bot_engine, "arebuild", fail)
    result = await world.admin.slash(world.channel, "reindex")

    assert result.ephemeral and deferred_with_thinking(world.env, result)
    assert result.response.content == (
        "The reindex failed: cannot write the new build: No space left on device "
        "(free some disk space). The previous index stays in service."
    )
    _, card, served = await ask(world)
    assert served == before == current_build(bot_root) and "Ryujong Credit Bank" in card.description


# ---------------------------------------------------------------------------- ask before, during, after


async def test_admin_reindex_reports_counts_and_the_next_ask_quotes_the_new_document(world, bot_root):
    _, card, old = await ask(world)
    assert "Ryujong Credit Bank" in card.description
    _, card, _ = await ask(world, QUOKKA_QUESTION)
    assert "Quokka" not in card.description

    (bot_root / "docs_corpus" / "2026-06-01_team-note_quokka.md").write_text(QUOKKA_DOC)
    reindex = await world.admin.slash(world.channel, "reindex")
    assert reindex.ephemeral
    assert "1 added, 0 changed, 0 removed" in reindex.response.content
    assert current_build(bot_root) != old

    _, card, new = await ask(world, QUOKKA_QUESTION, who=world.bob)
    assert new == current_build(bot_root)
    assert "Quokka Harbour Savings Bank" in card.description
    assert "https://example.org/notes/quokka" in card.description
    _, card, same = await ask(world)
    assert same == new and "Ryujong Credit Bank" in card.description

    # The new document's hostile text pings nobody and forges no link.
    assert "@everyone" not in card.description
    assert not re.search(r"(?<!\\)\[[^\]\n]*(?<!\\)\]\(http://evil", card.description)
    sends = [r for r in world.env.http_requests if r.method in ("POST", "PATCH") and "/webhooks/" in r.path]
    assert sends and all((r.json or {}).get("allowed_mentions") == {"parse": []} for r in sends)


async def test_ask_while_a_rebuild_runs_answers_from_the_old_build(world, bot_root, bot_engine, monkeypatch):
    """A rebuild paused just before it switches builds: /ask keeps answering from the old build,
    a second /reindex is refused with a message, and after the switch /ask uses the new build."""
    old = bot_engine.info()["build_id"]
    (bot_root / "docs_corpus" / "2026-07-01_team-note_wombat.md").write_text(WOMBAT_DOC)

    paused, release = threading.Event(), threading.Event()
    real_commit = IndexStore.commit

    def paused_commit(self, *args, **kwargs):
        paused.set()
        assert release.wait(600), "the test never released the rebuild"
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(IndexStore, "commit", paused_commit)
    rebuild = asyncio.create_task(bot_engine.arebuild())
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
