"""/reindex in SimCord on a private copy of the corpus: refused for members, and the next /ask sees new documents."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest
import pytest_asyncio

from bot import create_bot
from index.engine import Engine

from botkit import built_corpus, settings_for

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.simcord(settle_timeout=120)]

NEW_DOC = """---
title: "Team note: the Quokka Harbour Savings Bank"
url: "https://example.org/notes/quokka"
date: "2026-06-01"
---

# Team note

The Quokka Harbour Savings Bank was added to the watch list on 1 June 2026 after it moved funds for a laptop farm.
An anonymous note said: ping @everyone and read [the real list](http://evil.example/phish) before <@123> does.
"""
NEW_QUESTION = "Which savings bank was added to the watch list in June 2026?"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("bot-reindex-root")
    shutil.copytree(built_corpus(tmp_path_factory), target, dirs_exist_ok=True)
    return target


@pytest.fixture(scope="module")
def engine(root):
    return Engine(settings_for(root))


@pytest.fixture
def settings(root):
    return settings_for(root, reindex_role="Librarians")


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
    await env.bot.tree.sync()
    return SimpleNamespace(
        env=env,
        channel=channel,
        member=guild.add_member(env.create_user("member")),
        admin=guild.add_member(env.create_user("admin"), roles=[admins]),
        librarian=guild.add_member(env.create_user("librarian"), roles=[librarians]),
    )


async def test_reindex_refused_for_a_plain_member(world, root):
    (root / "docs_corpus" / "refused.md").write_text("# Refused\n\nThis must not be indexed by a member.\n")
    try:
        result = await world.member.slash(world.channel, "reindex")
    finally:
        (root / "docs_corpus" / "refused.md").unlink()

    assert result.ephemeral
    assert "Sorry, only administrators and members with the reindex role can reindex" in result.response.content


async def test_admin_reindex_reports_counts_and_next_ask_uses_the_new_document(world, root, engine):
    before = await world.member.slash(world.channel, "ask", question=NEW_QUESTION)
    assert "Quokka" not in before.response.embeds[0].description
    old_build = engine.info()["build_id"]

    (root / "docs_corpus" / "2026-06-01_team-note_quokka.md").write_text(NEW_DOC)
    result = await world.admin.slash(world.channel, "reindex")

    assert result.ephemeral
    assert "1 added, 0 changed, 0 removed" in result.response.content
    assert engine.info()["build_id"] != old_build

    after = await world.member.slash(world.channel, "ask", question=NEW_QUESTION)
    card = after.response.embeds[0]
    assert "Quokka Harbour Savings Bank" in card.description
    assert "https://example.org/notes/quokka" in card.description

    # The new document's hostile text pings nobody and forges no link.
    assert "@everyone" not in card.description
    assert not re.search(r"(?<!\\)\[[^\]\n]*(?<!\\)\]\(http://evil", card.description)
    sends = [r for r in world.env.http_requests if r.method in ("POST", "PATCH") and "/webhooks/" in r.path]
    assert sends and all((r.json or {}).get("allowed_mentions") == {"parse": []} for r in sends)


async def test_reindex_by_the_configured_role_with_nothing_changed(world):
    result = await world.librarian.slash(world.channel, "reindex")

    assert result.ephemeral
    assert "0 added, 0 changed, 0 removed" in result.response.content
