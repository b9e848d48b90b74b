"""/ask, the "Ask the docs" context menu, and answering mentions and the Q&A channels."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import IndexUnavailableError, QabotError

from .. import render
from ..replies import send_private, unavailable_message
from ..views import answer_view

if TYPE_CHECKING:
    from ..app import QABot

log = logging.getLogger(__name__)


def answer_payload(answer, answer_id) -> dict:
    """Keyword arguments for a send: the card, its buttons and no mentions."""
    card = render.answer_card(answer)
    payload = {"embeds": card.embeds, "allowed_mentions": render.NO_MENTIONS}
    view = answer_view(answer, answer_id, card.links)
    if view is not None:
        payload["view"] = view
    return payload


class Ask(commands.Cog):
    """Answer questions from the documents."""

    def __init__(self, bot: QABot):
        self.bot = bot
        self.ask_menu = app_commands.ContextMenu(name="Ask the docs", callback=self.ask_message)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.ask_menu, override=True)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.ask_menu.name, type=self.ask_menu.type)

    @app_commands.command(name="ask")
    @app_commands.describe(
        question="What you want to know, in your own words",
        private="Show the answer only to you (default: the server's setting)",
    )
    async def ask(self, interaction: discord.Interaction, question: str, private: bool | None = None) -> None:
        """Ask the team's documents; the answer quotes them word for word, with links."""
        private = self.bot.settings.private_by_default if private is None else private
        await self.respond(interaction, question, private=private, channel="slash")

    async def ask_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Answer a message's text as a question, privately."""
        await self.respond(interaction, message.content, private=True, channel="context")

    async def respond(self, interaction: discord.Interaction, question: str, *, private: bool, channel: str) -> None:
        """Validate, defer with thinking, answer off the loop, follow up with the card."""
        problem = self.bot.validate(question) or self.bot.rate_limited(interaction.user.id)
        if problem:
            await send_private(interaction, problem)
            return
        try:
            await interaction.response.defer(thinking=True, ephemeral=private)
        except discord.HTTPException:
            # Discord lost the interaction (or is failing): nothing can be shown to the user now.
            log.warning("could not acknowledge the question (interaction %s)", interaction.id, exc_info=True)
            self.bot.metrics.failed("acknowledge")
            return
        try:
            answer, answer_id = await self.bot.answer(question, channel=channel)
        except IndexUnavailableError as exc:
            log.warning("question while the index is unavailable: %s", exc)
            await self._followup(interaction, content=unavailable_message(exc))
            return
        except QabotError as exc:
            await self._followup(interaction, content=str(exc))
            return
        await self._followup(interaction, **answer_payload(answer, answer_id))

    async def _followup(self, interaction: discord.Interaction, **kwargs) -> None:
        kwargs.setdefault("allowed_mentions", render.NO_MENTIONS)
        try:
            await interaction.followup.send(**kwargs)
        except discord.HTTPException:
            log.exception("could not send the answer for interaction %s", interaction.id)
            self.bot.metrics.failed("send")
            # Best effort: replace "thinking…" with a short note rather than leave the user waiting.
            try:
                await interaction.edit_original_response(
                    content="Sorry, I couldn't post the answer; please ask again.", allowed_mentions=render.NO_MENTIONS
                )
            except discord.HTTPException:
                log.warning("could not tell the user either (interaction %s)", interaction.id)

    # ------------------------------------------------------------------ Q&A channel

    def _addressed(self, message: discord.Message) -> bool:
        me = self.bot.user
        if me is not None and any(u.id == me.id for u in message.mentions):
            return True
        ids = self.bot.settings.qa_channel_ids
        channel = message.channel
        return channel.id in ids or getattr(channel, "parent_id", None) in ids

    def _question_text(self, message: discord.Message) -> str:
        me = self.bot.user
        text = message.content
        if me is not None:
            text = re.sub(rf"<@!?{me.id}>", " ", text)
        return " ".join(text.split())

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None or message.guild is None:
            return
        if not self._addressed(message):
            return
        question = self._question_text(message)
        problem = self.bot.validate(question)
        if problem is None and (problem := self.bot.rate_limited(message.author.id)):
            # In public, over the limit: say so once per window, then stay quiet (no reply flood).
            if not self.bot.rate_limiter.told_once(message.author.id):
                log.info("rate-limited message %s not answered (user already told)", message.id)
                return
        if problem:
            await self._reply(message, None, content=problem)
            return
        try:
            answer, answer_id = await self.bot.answer(question, channel="mention")
        except IndexUnavailableError as exc:
            await self._reply(message, None, content=unavailable_message(exc))
            return
        except QabotError as exc:
            await self._reply(message, None, content=str(exc))
            return
        await self._reply(message, question, **answer_payload(answer, answer_id))

    async def _reply(self, message: discord.Message, question: str | None, **kwargs) -> None:
        """Reply to the message, or answer in a thread when configured (and the answer is a card)."""
        kwargs["allowed_mentions"] = render.NO_MENTIONS
        try:
            if question and self.bot.settings.answer_in_thread and not isinstance(message.channel, discord.Thread):
                try:
                    thread = await message.create_thread(name=render.trim(question, 100), auto_archive_duration=1440)
                except discord.HTTPException:
                    log.warning("could not open a thread; replying in the channel instead", exc_info=True)
                else:
                    await thread.send(**kwargs)
                    return
            await message.reply(mention_author=False, **kwargs)
        except discord.HTTPException:
            log.exception("could not reply to message %s", message.id)
            self.bot.metrics.failed("send")


async def setup(bot: QABot) -> None:
    await bot.add_cog(Ask(bot))
