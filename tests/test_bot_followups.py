"""Follow-ups in SimCord on the real engine and model: a question asked in a thread the bot answered in, or
in a reply to one of its answers, is asked with the earlier question (`previous=`); the engine decides
whether it uses it, and the card says so, escaped like every quote."""

from __future__ import annotations

import pytest

from bot import create_bot
from bot.render import FOLLOW_UP_LABEL
from index.engine import Engine

from botkit import card_text, community_copy, community_settings, deferred_with_thinking, fresh_community_settings
from discord_markdown import forgeries

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.simcord(settle_timeout=300)]

REFUND_LEAD = "Who leads the Refund Desk?"
COUNCIL_LEAD = "Who leads the Release Council?"
HOW_FAST = "How quickly does it approve requests?"  # names nothing: alone it could be either set's
REFUND_SPEED, COUNCIL_SPEED = "five working days", "two hours"


@pytest.fixture(scope="module")
def bot_root(tmp_path_factory):
    return community_copy(tmp_path_factory, "community-followups")


@pytest.fixture(scope="module")
def bot_engine(bot_root):
    return Engine(community_settings(bot_root).engine_settings)


@pytest.fixture
def bot_settings(bot_root):
    return fresh_community_settings(bot_root)


def following_up_on(text: str) -> str | None:
    """The earlier question a card says it followed up on (its first line), or None."""
    first = text.split("\n", 1)[0]
    return first.removeprefix(FOLLOW_UP_LABEL) if first.startswith(FOLLOW_UP_LABEL) else None


async def thread_for(world, question: str):
    """A Q&A channel answering in threads, and the thread the bot opened for `question`."""
    qa = world.guild.create_text_channel("ask-here")
    world.bot.settings = world.bot.settings.with_(qa_channel_ids=(qa.id,), answer_in_thread=True)
    await world.alice.send(qa, question)
    assert len(qa.threads) == 1
    return qa.threads[0]


async def test_a_question_in_the_answers_thread_follows_up_on_it(world):
    thread = await thread_for(world, REFUND_LEAD)
    assert "Marta Ruiz" in card_text(thread.last_message)

    await world.bob.send(thread, HOW_FAST)  # no mention needed in the bot's own thread
    card = thread.last_message
    assert card.author.id == world.bot.user.id and card.embeds[0].title == HOW_FAST
    assert following_up_on(card_text(card)) == REFUND_LEAD
    assert REFUND_SPEED in card_text(card) and COUNCIL_SPEED not in card_text(card)

    # /ask in the thread is a follow-up too, and a third turn keeps the thread's subject.
    result = await world.alice.slash(thread, "ask", question="Which office does it work from?")
    assert deferred_with_thinking(world.env, result)
    assert following_up_on(card_text(result)) == REFUND_LEAD
    assert "Lisbon" in card_text(result)

    # The same words outside any thread are a question of their own.
    alone = await world.alice.slash(world.channel, "ask", question=HOW_FAST)
    assert following_up_on(card_text(alone)) is None


async def test_a_reply_to_an_answer_follows_up_on_it(world):
    me = world.bot.user
    await world.alice.send(world.channel, f"<@{me.id}> {COUNCIL_LEAD}")
    answer = world.channel.last_message
    assert answer.author.id == me.id and "Kenji Sato" in card_text(answer)

    reply = await world.bob.send(world.channel, HOW_FAST, reply_to=answer)
    card = world.channel.last_message
    assert card.author.id == me.id and card.reference.message_id == reply.id
    assert following_up_on(card_text(card)) == COUNCIL_LEAD
    assert COUNCIL_SPEED in card_text(card) and REFUND_SPEED not in card_text(card)

    # "Ask the docs" on that reply understands it the same way, privately.
    menu = await world.alice.context_menu(world.channel, "Ask the docs", reply)
    assert menu.ephemeral and following_up_on(card_text(menu)) == COUNCIL_LEAD

    # A reply to someone else's message is not a follow-up (and, without a mention, not a question).
    chat = await world.alice.send(world.channel, "I think the council meets on Mondays.")
    sent = await world.bob.send(world.channel, "How quickly does it decide?", reply_to=chat)
    assert world.channel.last_message.id == sent.id


async def test_a_question_with_its_own_subject_stands_alone_in_a_thread(world):
    thread = await thread_for(world, REFUND_LEAD)

    await world.bob.send(thread, COUNCIL_LEAD)

    card = thread.last_message
    assert following_up_on(card_text(card)) is None  # the engine did not use the earlier question: no claim
    assert "Kenji Sato" in card_text(card)


async def test_follow_ups_survive_a_restart(world, bot_settings, bot_engine):
    """The earlier question comes from the activity log when the bot no longer holds it in memory."""
    thread = await thread_for(world, REFUND_LEAD)
    await world.bob.send(thread, HOW_FAST)
    settings = world.bot.settings

    await world.env.restart_bot(create_bot(settings, bot_engine))
    assert not world.env.bot.answers
    await world.alice.send(thread, "Which office does it work from?")

    card = thread.last_message
    assert following_up_on(card_text(card)) == REFUND_LEAD  # the second turn's own earlier question, from the log
    assert "Lisbon" in card_text(card)


async def test_the_earlier_question_is_shown_inert(world):
    planted = "Who leads the **Refund Desk** at <@&123> [see](http://evil.example) @everyone?"
    thread = await thread_for(world, planted)

    await world.bob.send(thread, HOW_FAST)

    line = card_text(thread.last_message).split("\n", 1)[0]
    shown = line.removeprefix(FOLLOW_UP_LABEL)
    assert shown != line and forgeries(shown) == []
    assert "\\*\\*Refund Desk\\*\\*" in shown and "@\u200beveryone" in shown
    assert thread.last_message.mentions == [] and not thread.last_message.mention_everyone


async def test_a_follow_up_needs_no_words_of_its_own(world):
    """`Where is it?` has nothing to search for alone; in the answer's thread its earlier question completes it."""
    alone = await world.alice.slash(world.channel, "ask", question="Where is it?")
    assert alone.ephemeral and not deferred_with_thinking(world.env, alone)
    assert "no words to search for" in alone.response.content

    thread = await thread_for(world, REFUND_LEAD)
    await world.bob.send(thread, "Where is it?")

    card = thread.last_message
    assert following_up_on(card_text(card)) == REFUND_LEAD and "Lisbon" in card_text(card)
