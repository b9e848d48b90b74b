"""The "Save as answer" and "Remove saved answer" message menus (moderators, administrators or the server's
manager role).

Saving stores a teammate's message (its text verbatim, author, time, jump link, and the message it
replied to, which helps it match the question) as a document in the server's own saved set; the engine
indexes it at once (`Engine.asave_answer`, off the event loop). From then on the server's asks may
quote it, marked as a saved answer and linked to the message (bot/render.py); another server never
sees it. Removing undoes it. Both reply privately, in a line.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import BuildLockedError, QabotError
from index.saved import SavedAnswer

from .. import render
from ..checks import may_save
from ..replies import explain, send_private

if TYPE_CHECKING:
    from ..app import QABot

log = logging.getLogger(__name__)

MIN_SAVED_CHARS = 10  # a saved answer shorter than this could hardly answer anything
PREVIEW_CHARS = 120  # of the saved text, echoed in the confirmation
SAVE_MENU = "Save as answer"
REMOVE_MENU = "Remove saved answer"


def preview(text: str) -> str:
    return render.escaped_trimmed(render.one_line(text), PREVIEW_CHARS)


class Saved(commands.Cog):
    """Turn a teammate's good reply into an answer the bot can quote in this server."""

    def __init__(self, bot: QABot):
        self.bot = bot
        self.menus = [
            app_commands.ContextMenu(name=SAVE_MENU, callback=self.save),
            app_commands.ContextMenu(name=REMOVE_MENU, callback=self.remove),
        ]

    async def cog_load(self) -> None:
        for menu in self.menus:
            self.bot.tree.add_command(menu, override=True)

    async def cog_unload(self) -> None:
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)

    @app_commands.guild_only()
    @may_save
    async def save(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Save the message as an answer the bot may quote in this server."""
        text = message.content.strip()
        if message.author.bot or not text:
            await send_private(interaction, "Only a person's message with text can be saved as an answer.")
            return
        if len(text) < MIN_SAVED_CHARS:
            await send_private(interaction, "That message is too short to answer anything; save a fuller reply.")
            return
        await interaction.response.defer(thinking=True, ephemeral=True)
        saved = SavedAnswer(
            guild_id=interaction.guild_id or 0,
            channel_id=message.channel.id,
            message_id=message.id,
            author=message.author.display_name,
            created_at=message.created_at.isoformat(),
            text=message.content,
            url=message.jump_url,
            question=await self._replied_text(message),
        )
        try:
            summary = await self.bot.engine.asave_answer(saved)
        except BuildLockedError:
            self.bot.metrics.build_failed("save", "locked")
            await send_private(interaction, "The index is being rebuilt right now; try again in a minute.")
            return
        except QabotError as exc:
            self.bot.metrics.build_failed("save")
            log.warning("could not save message %s as an answer: %s", message.id, exc)
            await send_private(interaction, f"I couldn't save that answer: {explain(exc)}.")
            return
        self.bot.metrics.built(summary, "save")
        log.info("server %s: message %s saved as an answer by %s", saved.guild_id, message.id, interaction.user.id)
        await send_private(
            interaction,
            f"Saved as an answer for this server: “{preview(text)}” by {render.escape(saved.author)}. "
            f"I'll quote it, with a link to the message, when it answers a question here. "
            f"Undo with **Apps → {REMOVE_MENU}** on the message.",
        )

    @app_commands.guild_only()
    @may_save
    async def remove(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Stop quoting a saved answer."""
        await interaction.response.defer(thinking=True, ephemeral=True)
        try:
            removed = await self.bot.engine.aremove_saved(interaction.guild_id or 0, message.id)
        except BuildLockedError:
            await send_private(interaction, "The index is being rebuilt right now; try again in a minute.")
            return
        except QabotError as exc:
            log.warning("could not remove saved answer %s: %s", message.id, exc)
            await send_private(interaction, f"I couldn't remove that saved answer: {explain(exc)}.")
            return
        if not removed:
            await send_private(interaction, "That message isn't one of this server's saved answers; nothing changed.")
            return
        self.bot.answers.clear()  # cached answers may quote it; rebuilt ones come from the log as shown then
        log.info("server %s: saved answer %s removed by %s", interaction.guild_id, message.id, interaction.user.id)
        await send_private(interaction, "Removed: I won't quote that message as an answer any more.")

    async def _replied_text(self, message: discord.Message) -> str:
        """The text of the message `message` replies to (its question, usually), or ""."""
        ref = message.reference
        if ref is None or ref.message_id is None:
            return ""
        target = ref.resolved
        if not isinstance(target, discord.Message):
            try:
                target = await message.channel.fetch_message(ref.message_id)
            except discord.HTTPException:
                return ""
        return target.content or ""


async def setup(bot: QABot) -> None:
    await bot.add_cog(Saved(bot))
