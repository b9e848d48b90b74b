"""Settings per server in SimCord on the real engine and model: `/config` (who may, what each subcommand
changes, that it applies at once and survives a restart), document sets per channel (threads follow
their channel), and two servers that never mix settings or statistics."""

from __future__ import annotations

import pytest
import simcord

from bot import create_bot
from bot.settings import ChannelSets
from index.engine import Engine

from botkit import (
    APPROVALS,
    BILLING_MARK,
    ENG_MARK,
    REINDEX_ROLE,
    answer_id_of,
    card_text,
    community_copy,
    community_settings,
    deferred_with_thinking,
    fresh_community_settings,
    refusals,
    second_guild,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.simcord(settle_timeout=300)]

CONFIG_REFUSAL = "Sorry, only administrators can change the bot's settings."
CONFIG_REFUSAL_WITH_ROLE = "Sorry, only administrators and members with the manager role can change the bot's settings."


@pytest.fixture(scope="module")
def bot_root(tmp_path_factory):
    return community_copy(tmp_path_factory, "community-config")


@pytest.fixture(scope="module")
def bot_engine(bot_root):
    return Engine(community_settings(bot_root).engine_settings)


@pytest.fixture
def bot_settings(bot_root):
    return fresh_community_settings(bot_root, reindex_role=REINDEX_ROLE)


def every_config_call(world, channel):
    """Each /config subcommand with options that would change something."""
    return [
        ("config show", {}),
        ("config sets", {"channel": channel, "sets": "billing"}),
        ("config qa-channel", {"channel": channel, "on": True}),
        ("config replies", {"to": "mentions"}),
        ("config threads", {"on": True}),
        ("config private", {"on": True}),
        ("config reindex-role", {"role": world.keepers}),
        ("config manager-role", {"role": world.keepers}),
        ("config rate-limit", {"count": 1, "seconds": 60}),
        ("config reset", {"setting": "private_by_default"}),
    ]


async def config(world, who, name, **options):
    """Run one /config subcommand, asserting it answered privately without deferring; returns its text."""
    result = await who.slash(world.channel, name, **options)
    assert result.ephemeral and not deferred_with_thinking(world.env, result)
    return result.response.content or ""


def stored(world, guild_id=None) -> dict:
    return world.bot.server_settings.changes(guild_id or world.guild.id)


# ---------------------------------------------------------------------------- who may


async def test_members_see_config_but_only_admins_may_run_it(world):
    """A check, not default_permissions: the command is visible (so a manager role can use it) and refuses."""
    assert "config show" in world.alice.available_commands(world.channel)
    channel = world.guild.create_text_channel("billing-help")
    calls = every_config_call(world, channel)
    group = world.bot.tree.get_command("config")
    assert {name for name, _ in calls} == {f"config {c.name}" for c in group.commands}
    assert group.guild_only  # not offered in DMs, where there is no server to configure

    for who in (world.alice, world.mod, world.keeper, world.librarian):
        for name, options in calls:
            result = await who.slash(world.channel, name, **options)
            assert result.ephemeral and result.response.content == CONFIG_REFUSAL, (who, name)
    assert refusals(world.env) == [CONFIG_REFUSAL] * (4 * len(calls))
    assert stored(world) == {}  # nothing was changed by anyone refused


async def test_the_manager_role_may_configure_in_its_own_server_only(world):
    await config(world, world.admin, "config manager-role", role=world.keepers)
    other = second_guild(world.env)

    for name, options in every_config_call(world, world.guild.create_text_channel("eng")):
        text = await config(world, world.keeper, name, **options)
        assert "Sorry" not in text, (name, text)
    refused = await world.alice.slash(world.channel, "config show")
    assert refused.response.content == CONFIG_REFUSAL_WITH_ROLE
    # The keeper role is this server's; in the other server nobody but its administrator may configure.
    for who in (other.carol,):
        result = await who.slash(other.channel, "config private", on=True)
        assert result.response.content == CONFIG_REFUSAL
    assert refusals(world.env) == [CONFIG_REFUSAL_WITH_ROLE, CONFIG_REFUSAL]
    assert stored(world, other.guild.id) == {}


# ---------------------------------------------------------------------------- each setting


async def test_each_setting_applies_at_once(world):
    qa = world.guild.create_text_channel("ask-here")
    me = world.bot.user

    text = await config(world, world.admin, "config private", on=True)
    assert "**Private /ask answers**: now yes" in text and "(was no" in text and "applies at once" in text
    asked = await world.alice.slash(world.channel, "ask", question=APPROVALS)
    assert asked.ephemeral and asked.response.embeds

    await config(world, world.admin, "config qa-channel", channel=qa, on=True)
    await world.alice.send(qa, APPROVALS)
    assert qa.last_message.author.id == me.id and qa.last_message.embeds  # every message there is a question

    text = await config(world, world.admin, "config replies", to="mentions")
    assert "now only messages that mention me" in text
    sent = await world.alice.send(qa, APPROVALS)
    assert qa.last_message.id == sent.id  # not a mention: no answer now
    await world.alice.send(qa, f"<@{me.id}> {APPROVALS}")
    assert qa.last_message.author.id == me.id

    await config(world, world.admin, "config replies", to="every")
    await config(world, world.admin, "config threads", on=True)
    await world.alice.send(qa, APPROVALS)
    assert len(qa.threads) == 1 and qa.threads[0].last_message.embeds  # answered in a new thread

    text = await config(world, world.admin, "config rate-limit", count=1, seconds=60)
    assert "now 1 questions every 60 s per person" in text
    first = await world.bob.slash(world.channel, "ask", question=APPROVALS)
    assert deferred_with_thinking(world.env, first)
    second = await world.bob.slash(world.channel, "ask", question=APPROVALS)
    assert "the limit is 1 every 60 s" in second.response.content
    await config(world, world.admin, "config reset", setting="rate_limit")

    refused = await world.keeper.slash(world.channel, "reindex")
    assert "only administrators and members with the reindex role" in refused.response.content
    text = await config(world, world.admin, "config reindex-role", role=world.keepers)
    assert f"now <@&{world.keepers.id}>" in text
    allowed = await world.keeper.slash(world.channel, "reindex")
    assert "Nothing changed" in allowed.response.content
    refused = await world.librarian.slash(world.channel, "reindex")  # the toml's role no longer counts here
    assert "reindex role" in refused.response.content
    assert len(refusals(world.env)) == 2

    shown = (await world.admin.slash(world.channel, "config show")).response.embeds[0]
    fields = {f.name: f.value for f in shown.fields}
    assert fields["Private /ask answers (set here)"].startswith("yes")
    assert fields["Q&A channels (set here)"] == f"<#{qa.id}>"
    assert fields["Rate limit (default)"] == "500 questions every 30 s per person"
    assert fields["Reindex role (set here)"] == f"<@&{world.keepers.id}>"
    assert fields["Manager role (default)"] == "none (administrators only)"

    text = await config(world, world.admin, "config reset", setting="private_by_default")
    assert "now no" in text
    public = await world.alice.slash(world.channel, "ask", question=APPROVALS)
    assert not public.ephemeral
    assert set(stored(world)) == {"qa_channel_ids", "mention_only", "answer_in_thread", "reindex_role"}


async def test_rate_limit_values_out_of_range_are_refused_by_discord(world):
    with pytest.raises(simcord.OptionError):
        await world.admin.slash(world.channel, "config rate-limit", count=1000)
    assert stored(world) == {}


# ---------------------------------------------------------------------------- document sets per channel


async def test_each_channel_answers_from_its_own_sets_and_threads_follow_it(world):
    billing = world.guild.create_text_channel("billing-help")
    eng = world.guild.create_text_channel("eng")
    text = await config(world, world.admin, "config sets", channel=billing, sets="Billing")
    assert f"<#{billing.id}> → billing" in text  # the index's own spelling
    await config(world, world.admin, "config sets", channel=eng, sets="eng")

    in_billing = await world.alice.slash(billing, "ask", question=APPROVALS)
    in_eng = await world.alice.slash(eng, "ask", question=APPROVALS)
    in_general = await world.alice.slash(world.channel, "ask", question=APPROVALS)

    assert BILLING_MARK in card_text(in_billing) and ENG_MARK not in card_text(in_billing)
    assert ENG_MARK in card_text(in_eng) and BILLING_MARK not in card_text(in_eng)
    assert in_billing.response.embeds[0].footer.text.startswith("Searched: billing ·")
    assert not in_general.response.embeds[0].footer.text.startswith("Searched")  # every document
    stored_sets = world.bot.engine.activity.get_answer(answer_id_of(in_eng.response))
    assert stored_sets["guild_id"] == world.guild.id

    # A thread answers from its channel's sets: the bot opens one for a question asked in #billing-help.
    await config(world, world.admin, "config qa-channel", channel=billing, on=True)
    await config(world, world.admin, "config threads", on=True)
    await world.alice.send(billing, APPROVALS)
    thread = billing.threads[0]
    in_thread = await world.bob.slash(thread, "ask", question="Who approves deploy requests?")
    assert ENG_MARK not in card_text(in_thread)
    assert in_thread.response.embeds[0].footer.text.startswith("Searched: billing")

    # No sets: back to the default (every document).
    text = await config(world, world.admin, "config sets", channel=eng)
    now, was = text.split("\n(was ")
    assert f"<#{billing.id}> → billing" in now and f"<#{eng.id}>" not in now and f"<#{eng.id}> → eng" in was
    again = await world.alice.slash(eng, "ask", question=APPROVALS)
    assert not again.response.embeds[0].footer.text.startswith("Searched")


async def test_unknown_or_saved_sets_are_refused_with_the_known_ones(world):
    billing = world.guild.create_text_channel("billing-help")
    text = await config(world, world.admin, "config sets", channel=billing, sets="billing, nope")
    assert text.startswith("There is no document set called nope. The sets are: all, billing, eng.")
    text = await config(world, world.admin, "config sets", channel=billing, sets=f"saved:{world.guild.id}")
    assert "Saved answers are searched in every channel" in text
    assert stored(world) == {}


async def test_qabot_toml_gives_the_defaults_and_a_server_overrides_them(world):
    eng = world.guild.create_text_channel("eng")
    world.bot.settings = world.bot.settings.with_(channel_sets=ChannelSets({eng.id: ("eng",)}))

    by_default = await world.alice.slash(eng, "ask", question=APPROVALS)
    assert ENG_MARK in card_text(by_default) and BILLING_MARK not in card_text(by_default)
    shown = (await world.admin.slash(world.channel, "config show")).response.embeds[0]
    assert shown.fields[0].name == "Document sets per channel (default)"
    assert shown.fields[0].value == f"<#{eng.id}> → eng"

    await config(world, world.admin, "config sets", channel=eng, sets="billing")
    overridden = await world.alice.slash(eng, "ask", question=APPROVALS)
    assert BILLING_MARK in card_text(overridden) and ENG_MARK not in card_text(overridden)

    await config(world, world.admin, "config reset", setting="channel_sets")
    back = await world.alice.slash(eng, "ask", question=APPROVALS)
    assert ENG_MARK in card_text(back)


# ---------------------------------------------------------------------------- restarts and two servers


async def test_settings_survive_a_restart(world, bot_settings, bot_engine):
    billing = world.guild.create_text_channel("billing-help")
    await config(world, world.admin, "config sets", channel=billing, sets="billing")
    await config(world, world.admin, "config private", on=True)
    await config(world, world.admin, "config manager-role", role=world.keepers)

    await world.env.restart_bot()
    same_process = await world.alice.slash(billing, "ask", question=APPROVALS)
    assert same_process.ephemeral and ENG_MARK not in card_text(same_process)

    await world.env.restart_bot(create_bot(bot_settings, bot_engine))  # a new process: read back from SQLite
    assert world.env.bot.server_settings.cached(world.guild.id) is None
    after = await world.alice.slash(billing, "ask", question=APPROVALS)
    assert after.ephemeral and BILLING_MARK in card_text(after) and ENG_MARK not in card_text(after)
    shown = await world.keeper.slash(world.channel, "config show")
    fields = {f.name: f.value for f in shown.response.embeds[0].fields}
    assert fields["Manager role (set here)"] == f"<@&{world.keepers.id}>"


async def test_two_servers_never_mix_settings_feedback_or_statistics(world, bot_engine):
    other = second_guild(world.env)
    # SimCord's ids repeat from test to test and this module's activity log is shared: count from here.
    before = bot_engine.activity.stats(other.guild.id)
    mine_before = bot_engine.activity.stats(world.guild.id)
    await config(world, world.admin, "config private", on=True)
    await config(world, world.admin, "config sets", channel=world.channel, sets="eng")

    desk = "Who leads the Refund Desk?"  # only a billing document says
    here = await world.alice.slash(world.channel, "ask", question=desk)
    there = await other.carol.slash(other.channel, "ask", question=desk)
    assert here.ephemeral and not there.ephemeral
    assert BILLING_MARK not in card_text(here) and "Marta Ruiz" in card_text(there)
    await other.carol.click(there.response.message, custom_id=f"qa:fb:up:{answer_id_of(there.response)}")
    await other.carol.slash(other.channel, "ask", question=APPROVALS)

    shown = (await other.admin.slash(other.channel, "config show")).response.embeds[0]
    assert all(f.name.endswith("(default)") for f in shown.fields)
    stats = (await other.admin.slash(other.channel, "stats")).response.embeds[0]
    fields = {f.name: f.value for f in stats.fields}
    assert int(fields["Questions"]) == before["questions"] + 2  # carol's two, in this server only
    assert fields["Feedback"] == f"👍 {before['upvotes'] + 1} · 👎 {before['downvotes']}"
    mine = {f.name: f.value for f in (await world.alice.slash(world.channel, "stats")).response.embeds[0].fields}
    assert int(mine["Questions"]) == mine_before["questions"] + 1
    assert mine["Feedback"] == f"👍 {mine_before['upvotes']} · 👎 {mine_before['downvotes']}"
    assert mine["This channel"] == "Answers from: eng"
    assert "This channel" not in fields


# ---------------------------------------------------------------------------- /sources and /stats show sets


async def test_sources_and_stats_show_the_sets(world):
    billing = world.guild.create_text_channel("billing-help")
    await config(world, world.admin, "config sets", channel=billing, sets="billing")

    page = (await world.alice.slash(billing, "sources")).response.embeds[0]
    lines = page.description.split("\n")
    assert len(lines) == 4
    assert sum(line.endswith(" · sets: billing") for line in lines) == 2
    assert sum(line.endswith(" · sets: eng") for line in lines) == 2
    assert page.footer.text == "Page 1 of 1 · this channel answers from: billing"

    stats = (await world.alice.slash(world.channel, "stats")).response.embeds[0]
    fields = {f.name: f.value for f in stats.fields}
    sets = fields["Document sets"].split("\n")
    assert sets[0] == f"**all**: 4 documents, {fields['Passages']} passages"
    assert [line.split(" documents")[0] for line in sets[1:]] == ["**billing**: 2", "**eng**: 2"]  # nothing saved yet
