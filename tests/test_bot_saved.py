"""The "Save as answer" and "Remove saved answer" menus in SimCord on the real engine and model: who may,
what the server's next asks quote (marked, linked to the message, inert), that no other server ever
sees it, and that removing undoes it."""

from __future__ import annotations

import discord
import pytest

from bot.cogs.saved import REMOVE_MENU, SAVE_MENU
from bot.render import SAVED_BUTTON, SAVED_LABEL
from index.engine import Engine

from botkit import (
    answer_id_of,
    card_text,
    community_copy,
    community_settings,
    deferred_with_thinking,
    fresh_community_settings,
    refusals,
    second_guild,
)
from discord_markdown import forgeries

# Each save or removal rebuilds the (small) index incrementally with the real model.
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.simcord(settle_timeout=300)]

QUESTION = "How often are travel expenses paid back?"
REPLY = (
    "Travel expenses are paid back every Friday by the **Travel Office** once the receipt is in the expense tool "
    "(ping @everyone in #finance, or see [the form](http://evil.example/phish) when <@123> is away)."
)
SAVED_MARK = "paid back every Friday by the \\*\\*Travel Office\\*\\*"  # as the card shows it: escaped
REFUSAL = "Sorry, only moderators (Manage Messages), administrators can save or remove saved answers."
REFUSAL_WITH_ROLE = (
    "Sorry, only moderators (Manage Messages), administrators and members with the manager role "
    "can save or remove saved answers."
)


@pytest.fixture(scope="module")
def bot_root(tmp_path_factory):
    return community_copy(tmp_path_factory, "community-saved")


@pytest.fixture(scope="module")
def bot_engine(bot_root):
    return Engine(community_settings(bot_root).engine_settings)


@pytest.fixture
def bot_settings(bot_root):
    return fresh_community_settings(bot_root)


def link_buttons(message) -> list[tuple[str, str]]:
    return [(c["label"], c["url"]) for row in message.components for c in row.get("components", []) if c.get("url")]


async def a_good_reply(world):
    """bob asks, alice answers him in a reply: the message a moderator saves."""
    question = await world.bob.send(world.channel, QUESTION)
    return await world.alice.send(world.channel, REPLY, reply_to=question)


async def save(world, who, message, menu=SAVE_MENU) -> str:
    result = await who.context_menu(world.channel, menu, message)
    assert result.ephemeral
    return result.response.content


async def test_a_saved_reply_is_quoted_marked_and_linked_in_its_own_server_only(world):
    other = second_guild(world.env)
    reply = await a_good_reply(world)
    before = await world.alice.slash(world.channel, "ask", question=QUESTION)
    assert SAVED_MARK not in card_text(before)

    result = await world.mod.context_menu(world.channel, SAVE_MENU, reply)
    assert result.ephemeral and deferred_with_thinking(world.env, result)
    assert result.response.content.startswith("Saved as an answer for this server: “Travel expenses are paid back")
    assert "by alice" in result.response.content

    asked = await world.bob.slash(world.channel, "ask", question=QUESTION)
    text = card_text(asked)
    assert "documents do not answer" not in text and SAVED_MARK in text
    body, source = text.split("\n— ", 1)
    assert source.startswith(SAVED_LABEL) and reply.jump_url in source
    assert (SAVED_BUTTON, reply.jump_url) in link_buttons(asked.response)
    # Its markdown and mentions stay text: nothing in the quote is a link, a mark or a mention.
    assert forgeries(body) == [] and "@\u200beveryone" in body and "\\<\u200b@123\\>" in body
    assert asked.response.message.mentions == [] and not asked.response.message.mention_everyone
    record = world.bot.engine.activity.get_answer(answer_id_of(asked.response))
    assert record["quotes"][0]["saved"] is True

    # Another server never sees it: not in its answers, not in its /sources, not in its /stats.
    there = await other.carol.slash(other.channel, "ask", question=QUESTION)
    assert SAVED_MARK not in card_text(there) and SAVED_LABEL not in card_text(there)
    listed = (await other.carol.slash(other.channel, "sources")).response.embeds[0].description
    assert "saved answer" not in listed and len(listed.split("\n")) == 4
    stats = {f.name: f.value for f in (await other.admin.slash(other.channel, "stats")).response.embeds[0].fields}
    assert "saved answers" not in stats["Document sets"]
    mine = {f.name: f.value for f in (await world.alice.slash(world.channel, "stats")).response.embeds[0].fields}
    assert "**saved answers (this server)**: 1 documents" in mine["Document sets"]
    own = (await world.alice.slash(world.channel, "sources")).response.embeds[0].description
    assert sum(line.endswith(" · saved answer") for line in own.split("\n")) == 1

    # Removing it undoes it; removing it again says there is nothing to remove.
    removed = await save(world, world.mod, reply, REMOVE_MENU)
    assert removed == "Removed: I won't quote that message as an answer any more."
    after = await world.bob.slash(world.channel, "ask", question=QUESTION)
    assert SAVED_MARK not in card_text(after)
    again = await save(world, world.mod, reply, REMOVE_MENU)
    assert again == "That message isn't one of this server's saved answers; nothing changed."


async def test_only_moderators_admins_and_the_manager_role_may_save_or_remove(world, bot_engine):
    reply = await a_good_reply(world)
    build = bot_engine.info()["build_id"]

    for who in (world.alice, world.bob, world.librarian, world.keeper):
        for menu in (SAVE_MENU, REMOVE_MENU):
            assert await save(world, who, reply, menu) == REFUSAL, (who, menu)
    assert refusals(world.env) == [REFUSAL] * 8
    assert bot_engine.info()["build_id"] == build  # refused before anything was stored or rebuilt

    await world.admin.slash(world.channel, "config manager-role", role=world.keepers)
    assert (await save(world, world.keeper, reply)).startswith("Saved as an answer")
    assert (await save(world, world.admin, reply, REMOVE_MENU)).startswith("Removed")
    assert await save(world, world.alice, reply) == REFUSAL_WITH_ROLE
    assert refusals(world.env) == [REFUSAL] * 8 + [REFUSAL_WITH_ROLE]


async def test_messages_without_a_persons_text_are_not_saved(world, bot_engine):
    menus = [world.bot.tree.get_command(name, type=discord.AppCommandType.message) for name in (SAVE_MENU, REMOVE_MENU)]
    assert all(menu.guild_only for menu in menus)  # a saved answer belongs to a server
    build = bot_engine.info()["build_id"]
    await world.alice.send(world.channel, f"<@{world.bot.user.id}> Who leads the Refund Desk?")
    card = world.channel.last_message
    short = await world.alice.send(world.channel, "Friday.")

    assert await save(world, world.mod, card) == "Only a person's message with text can be saved as an answer."
    assert "too short" in await save(world, world.mod, short)
    assert bot_engine.info()["build_id"] == build
