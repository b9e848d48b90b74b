"""/ask, the "Ask the docs" context menu, and answering mentions and the Q&A channels.

Every ask is scoped by the server's settings (bot/guilds.py): the channel's document sets (a thread's
are its parent channel's), the server's saved answers (`guild_id`), its rate limit and its posting
choices. A question asked in a thread the bot answered in, or in a reply to one of its answers, is
asked as a follow-up of the question answered last there (`previous=`); the engine decides whether it
uses it, and the card says so. In the Q&A channels, in threads the bot opened and in replies to its
answers every message is a question, unless the server answers mentions only.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import IndexUnavailableError, QabotError

from .. import render
from ..guilds import GuildSettings, where
from ..replies import send_private, unavailable_message
from ..views import answer_view

if TYPE_CHECKING:
    from ..app import QABot

log = logging.getLogger(__name__)

HISTORY_LIMIT = 50  # messages of a thread read back to find the bot's last answer there
_ANSWER_ID = re.compile(r"qa:fb:up:(\d+)")


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
        guild = await self.bot.guild_settings(interaction.guild_id)
        private = guild.private_by_default if private is None else private
        await self.respond(interaction, question, guild, private=private, channel="slash")

    async def ask_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Answer a message's text as a question, privately."""
        guild = await self.bot.guild_settings(interaction.guild_id)
        await self.respond(interaction, message.content, guild, private=True, channel="context", message=message)

    async def respond(
        self,
        interaction: discord.Interaction,
        question: str,
        guild: GuildSettings,
        *,
        private: bool,
        channel: str,
        message: discord.Message | None = None,
    ) -> None:
        """Validate, defer with thinking, answer off the loop, follow up with the card. In a thread the bot
        answered in (or on a reply to its answer, from the context menu) the question is a follow-up."""
        maybe_follow_up = isinstance(interaction.channel, discord.Thread) or bool(message and message.reference)
        problem = self.bot.validate(question, maybe_follow_up) or self.bot.rate_limited(interaction.user.id, guild)
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
        previous = await self.earlier_question(interaction.channel, message, await self._replied_to(message))
        try:
            answer, answer_id = await self.bot.answer(
                question,
                channel=channel,
                sets=guild.sets_for(*where(interaction.channel)),
                guild_id=interaction.guild_id,
                previous=previous,
            )
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

    # ------------------------------------------------------------------ follow-ups

    async def earlier_question(
        self, channel, message: discord.Message | None, replied_to: discord.Message | None
    ) -> str | None:
        """The question a new one follows up on: that of the bot's answer `message` replies to (`replied_to`),
        else that of the bot's last answer in the thread (before `message`); None outside both."""
        if replied_to is not None:
            earlier = await self._question_of(replied_to)
            if earlier:
                return earlier
        if not isinstance(channel, discord.Thread):
            return None
        try:
            async for earlier_message in channel.history(limit=HISTORY_LIMIT, before=message):
                earlier = await self._question_of(earlier_message)
                if earlier:
                    return earlier
        except discord.HTTPException:
            log.warning("could not read thread %s back for a follow-up", channel.id, exc_info=True)
        return None

    async def _replied_to(self, message: discord.Message | None) -> discord.Message | None:
        """The message `message` replies to, when it is one of the bot's; else None."""
        ref = message.reference if message is not None else None
        if ref is None or ref.message_id is None:
            return None
        target = ref.resolved
        if not isinstance(target, discord.Message):
            channel = self.bot.get_channel(ref.channel_id) if ref.channel_id else message.channel
            try:
                target = await channel.fetch_message(ref.message_id)  # type: ignore[union-attr]
            except (discord.HTTPException, AttributeError):
                return None
        me = self.bot.user
        return target if me is not None and target.author.id == me.id else None

    async def _question_of(self, message: discord.Message) -> str | None:
        """The question behind one of the bot's answer cards (from its 👍 button's answer id); when that one
        was itself a follow-up, the question it followed up on, so a third turn keeps the thread's subject."""
        me = self.bot.user
        if me is None or message.author.id != me.id:
            return None
        ids = [m for row in message.components for c in getattr(row, "children", ()) if (m := _answer_id(c))]
        if not ids:
            return None
        try:
            answer = await self.bot.answer_for(ids[0])
        except QabotError:
            log.warning("could not read answer %s back for a follow-up", ids[0], exc_info=True)
            return None
        if answer is None:
            return None
        return answer.follow_up or answer.question

    # ------------------------------------------------------------------ Q&A channel

    def _addressed(self, message: discord.Message, guild: GuildSettings, replies_to_me: bool) -> bool:
        """A mention, always; otherwise, unless the server answers mentions only: a reply to one of the bot's
        messages, or any message in a Q&A channel (or a thread in one) or in a thread the bot opened."""
        me = self.bot.user
        if me is not None and any(u.id == me.id for u in message.mentions):
            return True
        if guild.mention_only:
            return False
        channel = message.channel
        bots_thread = isinstance(channel, discord.Thread) and me is not None and channel.owner_id == me.id
        return replies_to_me or bots_thread or guild.is_qa_channel(*where(channel))

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
        guild = await self.bot.guild_settings(message.guild.id)
        replied_to = await self._replied_to(message)
        if not self._addressed(message, guild, replied_to is not None):
            return
        question = self._question_text(message)
        problem = self.bot.validate(question, replied_to is not None or isinstance(message.channel, discord.Thread))
        if problem is None and (problem := self.bot.rate_limited(message.author.id, guild)):
            # In public, over the limit: say so once per window, then stay quiet (no reply flood).
            if not self.bot.rate_limiter.told_once((guild.guild_id, message.author.id)):
                log.info("rate-limited message %s not answered (user already told)", message.id)
                return
        if problem:
            await self._reply(message, guild, None, content=problem)
            return
        previous = await self.earlier_question(message.channel, message, replied_to)
        try:
            answer, answer_id = await self.bot.answer(
                question,
                channel="mention",
                sets=guild.sets_for(*where(message.channel)),
                guild_id=guild.guild_id,
                previous=previous,
            )
        except IndexUnavailableError as exc:
            await self._reply(message, guild, None, content=unavailable_message(exc))
            return
        except QabotError as exc:
            await self._reply(message, guild, None, content=str(exc))
            return
        await self._reply(message, guild, question, **answer_payload(answer, answer_id))

    async def _reply(self, message: discord.Message, guild: GuildSettings, question: str | None, **kwargs) -> None:
        """Reply to the message, or answer in a thread when the server says so (and the answer is a card)."""
        kwargs["allowed_mentions"] = render.NO_MENTIONS
        try:
            if question and guild.answer_in_thread and not isinstance(message.channel, discord.Thread):
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


def _answer_id(component) -> int | None:
    """The answer id in a 👍 button's custom id (`qa:fb:up:42`), else None."""
    match = _ANSWER_ID.fullmatch(getattr(component, "custom_id", None) or "")
    return int(match[1]) if match else None


async def setup(bot: QABot) -> None:
    await bot.add_cog(Ask(bot))
