"""/sources: each configured source's state (kind, documents, last good sync, next sync, last error), then
the indexed documents with their sets and links, paged with buttons. A server sees its own saved answers
among them, never another server's; the footer says which sets the channel answers from."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import QabotError

from .. import render
from ..guilds import scope_words, visible_rows, where
from ..replies import send_private, unavailable_message
from ..views import sources_message
from .admin import age

if TYPE_CHECKING:
    from ..app import QABot

STATUS_ERROR_CHARS = 300  # of a source's last error, on its line
STALE_COLOUR = discord.Colour(0xE65100)


def status_line(row: dict) -> str:
    """One source, in a line or two: `**handbook** · git · 42 documents · synced 3 min ago · next …`."""
    docs = row.get("documents")
    parts = [
        f"**{render.escape(render.trim(str(row['name']), 80))}**",
        row["kind"],
        "? documents" if docs is None else f"{docs} documents",
    ]
    if row["kind"] != "folder":
        parts.append(f"synced {age(row['last_ok'])} ago" if row.get("last_ok") else "never synced")
        next_sync = row.get("next_sync") or ""
        parts.append("next " + (render.format_built_at(next_sync) if next_sync[:1].isdigit() else next_sync))
    else:
        parts.append(row.get("next_sync") or "")
    line = " · ".join(p for p in parts if p)
    if row.get("last_error"):
        error = render.trim(one_line(row["last_error"]), STATUS_ERROR_CHARS)
        line += "\n  ⚠ stale, last error: " + render.escape(error)
    return line


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def status_embed(rows: list[dict]) -> discord.Embed | None:
    """The sources' state, or None when only the plain `sources` folders are configured (as before)."""
    if all(r["kind"] == "folder" and "watched" not in (r.get("next_sync") or "") for r in rows):
        return None
    lines, used = [], 0
    for row in rows:
        line = status_line(row)
        if used + len(line) + 1 > render.DESCRIPTION_LIMIT - 40:
            lines.append(f"… and {len(rows) - len(lines)} more (see `qabot sources`)")
            break
        lines.append(line)
        used += len(line) + 1
    colour = STALE_COLOUR if any(r.get("last_error") for r in rows) else render.INFO_COLOUR
    return discord.Embed(title=f"Sources ({len(rows)})", description="\n".join(lines), colour=colour)


class Sources(commands.Cog):
    """List what the bot can quote from."""

    def __init__(self, bot: QABot):
        self.bot = bot

    @app_commands.command(name="sources")
    @app_commands.describe(filter="Only documents whose title or path contains this text")
    async def sources(self, interaction: discord.Interaction, filter: str = "") -> None:
        """List the sources and the documents the bot answers from, with their sets and links."""
        filter = " ".join(filter.split())[:60]
        guild = await self.bot.guild_settings(interaction.guild_id)
        try:
            rows = await asyncio.to_thread(self.bot.engine.sources, filter, guild_id=interaction.guild_id)
        except QabotError as exc:
            await send_private(interaction, unavailable_message(exc))
            return
        scope = scope_words(guild.sets_for(*where(interaction.channel)))
        embed, view = sources_message(visible_rows(rows, interaction.guild_id), 0, filter, scope)
        embeds = [embed]
        status = await asyncio.to_thread(self.bot.engine.source_status)
        extra = status_embed(status)
        if extra is not None:
            embeds.append(extra)
        kwargs = {"embeds": embeds, "ephemeral": True, "allowed_mentions": render.NO_MENTIONS}
        if view is not None:
            kwargs["view"] = view
        await interaction.response.send_message(**kwargs)


async def setup(bot: QABot) -> None:
    await bot.add_cog(Sources(bot))
