"""Issue 14, item 5: `/metrics` and `/healthz`, scraped over real HTTP on loopback from a bot running in
SimCord on the real engine and model, while questions are asked; and the scheduler's syncs and builds
as the next scrape counts them."""

from __future__ import annotations

import asyncio
import math
import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from bot import create_bot
from bot.metrics import ANSWER_BUCKETS, MetricsError, error_kind
from bot.settings import load_bot_settings
from cli.main import build_parser
from index.config import Settings
from index.engine import Engine
from index.errors import CorruptIndexError, IndexUnavailableError
from index.saved import SavedAnswer
from index.sourcespec import SourceSpec

from botkit import BANKS, REINDEX_ROLE, TOKEN, built_corpus, deferred_with_thinking, document_count, settings_for

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.simcord(settle_timeout=300)]

OFF_TOPIC = "What is the best recipe for chocolate cake?"


@pytest.fixture
def bot_settings(bot_root):
    """The conftest's bot settings with metrics on a free loopback port (0: the system picks one)."""
    return settings_for(bot_root, reindex_role=REINDEX_ROLE, discord_token=TOKEN, rate_limit_count=500, metrics_port=0)


@pytest_asyncio.fixture
async def world(world):
    """The conftest's world; afterwards its bots' metrics servers stop (SimCord detaches a bot without
    closing it, so nothing else would)."""
    first = world.bot
    yield world
    for bot in {first, world.env.bot}:
        await bot.metrics.stop()


def get(bot, path: str) -> httpx.Response:
    """GET from the bot's metrics server, as Prometheus would: a real client in a thread of its own."""
    assert bot.metrics.port, "the metrics server is not listening"
    return httpx.get(f"http://127.0.0.1:{bot.metrics.port}{path}", timeout=30)


async def scrape(bot) -> dict[tuple[str, frozenset], float]:
    """Every sample of one scrape of /metrics: (name, labels) -> value."""
    response = await asyncio.to_thread(get, bot, "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples, name: str, **labels) -> float:
    """One sample's value; 0 for a labelled series not seen yet (a counter that has not moved)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before, after, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


# ---------------------------------------------------------------------------- the numbers move


async def test_asks_abstentions_latency_and_rate_limits_move_as_questions_are_asked(world):
    bot = world.bot
    before = await scrape(bot)
    assert value(before, "qabot_asks_total", outcome="answered") == value(before, "qabot_asks_total", outcome="error")
    assert ("qabot_asks_total", frozenset({("outcome", "abstained")})) in before  # exported at 0, before any ask

    answered = await world.alice.slash(world.channel, "ask", question=BANKS)
    assert "Ryujong Credit Bank" in answered.response.embeds[0].description
    abstained = await world.alice.slash(world.channel, "ask", question=OFF_TOPIC)
    assert "documents do not answer" in abstained.response.embeds[0].description
    me = bot.user
    await world.bob.send(world.channel, f"<@{me.id}> {BANKS}")  # a mention is an ask too
    assert world.channel.last_message.author.id == me.id and world.channel.last_message.embeds

    await bot.change_settings(world.guild.id, {"rate_limit_count": 1, "rate_limit_seconds": 30})  # this server's limit
    bot.rate_limiter.reset()
    try:
        ok = await world.alice.slash(world.channel, "ask", question=BANKS)
        limited = await world.alice.slash(world.channel, "ask", question=BANKS)
    finally:
        await bot.change_settings(world.guild.id, {"rate_limit_count": None, "rate_limit_seconds": None})
        bot.rate_limiter.reset()
    assert deferred_with_thinking(world.env, ok)
    assert not deferred_with_thinking(world.env, limited) and "Try again in" in limited.response.content

    after = await scrape(bot)
    assert moved(before, after, "qabot_asks_total", outcome="answered") == 3
    assert moved(before, after, "qabot_asks_total", outcome="abstained") == 1
    assert moved(before, after, "qabot_asks_total", outcome="error") == 0
    assert moved(before, after, "qabot_abstentions_total", why="closest_shown") == 1  # its card showed them
    assert moved(before, after, "qabot_rate_limited_total") == 1
    assert moved(before, after, "qabot_answer_seconds_count") == 4  # the refused one never reached the engine
    assert moved(before, after, "qabot_answer_seconds_sum") > 0
    # Cumulative buckets: each edge holds at most the count, +Inf exactly the count.
    count = value(after, "qabot_answer_seconds_count")
    edges = [value(after, "qabot_answer_seconds_bucket", le=str(b)) for b in ANSWER_BUCKETS]
    assert edges == sorted(edges) and edges[-1] <= count
    assert value(after, "qabot_answer_seconds_bucket", le="+Inf") == count
    assert ("qabot_answer_seconds_bucket", frozenset({("le", "0.25")})) in after  # the target's edge, p95 <= 250 ms


async def test_a_failed_send_is_an_error_by_kind(world):
    before = await scrape(world.bot)
    world.env.inject_error("POST", "/webhooks/*", status=500)
    failed = await world.alice.slash(world.channel, "ask", question=BANKS)
    assert "couldn't post the answer" in failed.response.content

    after = await scrape(world.bot)
    assert moved(before, after, "qabot_errors_total", kind="send") == 1
    assert moved(before, after, "qabot_asks_total", outcome="answered") == 1  # the engine did answer


async def test_index_gauges_gateway_latency_and_reindex_duration(world, bot_root):
    before = await scrape(world.bot)
    docs = document_count(bot_root)
    assert value(before, "qabot_index_available") == 1
    assert value(before, "qabot_index_documents", set="all") == docs
    info = world.bot.engine.info()
    chunks = info.get("sets", {}).get("all", {}).get("chunks", info["chunks"])
    assert value(before, "qabot_index_chunks", set="all") == chunks > docs
    assert 0 <= value(before, "qabot_index_age_seconds") < 7 * 86400
    assert before[("qabot_gateway_latency_seconds", frozenset())] == world.bot.latency  # SimCord's heartbeat: 0

    # A new document and /reindex: the build's duration, and the counts of the new build.
    (bot_root / "docs_corpus" / "quokka-note.md").write_text(
        "# Quokkas\n\nThe office plants are watered by the quokka team every Monday morning.\n"
    )
    result = await world.admin.slash(world.channel, "reindex")
    assert "1 added" in result.response.content, result.response.content
    after = await scrape(world.bot)
    assert moved(before, after, "qabot_builds_total", trigger="reindex", result="ok") == 1
    assert moved(before, after, "qabot_build_seconds_count", trigger="reindex") == 1
    assert moved(before, after, "qabot_build_seconds_sum", trigger="reindex") > 0
    assert value(after, "qabot_index_documents", set="all") == docs + 1 == document_count(bot_root)
    assert moved(before, after, "qabot_index_chunks", set="all") >= 1
    assert value(after, "qabot_index_age_seconds") < value(before, "qabot_index_age_seconds")


# ---------------------------------------------------------------------------- /healthz


async def test_healthz_is_ok_with_an_index(world, bot_root):
    response = await asyncio.to_thread(get, world.bot, "/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["build_id"] == world.bot.engine.info()["build_id"]
    assert body["documents"] == document_count(bot_root) and body["index_age_s"] >= 0


async def test_without_an_index_healthz_fails_and_asks_count_as_errors_until_one_is_there(
    world, bot_settings, tmp_path, tmp_path_factory
):
    """A bot started on a folder with no index: 503 naming why, asks fail by kind; the index copied in
    (as `qabot index` in another terminal would write it): 200, and asks answer."""
    (tmp_path / "docs_corpus").mkdir()
    settings = bot_settings.with_(root=tmp_path)
    await world.env.restart_bot(create_bot(settings, Engine(settings.engine_settings), prepare_index=False))
    bot = world.env.bot

    response = await asyncio.to_thread(get, bot, "/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and "no index yet" in response.json()["reason"]
    failed = await world.alice.slash(world.channel, "ask", question=BANKS)
    assert "index is unavailable" in failed.response.content
    samples = await scrape(bot)
    assert value(samples, "qabot_errors_total", kind="index_unavailable") == 1
    assert value(samples, "qabot_asks_total", outcome="error") == 1
    assert value(samples, "qabot_index_available") == 0
    assert ("qabot_index_documents", frozenset({("set", "all")})) not in samples  # nothing to count, no guess

    built = built_corpus(tmp_path_factory)
    shutil.rmtree(tmp_path / "docs_corpus")
    shutil.copytree(built, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("activity.sqlite*"))
    response = await asyncio.to_thread(get, bot, "/healthz")
    assert response.status_code == 200 and response.json()["documents"] == document_count(tmp_path)
    answered = await world.alice.slash(world.channel, "ask", question=BANKS)
    assert "Ryujong Credit Bank" in answered.response.embeds[0].description
    samples = await scrape(bot)
    assert value(samples, "qabot_index_available") == 1
    assert value(samples, "qabot_asks_total", outcome="answered") == 1  # this bot's own registry: from 0


async def test_healthz_names_an_unreadable_index(world, bot_settings, tmp_path, tmp_path_factory):
    shutil.copytree(built_corpus(tmp_path_factory), tmp_path, dirs_exist_ok=True)
    settings = bot_settings.with_(root=tmp_path)
    build_id = (settings.index_path / "CURRENT").read_text().split()[0]
    manifest = settings.index_path / "builds" / build_id / "manifest.json"
    manifest.write_text(manifest.read_text().replace("{", "{ ", 1))  # its checksum no longer matches
    engine = Engine(settings.engine_settings)
    with pytest.raises(CorruptIndexError):
        engine.info()
    await world.env.restart_bot(create_bot(settings, engine, prepare_index=False))

    response = await asyncio.to_thread(get, world.env.bot, "/healthz")
    assert response.status_code == 503
    assert "does not match its checksum" in response.json()["reason"]
    assert "qabot index --full" in response.json()["reason"]  # what to do about it


# ---------------------------------------------------------------------------- the server's life


async def test_metrics_server_stops_when_the_bot_closes(world, bot_settings, bot_engine):
    old = world.bot
    port = old.metrics.port
    assert (await asyncio.to_thread(get, old, "/healthz")).status_code == 200

    await world.env.restart_bot(create_bot(bot_settings, bot_engine))  # SimCord detaches the old bot ...
    await old.close()  # ... and it closes, as `qabot serve` does when it stops
    assert old.metrics.port == port and old.metrics._runner is None
    with pytest.raises(httpx.ConnectError):
        await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics", timeout=5)
    new = world.env.bot
    assert new.metrics.port and (await asyncio.to_thread(get, new, "/healthz")).status_code == 200


async def test_a_busy_port_is_a_short_error(bot_settings, bot_engine):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        bot = create_bot(bot_settings.with_(metrics_port=port), bot_engine, prepare_index=False)
        with pytest.raises(MetricsError, match=f"cannot listen on 127.0.0.1:{port}") as caught:
            await bot.metrics.start()
        assert "--metrics-port" in caught.value.hint
    assert bot.metrics.port is None
    await bot.metrics.stop()  # nothing started: nothing to stop, no error


async def test_off_by_default_and_two_bots_never_share_numbers(bot_root, bot_engine):
    one = create_bot(settings_for(bot_root), bot_engine, prepare_index=False)
    two = create_bot(settings_for(bot_root), bot_engine, prepare_index=False)
    assert one.settings.metrics_port is None and one.settings.metrics_host == "127.0.0.1"
    await one.metrics.start()
    assert one.metrics.port is None  # no port set: no server
    one.metrics.failed(IndexUnavailableError("x"), ask=True)
    assert one.metrics.registry.get_sample_value("qabot_errors_total", {"kind": "index_unavailable"}) == 1
    assert two.metrics.registry.get_sample_value("qabot_errors_total", {"kind": "index_unavailable"}) is None


async def test_metrics_port_and_host_from_qabot_toml_and_the_environment(tmp_path):
    (tmp_path / "qabot.toml").write_text('metrics_port = 9464\nmetrics_host = "10.0.0.5"\n')
    settings = load_bot_settings(tmp_path / "qabot.toml", env={})
    assert (settings.metrics_port, settings.metrics_host) == (9464, "10.0.0.5")
    settings = load_bot_settings(tmp_path / "qabot.toml", env={"QABOT_METRICS_PORT": ""})
    assert settings.metrics_port is None  # an empty variable turns it off again


async def test_serve_takes_a_metrics_port_and_host():
    args = build_parser().parse_args(["serve", "--metrics-port", "9464", "--metrics-host", "0.0.0.0"])
    assert (args.metrics_port, args.metrics_host) == (9464, "0.0.0.0")
    assert build_parser().parse_args(["serve"]).metrics_port is None


async def test_error_kinds_are_short_labels():
    assert error_kind(IndexUnavailableError("x")) == "index_unavailable"
    assert error_kind(CorruptIndexError("x")) == "corrupt_index"
    assert error_kind("send") == "send"


# ---------------------------------------------------------------------------- the scheduler's work


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)


async def test_refreshes_syncs_and_builds_are_counted_once_at_the_next_scrape(tmp_path):
    """A git source refreshed as the scheduler does (`engine.refresh`), once well and once with its
    repository gone: the sync durations, results and the builds appear at the next scrape, each once.
    The hash encoder: this is about what is counted, not about answers."""
    repo = tmp_path / "handbook"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "docs@example.org")
    git(repo, "config", "user.name", "Docs")
    (repo / "guide.md").write_text("# Deploying\n\nThe deploy tool pushes every build to staging first.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    spec = SourceSpec.parse_all([{"git": str(repo), "name": "handbook", "sets": ["engineering"]}])
    settings = Settings(root=tmp_path, index_dir=".qabot", sources=(), source=spec, encoder="hash")
    engine = Engine(settings)
    bot = create_bot(settings, engine, prepare_index=False)

    first = await asyncio.to_thread(engine.refresh)
    assert first.syncs[0].ok and first.build is not None
    await asyncio.to_thread(bot.metrics.scrape)
    await asyncio.to_thread(bot.metrics.scrape)  # counted once, not at every scrape
    read = bot.metrics.registry.get_sample_value
    assert read("qabot_source_syncs_total", {"source": "handbook", "result": "ok"}) == 1
    assert read("qabot_source_sync_seconds_count", {"source": "handbook"}) == 1
    assert read("qabot_source_sync_seconds_sum", {"source": "handbook"}) > 0
    assert read("qabot_builds_total", {"trigger": "refresh", "result": "ok"}) == 1
    assert read("qabot_build_seconds_count", {"trigger": "refresh"}) == 1
    assert read("qabot_index_documents", {"set": "all"}) == read("qabot_index_documents", {"set": "engineering"}) == 1
    assert read("qabot_index_chunks", {"set": "engineering"}) >= 1
    assert math.isnan(read("qabot_gateway_latency_seconds"))  # never connected: no heartbeat to measure

    shutil.rmtree(repo)
    second = await asyncio.to_thread(engine.refresh)
    assert not second.syncs[0].ok  # its last good documents stay; the build still runs
    body, content_type = await asyncio.to_thread(bot.metrics.scrape)
    assert content_type.startswith("text/plain") and b"qabot_source_syncs_total{" in body
    assert read("qabot_source_syncs_total", {"source": "handbook", "result": "failed"}) == 1
    assert read("qabot_source_syncs_total", {"source": "handbook", "result": "ok"}) == 1
    assert read("qabot_builds_total", {"trigger": "refresh", "result": "ok"}) == 2

    # A saved answer: a set of its server's own, counted like any other.
    reply = "Ask the release captain; they approve every deploy to production."
    saved = SavedAnswer(42, 7, 99, "alice", "2026-12-01T12:00:00+00:00", reply, "https://discord.com/channels/42/7/99")
    await asyncio.to_thread(engine.save_answer, saved)
    await asyncio.to_thread(bot.metrics.scrape)
    assert read("qabot_index_documents", {"set": "saved:42"}) == 1
    assert read("qabot_index_documents", {"set": "all"}) == 1  # saved answers are not in `all`
