"""/help: what the bot does and how to ask."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from .. import render
from ..checks import managers, reindexers, savers
from ..guilds import GuildSettings

if TYPE_CHECKING:
    from ..app import QABot


def help_embed(bot: QABot, s: GuildSettings) -> discord.Embed:
    """What the bot does and how to ask, as this server has set it up."""
    embed = discord.Embed(
        title="Ask the docs",
        description=(
            "I answer questions from the team's documents by **quoting them word for word**, "
            "with a link to each passage. When the documents don't answer a question I say so "
            "and show the closest passages instead of guessing."
        ),
        colour=render.INFO_COLOUR,
    )
    embed.add_field(
        name="Commands",
        value=(
            "`/ask question [private]` ask a question\n"
            "`/sources [filter]` list the documents I quote from\n"
            "`/stats` index size and age, questions answered, feedback\n"
            f"`/reindex` re-read the documents ({reindexers(s.reindex_role)})\n"
            f"`/config …` this server's settings ({managers(s.manager_role)})\n"
            "Right-click a message → **Apps → Ask the docs** to ask its text privately; "
            f"**Save as answer** / **Remove saved answer** ({savers(s.manager_role)}) "
            "make a teammate's reply one the bot quotes in this server."
        ),
        inline=False,
    )
    where = "Mention me with a question in any channel I can read"
    if s.qa_channel_ids and not s.mention_only:
        where += ", or just ask in " + ", ".join(f"<#{cid}>" for cid in s.qa_channel_ids)
    where += ". Ask again in my answer's thread, or reply to my answer, to follow up on it."
    embed.add_field(name="In channels", value=render.trim(where, render.FIELD_VALUE_LIMIT), inline=False)
    embed.add_field(
        name="Feedback",
        value="Rate answers with 👍 / 👎; questions the documents can't answer help us fill the gaps.",
        inline=False,
    )
    embed.set_footer(
        text=f"Up to {s.rate_limit_count} questions every {s.rate_limit_seconds:g} s per person; "
        f"questions up to {bot.settings.max_question_chars} characters."
    )
    return embed


class Help(commands.Cog):
    def __init__(self, bot: QABot):
        self.bot = bot

    @app_commands.command(name="help")
    async def help(self, interaction: discord.Interaction) -> None:
        """How to ask questions and what the bot can do."""
        guild = await self.bot.guild_settings(interaction.guild_id)
        await interaction.response.send_message(
            embed=help_embed(self.bot, guild), ephemeral=True, allowed_mentions=render.NO_MENTIONS
        )


async def setup(bot: QABot) -> None:
    await bot.add_cog(Help(bot))
