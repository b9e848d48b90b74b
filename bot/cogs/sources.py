"""/sources: the indexed documents with links, paged with buttons."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import QabotError

from .. import render
from ..replies import send_private, unavailable_message
from ..views import sources_message

if TYPE_CHECKING:
    from ..app import QABot


class Sources(commands.Cog):
    """List what the bot can quote from."""

    def __init__(self, bot: QABot):
        self.bot = bot

    @app_commands.command(name="sources")
    @app_commands.describe(filter="Only documents whose title or path contains this text")
    async def sources(self, interaction: discord.Interaction, filter: str = "") -> None:
        """List the documents the bot answers from, with links."""
        filter = " ".join(filter.split())[:60]
        try:
            rows = await asyncio.to_thread(self.bot.engine.sources, filter)
        except QabotError as exc:
            await send_private(interaction, unavailable_message(exc))
            return
        embed, view = sources_message(rows, 0, filter)
        kwargs = {"embed": embed, "ephemeral": True, "allowed_mentions": render.NO_MENTIONS}
        if view is not None:
            kwargs["view"] = view
        await interaction.response.send_message(**kwargs)


async def setup(bot: QABot) -> None:
    await bot.add_cog(Sources(bot))
