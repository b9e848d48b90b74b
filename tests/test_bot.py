"""The Discord bot end to end in SimCord, on the real engine, model and bundled corpus."""

from __future__ import annotations

import sqlite3

import discord
import pytest

from bot import create_bot
from bot.views import SOURCES_PER_PAGE

from botkit import BANKS, answer_id_of, custom_ids, deferred_with_thinking, document_count

pytestmark = pytest.mark.asyncio(loop_scope="session")

OFF_TOPIC = "What is the best recipe for chocolate cake?"


def link_urls(components) -> list[str]:
    return [c["url"] for row in components for c in row.get("components", []) if c.get("url")]


# ---------------------------------------------------------------------------- /ask


async def test_ask_defers_then_answers_with_quote_and_link(world):
    result = await world.alice.slash(world.channel, "ask", question=BANKS)

    assert deferred_with_thinking(world.env, result)
    assert not result.ephemeral
    card = result.response.embeds[0]
    assert card.title == BANKS
    assert "do not answer" not in card.description
    assert "Ryujong Credit Bank" in card.description
    assert "home.treasury.gov" in card.description
    assert card.footer.text.startswith("Index built ")
    ids = custom_ids(result.response.components)
    assert any(i.startswith("qa:fb:up:") for i in ids) and any(i.startswith("qa:fb:down:") for i in ids)
    assert any(i.startswith("qa:more:") for i in ids)
    assert any("home.treasury.gov" in u for u in link_urls(result.response.components))
    assert result.response.message.mentions == [] and not result.response.message.mention_everyone


async def test_ask_private_answer_is_ephemeral(world):
    result = await world.alice.slash(world.channel, "ask", question=BANKS, private=True)

    assert deferred_with_thinking(world.env, result) and result.ephemeral
    assert "Ryujong Credit Bank" in result.response.embeds[0].description


async def test_off_topic_question_abstains_with_closest_passages(world):
    result = await world.alice.slash(world.channel, "ask", question=OFF_TOPIC)

    card = result.response.embeds[0]
    assert "documents do not answer" in card.description
    assert 1 <= card.description.count("Closest passage") <= 3
    assert not link_urls(result.response.components)  # no "source" buttons for a non-answer


@pytest.mark.parametrize("question, expected", [("   ", "The question is empty"), ("why " * 300, "under 1000")])
async def test_unusable_question_is_refused_privately_before_deferring(world, question, expected):
    result = await world.alice.slash(world.channel, "ask", question=question)

    assert not deferred_with_thinking(world.env, result)
    assert result.ephemeral
    assert expected in result.response.content


async def test_question_length_is_measured_after_cleaning_as_in_the_cli(world):
    """Whitespace does not count toward the limit: the bot and the CLI share one check."""
    padded = "   ".join(["Which", "banks", "were", "sanctioned?"] * 30) + " " * 400  # > 1000 raw, < 1000 clean
    assert len(padded) > world.bot.settings.max_question_chars > len(" ".join(padded.split()))

    result = await world.alice.slash(world.channel, "ask", question=padded)

    assert deferred_with_thinking(world.env, result)
    assert "characters long" not in (result.response.content or "")
    assert result.response.embeds


async def test_question_without_searchable_words_gets_the_engines_advice(world):
    result = await world.alice.slash(world.channel, "ask", question="?? !!")

    assert "no words to search for" in result.response.content


async def test_context_menu_answers_the_message_privately(world):
    message = await world.alice.send(world.channel, BANKS)
    assert world.channel.last_message.id == message.id  # not in a Q&A channel and no mention: no reply

    result = await world.bob.context_menu(world.channel, "Ask the docs", message)

    assert deferred_with_thinking(world.env, result) and result.ephemeral
    assert "Ryujong Credit Bank" in result.response.embeds[0].description


# ---------------------------------------------------------------------------- Q&A channel


async def test_mention_is_answered_as_a_reply(world):
    me = world.bot.user
    message = await world.alice.send(world.channel, f"<@{me.id}> {BANKS}")

    reply = world.channel.last_message
    assert reply.author.id == me.id
    assert reply.reference is not None and reply.reference.message_id == message.id
    assert "Ryujong Credit Bank" in reply.embeds[0].description
    assert reply.embeds[0].title == BANKS  # the mention is not part of the question


async def test_qa_channel_questions_are_answered_and_bots_ignored(world):
    qa = world.guild.create_text_channel("ask-the-docs")
    world.bot.settings = world.bot.settings.with_(qa_channel_ids=(qa.id,))
    other_bot = world.guild.add_member(world.env.create_user("otherbot", bot=True))

    sent = await other_bot.send(qa, BANKS)
    assert qa.last_message.id == sent.id  # a bot's message gets no answer

    await world.alice.send(qa, BANKS)
    reply = qa.last_message
    assert reply.author.id == world.bot.user.id
    assert "Ryujong Credit Bank" in reply.embeds[0].description

    count = len(qa.history())
    await world.alice.send(world.channel, "just chatting, no question for the bot")
    assert len(qa.history()) == count


async def test_answer_in_thread_when_configured(world):
    qa = world.guild.create_text_channel("threads")
    world.bot.settings = world.bot.settings.with_(qa_channel_ids=(qa.id,), answer_in_thread=True)

    await world.alice.send(qa, BANKS)

    threads = qa.threads
    assert len(threads) == 1
    assert "Ryujong Credit Bank" in threads[0].last_message.embeds[0].description


# ---------------------------------------------------------------------------- buttons


async def test_feedback_is_stored_once_per_user_and_can_change(world, bot_engine):
    before = bot_engine.activity.stats()
    result = await world.alice.slash(world.channel, "ask", question=BANKS)
    message = result.response.message
    answer_id = answer_id_of(result.response)

    up = await world.alice.click(message, custom_id=f"qa:fb:up:{answer_id}")
    assert up.ephemeral and "Thanks" in up.response.content
    await world.alice.click(message, custom_id=f"qa:fb:down:{answer_id}")
    await world.bob.click(message, custom_id=f"qa:fb:up:{answer_id}")

    after = bot_engine.activity.stats()
    assert after["upvotes"] - before["upvotes"] == 1
    assert after["downvotes"] - before["downvotes"] == 1
    stored = bot_engine.activity.get_answer(answer_id)
    assert stored["question"] == BANKS
    assert any("Ryujong Credit Bank" in q["text"] for q in stored["quotes"])
    with sqlite3.connect(bot_engine.activity.path) as db:
        votes = dict(db.execute("select user_hash, vote from feedback where answer_id = ?", [answer_id]).fetchall())
    assert votes == {bot_engine.activity.user_hash(world.alice.id): -1, bot_engine.activity.user_hash(world.bob.id): 1}
    assert not {str(world.alice.id), str(world.bob.id)} & set(votes)  # never the ids themselves


async def test_more_passages_are_shown_privately(world):
    result = await world.alice.slash(world.channel, "ask", question=BANKS)
    answer_id = answer_id_of(result.response)

    more = await world.bob.click(result.response.message, custom_id=f"qa:more:{answer_id}")

    assert more.ephemeral
    embed = more.response.embeds[0]
    assert embed.title.startswith("More passages")
    assert embed.description.startswith(">")


async def test_buttons_work_after_restart(world, bot_settings, bot_engine):
    result = await world.alice.slash(world.channel, "ask", question=BANKS)
    message = result.response.message
    answer_id = answer_id_of(result.response)
    before = bot_engine.activity.stats()

    await world.env.restart_bot()
    vote = await world.bob.click(message, custom_id=f"qa:fb:down:{answer_id}")
    assert "Thanks" in vote.response.content
    assert bot_engine.activity.stats()["downvotes"] == before["downvotes"] + 1

    # A brand-new bot process knows nothing in memory: "More passages" comes from the activity log.
    await world.env.restart_bot(create_bot(bot_settings, bot_engine))
    more = await world.bob.click(message, custom_id=f"qa:more:{answer_id}")
    assert more.ephemeral and more.response.embeds[0].description.startswith(">")
    again = await world.alice.slash(world.channel, "ask", question=BANKS)
    assert "Ryujong Credit Bank" in again.response.embeds[0].description


# ---------------------------------------------------------------------------- /sources, /stats, /help


async def test_sources_pages_with_buttons(world, bot_root):
    total = document_count(bot_root)
    pages = -(-total // SOURCES_PER_PAGE)
    assert pages >= 2  # the corpus is big enough to page
    result = await world.alice.slash(world.channel, "sources")

    assert result.ephemeral
    first = result.response.embeds[0]
    assert f"({total})" in first.title
    assert first.footer.text == f"Page 1 of {pages}"
    assert first.description.count("\n") == SOURCES_PER_PAGE - 1  # one line per document
    assert "https://" in first.description

    await world.alice.click(result.response.message, label="Next ▶")
    second = result.response.embeds[0]
    assert second.footer.text == f"Page 2 of {pages}"
    assert second.description != first.description

    await world.alice.click(result.response.message, label="◀ Previous")
    assert result.response.embeds[0].footer.text == f"Page 1 of {pages}"


async def test_sources_filter(world, bot_root):
    mitre = len(list((bot_root / "docs_corpus").glob("mitre*")))
    result = await world.alice.slash(world.channel, "sources", filter="mitre")

    embed = result.response.embeds[0]
    assert mitre and f"({mitre})" in embed.title
    assert embed.description.count("\n") == mitre - 1
    assert embed.footer.text == "Page 1 of 1"
    assert not custom_ids(result.response.components)


async def test_stats_and_help(world, bot_root):
    await world.alice.slash(world.channel, "ask", question=BANKS)
    await world.alice.slash(world.channel, "ask", question=OFF_TOPIC)

    stats = await world.alice.slash(world.channel, "stats")
    fields = {f.name: f.value for f in stats.response.embeds[0].fields}
    assert fields["Documents"] == str(document_count(bot_root))
    assert int(fields["Questions"]) >= 2 and int(fields["Not answered"]) >= 1
    assert "👍" in fields["Feedback"]

    help_ = await world.alice.slash(world.channel, "help")
    assert help_.ephemeral
    commands = help_.response.embeds[0].fields[0].value
    assert "/ask" in commands
    assert "/reindex` re-read the documents (administrators and members with the reindex role)" in commands


async def test_every_command_has_descriptions(world):
    commands = world.bot.tree.get_commands()
    slash = [c for c in commands if isinstance(c, discord.app_commands.Command)]
    assert sorted(c.name for c in slash) == ["ask", "help", "reindex", "sources", "stats"]
    menus = [c.name for c in commands if isinstance(c, discord.app_commands.ContextMenu)]
    assert sorted(menus) == ["Ask the docs", "Remove saved answer", "Save as answer"]
    config = world.bot.tree.get_command("config")
    assert isinstance(config, discord.app_commands.Group) and config.description
    slash += config.commands
    for command in slash:
        assert command.description and command.description != "…", command.name
        for param in command.parameters:
            assert param.description and param.description != "…", (command.name, param.name)


# ---------------------------------------------------------------------------- limits and errors


async def test_rate_limit_answers_privately_and_resets(world):
    world.bot.settings = world.bot.settings.with_(rate_limit_count=2, rate_limit_seconds=30)
    world.bot.rate_limiter.count = 2

    for _ in range(2):
        ok = await world.alice.slash(world.channel, "ask", question=BANKS)
        assert deferred_with_thinking(world.env, ok)
    limited = await world.alice.slash(world.channel, "ask", question=BANKS)
    assert not deferred_with_thinking(world.env, limited) and limited.ephemeral
    assert "Try again in" in limited.response.content

    other = await world.bob.slash(world.channel, "ask", question=BANKS)  # the limit is per user
    assert deferred_with_thinking(world.env, other)

    await world.env.advance_time(31)
    again = await world.alice.slash(world.channel, "ask", question=BANKS)
    assert deferred_with_thinking(world.env, again)


async def test_rate_limited_mentions_are_refused_once_then_quietly(world):
    """Over the limit in public, one refusal per window, not one per message (no reply flood)."""
    world.bot.settings = world.bot.settings.with_(rate_limit_count=1, rate_limit_seconds=30)
    world.bot.rate_limiter.count, world.bot.rate_limiter.seconds = 1, 30
    world.bot.rate_limiter.reset()
    me = world.bot.user
    channel = world.guild.create_text_channel("flood")

    await world.alice.send(channel, f"<@{me.id}> {BANKS}")
    assert channel.last_message.author.id == me.id and channel.last_message.embeds  # answered
    await world.alice.send(channel, f"<@{me.id}> {BANKS}")
    refusal = channel.last_message
    assert refusal.author.id == me.id and "Try again in" in refusal.content
    for _ in range(5):
        sent = await world.alice.send(channel, f"<@{me.id}> {BANKS}")
        assert channel.last_message.id == sent.id  # no further public replies
    bot_replies = [m for m in channel.history() if m.author.id == me.id]
    assert len(bot_replies) == 2

    await world.env.advance_time(31)
    await world.alice.send(channel, f"<@{me.id}> {BANKS}")
    assert channel.last_message.author.id == me.id and channel.last_message.embeds  # a new window: answered
    world.bot.rate_limiter.reset()
