"""Issue 10, item 3, in SimCord: the bot runs while an admin runs `qabot index` twice from a terminal.

Before the fix the bot kept the build it started with; the second build's cleanup deleted it, and the
next /ask answered from stale handles ("No passages.") or said "index unavailable, run `qabot index
--full`". The builds here are real `qabot` processes (hash encoder, so the bot's engine uses it too).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from index.engine import Engine

from botkit import CORPUS, settings_for
from clikit import admin_qabot

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.simcord(settle_timeout=120), pytest.mark.slow]

SOURCES = "docs_corpus"
DOC = "2025-11-04_treasury_sb0302_dprk-bankers-cybercrime-it-worker-funds.md"
NEW_TEXT = "The Quokka Harbour Savings Bank was added to the watch list on 1 June 2026 after it moved funds."
QUESTION = "Which savings bank was added to the watch list in June 2026?"


def cli_build(root: Path, *flags: str) -> str:
    """`qabot index` in another process, as from the admin's terminal; the id of the build it switched to."""
    r = admin_qabot(root, "index", "--json", "-q", *flags, sources=SOURCES)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["switched"], summary
    return summary["build_id"]


# The shared world (tests/conftest.py) on this module's own index: built by `qabot index`, hash encoder.


@pytest.fixture(scope="module")
def bot_root(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("bot-live-swap-root")
    shutil.copytree(CORPUS, target / SOURCES)
    cli_build(target)
    return target


@pytest.fixture(scope="module")
def bot_engine(bot_root):
    return Engine(settings_for(bot_root, encoder="hash").engine_settings)


@pytest.fixture
def bot_settings(bot_root):
    return settings_for(bot_root, encoder="hash")


async def test_next_ask_after_two_terminal_builds_quotes_the_new_text(world, bot_root, bot_engine):
    before = await world.alice.slash(world.channel, "ask", question=QUESTION)
    assert before.response.embeds, before.response.content
    assert "Quokka" not in before.response.embeds[0].description
    served = bot_engine.info()["build_id"]
    builds = bot_root / ".qabot" / "builds"

    second = await asyncio.to_thread(cli_build, bot_root, "--full")
    doc = bot_root / SOURCES / DOC
    doc.write_text(doc.read_text(encoding="utf-8") + "\n" + NEW_TEXT + "\n", encoding="utf-8")
    third = await asyncio.to_thread(cli_build, bot_root)
    assert len({served, second, third}) == 3
    assert (builds / served).is_dir()  # the bot's build survived the second build's cleanup

    after = await world.alice.slash(world.channel, "ask", question=QUESTION)
    reply = after.response.content or ""
    assert "unavailable" not in reply and "qabot index" not in reply, reply
    assert after.response.embeds, reply
    card = after.response.embeds[0]
    assert "Quokka Harbour Savings Bank" in card.description, card.description
    assert "No passages." not in card.description
    assert bot_engine.info()["build_id"] == third

    # /sources reads the same new build
    sources = await world.alice.slash(world.channel, "sources")
    assert "unavailable" not in (sources.response.content or "")
