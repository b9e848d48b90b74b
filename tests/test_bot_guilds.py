"""bot/guilds.py and what it stands on: channel -> sets from qabot.toml, each server's changes in SQLite,
the settings in effect, the rate limit per server, the activity log counted per server; and a settings
database that can't be used, which costs the server its changes but never an answer."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from bot.guilds import GuildSettings, GuildSettingsError, GuildStore, visible_rows
from bot.limits import RateLimiter
from bot.settings import BotSettings, ChannelSets, load_bot_settings
from index.activity import ActivityLog
from index.types import Answer

from botkit import BANKS


def test_channel_sets_from_a_toml_table_text_or_pairs(tmp_path):
    (tmp_path / "qabot.toml").write_text('[channel_sets]\n111 = ["billing"]\n222 = ["eng", "ops", "eng"]\n333 = []\n')

    from_toml = load_bot_settings(tmp_path / "qabot.toml", env={}).channel_sets
    from_env = load_bot_settings(env={"QABOT_CONFIG": "", "QABOT_CHANNEL_SETS": "111=billing; 222 = eng, ops"})

    assert dict(from_toml) == {111: ("billing",), 222: ("eng", "ops")}  # each set once; an empty entry is no entry
    assert from_env.channel_sets == from_toml and hash(from_env.channel_sets) == hash(from_toml)
    assert ChannelSets([(111, "billing")]) == ChannelSets({"111": ["billing"]}) != ChannelSets()
    assert BotSettings().channel_sets == ChannelSets()


def test_a_servers_changes_go_over_the_defaults_and_threads_follow_their_channel():
    defaults = BotSettings(channel_sets=ChannelSets({1: ("eng",), 2: ("billing",)}), rate_limit_count=5)
    changes = {"channel_sets": {"2": ["eng"], "3": ["all"]}, "rate_limit_count": 2, "mention_only": True}

    s = GuildSettings.of(defaults, changes, guild_id=9)

    assert s.sets_for(1) == ("eng",) and s.sets_for(2) == ("eng",)  # channel 1 keeps the default
    assert s.sets_for(3) is None and s.sets_for(4) is None  # "all" and unlisted: every document
    assert s.sets_for(10, parent_id=2) == ("eng",)  # a thread in channel 2
    assert (s.rate_limit_count, s.rate_limit_seconds, s.mention_only) == (2, 30.0, True)
    assert s.changed == {"channel_sets", "rate_limit_count", "mention_only"}
    assert GuildSettings.of(defaults, {}, 9).sets_for(2) == ("billing",)


def test_changes_are_kept_per_server_and_read_back_by_a_new_store(tmp_path):
    store = GuildStore(tmp_path / "guilds.sqlite")
    assert store.changes(1) == {} and store.cached(1) == {}

    store.set(1, "private_by_default", True)
    store.set(1, "qa_channel_ids", [5, 6])
    store.set(2, "private_by_default", False)

    again = GuildStore(tmp_path / "guilds.sqlite")
    assert again.cached(1) is None  # nothing read yet: the first read happens off the event loop
    assert again.changes(1) == {"private_by_default": True, "qa_channel_ids": [5, 6]}
    assert again.changes(2) == {"private_by_default": False}
    assert again.reset(1, "qa_channel_ids") and not again.reset(1, "qa_channel_ids")
    assert GuildStore(tmp_path / "guilds.sqlite").changes(1) == {"private_by_default": True}
    with pytest.raises(KeyError):
        store.set(1, "discord_token", "x")  # only the per-server settings

    # Several at once (the rate limit's two numbers): written together, forgotten together.
    assert store.update(3, {"rate_limit_count": 2, "rate_limit_seconds": 10.0}) == 2
    with pytest.raises(KeyError):
        store.update(3, {"rate_limit_count": 9, "nonsense": 1})
    assert store.changes(3) == {"rate_limit_count": 2, "rate_limit_seconds": 10.0}  # nothing of the refused update
    assert store.update(3, {"rate_limit_count": None, "rate_limit_seconds": None}) == 2
    assert GuildStore(tmp_path / "guilds.sqlite").changes(3) == {}


def test_a_store_that_cannot_be_opened_says_so(tmp_path):
    (tmp_path / "guilds.sqlite").mkdir()
    with pytest.raises(GuildSettingsError, match="cannot be opened"):
        GuildStore(tmp_path / "guilds.sqlite").changes(1)


def test_each_server_has_its_own_rate_limit():
    limiter = RateLimiter(5, 30)
    assert limiter.hit((1, 7), 1, 60) == 0.0
    assert limiter.hit((1, 7), 1, 60) > 0  # server 1 allows one question a minute
    assert limiter.hit((2, 7), 5, 30) == 0.0  # the same person in another server is not limited by it


def test_the_activity_log_counts_per_server_and_upgrades_an_old_log(tmp_path):
    path = tmp_path / "activity.sqlite"
    with sqlite3.connect(path) as db:  # a log written before questions had a server
        db.execute(
            "create table questions (id integer primary key, ts float, question text, abstained integer, "
            "quotes text, more text, latency_ms float, channel text, error text, build_id text)"
        )
        db.execute("insert into questions (ts, question, abstained) values (1, 'old', 0)")
    log = ActivityLog(path)
    answer = Answer(question="q", abstained=True, quotes=[], follow_up="the earlier one")

    first = log.log_question("q", answer, 5.0, "slash", guild_id=1)
    log.log_question("q", answer, 5.0, "slash", guild_id=2)
    log.record_feedback(first, 42, 1, 1)

    assert log.stats(1) == {"questions": 1, "answered": 0, "abstained": 1, "errors": 0, "upvotes": 1, "downvotes": 0}
    assert log.stats(2)["questions"] == 1 and log.stats(2)["upvotes"] == 0
    assert log.stats()["questions"] == 3  # everywhere (the CLI), the old row included
    assert log.get_answer(first)["follow_up"] == "the earlier one"


def test_other_servers_saved_answers_are_never_listed():
    rows = [{"path": "a", "sets": ["all"]}, {"path": "s1", "sets": ["saved:1"]}, {"path": "s2", "sets": ["saved:2"]}]
    assert [r["path"] for r in visible_rows(rows, 1)] == ["a", "s1"]
    assert [r["path"] for r in visible_rows(rows, None)] == ["a"]


@pytest.mark.asyncio(loop_scope="session")
async def test_an_unusable_settings_database_keeps_the_answers_and_says_so(world, tmp_path, caplog):
    broken = tmp_path / "guilds.sqlite"
    broken.mkdir()
    world.bot.server_settings = GuildStore(broken)

    with caplog.at_level(logging.ERROR):
        asked = await world.alice.slash(world.channel, "ask", question=BANKS)
    assert "Ryujong Credit Bank" in asked.response.embeds[0].description  # on the defaults
    assert any("using the defaults" in r.getMessage() for r in caplog.records)

    changed = await world.admin.slash(world.channel, "config private", on=True)
    assert changed.ephemeral and changed.response.content.startswith("I couldn't save that setting: ")
    assert changed.response.content.endswith("Nothing changed.")
