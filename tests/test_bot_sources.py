"""Sources kept fresh while the bot runs (SimCord): a watched folder edited under a running bot is quoted
by the next /ask; /sources shows each source's state, a stale web source with its error; a burst of
edits is one build. The scheduler's threads run the real watcher (inotify, or polling)."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from bench.sources import LoopbackSite
from index.config import Settings
from index.engine import Engine
from index.scheduler import Scheduler
from index.sourcespec import SourceSpec

from botkit import CORPUS, settings_for

pytestmark = [pytest.mark.slow]

DOC = "2025-11-04_treasury_sb0302_dprk-bankers-cybercrime-it-worker-funds.md"
NEW_TEXT = "The Wombat Ridge Credit Union was added to the watch list on 3 March 2026 after it moved funds."
QUESTION = "Which credit union was added to the watch list in March 2026?"
WAIT_S = 90.0  # a slow, busy machine: the build normally lands within a few seconds


def tables(site_url: str) -> tuple[SourceSpec, ...]:
    return SourceSpec.parse_all(
        [{"folder": "docs_corpus"}, {"sitemap": site_url, "name": "intranet", "refresh": "1h", "timeout": 1.0}]
    )


@pytest.fixture(scope="module")
def site():
    with LoopbackSite() as s:
        s.page("/canteen", "Canteen", "The canteen on the third floor opens at eight every weekday morning.")
        yield s


@pytest.fixture(scope="module")
def bot_root(tmp_path_factory, site) -> Path:
    target = tmp_path_factory.mktemp("bot-sources-root")
    shutil.copytree(CORPUS, target / "docs_corpus")
    engine = Engine(settings_for(target, sources=(), encoder="hash", source=tables(site.url("/sitemap.xml"))))
    engine.refresh()  # the intranet synced once, then it goes down and the next sync fails
    site.stop()
    assert not engine.refresh().syncs[0].ok
    return target


@pytest.fixture(scope="module")
def bot_engine(bot_root, site):
    settings = settings_for(bot_root, sources=(), encoder="hash", source=tables(site.url("/sitemap.xml")))
    return Engine(settings.engine_settings)


@pytest.fixture
def bot_settings(bot_root, site):
    return settings_for(bot_root, sources=(), encoder="hash", source=tables(site.url("/sitemap.xml")))


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.simcord(settle_timeout=120)
async def test_an_edit_in_a_watched_folder_is_quoted_by_the_next_ask(world, bot_root, bot_engine):
    scheduler = world.bot.get_cog("Refresh").scheduler
    assert scheduler is not None and scheduler.watched  # started by the cog, in threads of its own
    before = await world.alice.slash(world.channel, "ask", question=QUESTION)
    assert "Wombat" not in (before.response.embeds[0].description if before.response.embeds else "")
    served = bot_engine.info()["build_id"]

    doc = bot_root / "docs_corpus" / DOC
    doc.write_text(doc.read_text(encoding="utf-8") + "\n" + NEW_TEXT + "\n", encoding="utf-8")
    deadline = time.monotonic() + WAIT_S
    while bot_engine.store.pointer()[0] == served and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert bot_engine.store.pointer()[0] != served, "no build after the edit"

    after = await world.alice.slash(world.channel, "ask", question=QUESTION)
    assert after.response.embeds, after.response.content
    assert "Wombat Ridge Credit Union" in after.response.embeds[0].description

    # /sources: the documents first (as before), then each source's state; the intranet is down: stale
    sources = await world.alice.slash(world.channel, "sources")
    embeds = sources.response.embeds
    assert len(embeds) == 2 and embeds[1].title == "Sources (2)"
    status = embeds[1].description
    assert "**docs\\_corpus** · folder" in status and "on change (watched)" in status
    assert "**intranet** · sitemap · 1 documents · synced" in status
    assert "⚠ stale, last error: " in status and "robots.txt" in status
    stats = await world.alice.slash(world.channel, "stats")
    fields = {f.name: f.value for f in stats.response.embeds[0].fields}
    assert "Last refresh" in fields


def test_a_burst_of_edits_is_one_build_and_a_stale_source_is_shown(tmp_path):
    shutil.copytree(CORPUS, tmp_path / "docs_corpus")
    settings = Settings(
        root=tmp_path,
        index_dir=".qabot",
        sources=(),
        encoder="hash",
        source=SourceSpec.parse_all([{"folder": "docs_corpus"}]),
    )
    engine = Engine(settings)
    engine.rebuild()
    scheduler = Scheduler(engine)
    scheduler.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while scheduler.runs < 1 and time.monotonic() < deadline:  # the catch-up build at start
            time.sleep(0.1)
        assert scheduler.runs == 1
        first = engine.store.pointer()[0]
        for i in range(10):
            (tmp_path / "docs_corpus" / f"burst-{i}.md").write_text(
                f"# Burst {i}\n\nBurst note {i} about the pier lights.\n"
            )
        while scheduler.runs < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(3.0)  # longer than QUIET_S and MAX_DELAY_S: a second build would have started by now
        assert scheduler.runs == 2
        assert engine.store.pointer()[0] != first
        assert sum(1 for d in engine.sources() if d["path"].startswith("docs_corpus/burst-")) == 10
        (tmp_path / ".qabot" / "scratch.md").write_text("# Not a source\n\nThe index folder is not watched.\n")
        time.sleep(2.0)
        assert scheduler.runs == 2  # the build's own writes (and anything in the index folder) start nothing
    finally:
        scheduler.stop()
