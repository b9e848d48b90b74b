"""/reindex (administrators or the configured role) and /stats (this server's questions and feedback, the
index's document sets and the channel's)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import BuildLockedError, IndexUnavailableError, QabotError

from .. import render
from ..checks import may_reindex
from ..guilds import SAVED_PREFIX, saved_set, where
from ..replies import explain, send_private

if TYPE_CHECKING:
    from ..app import QABot

log = logging.getLogger(__name__)


def age(built_at: str) -> str:
    """`built_at` (ISO) as a rough age: "3 min", "5 h", "2 days"."""
    try:
        when = datetime.fromisoformat(built_at.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return "unknown"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = max((datetime.now(UTC) - when).total_seconds(), 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def sets_text(sets: dict, guild_id: int | None) -> str:
    """`all: 40 documents, 900 passages` a line per set; of the saved answers' sets, only this server's."""
    own = saved_set(guild_id) if guild_id is not None else None
    lines = []
    order = lambda item: (item[0].startswith(SAVED_PREFIX), item[0] != "all", item[0])  # all, the rest, saved
    for name, counts in sorted(sets.items(), key=order):
        if name.startswith(SAVED_PREFIX) and name != own:
            continue
        label = "saved answers (this server)" if name == own else render.escape(render.trim(name, 80))
        lines.append(f"**{label}**: {counts.get('documents', '?')} documents, {counts.get('chunks', '?')} passages")
    text = "\n".join(lines)
    return text if len(text) <= render.FIELD_VALUE_LIMIT else _cut(lines)


def _cut(lines: list[str]) -> str:
    """As many whole lines as fit in a field, and how many were left out."""
    kept: list[str] = []
    for line in lines:
        if sum(len(k) + 1 for k in kept) + len(line) > render.FIELD_VALUE_LIMIT - 30:
            break
        kept.append(line)
    return "\n".join(kept + [f"… and {len(lines) - len(kept)} more"])


class Admin(commands.Cog):
    """Keep the index fresh and see how it is used."""

    def __init__(self, bot: QABot):
        self.bot = bot

    @app_commands.command(name="reindex")
    @app_commands.guild_only()
    @may_reindex
    async def reindex(self, interaction: discord.Interaction) -> None:
        """Re-read the documents and switch to the new index (administrators only)."""
        if self.bot.reindex_lock.locked():
            await send_private(interaction, "A reindex is already running; try again when it finishes.")
            return
        await interaction.response.defer(thinking=True, ephemeral=True)
        async with self.bot.reindex_lock:
            try:
                summary = await self.bot.engine.arebuild()
            except BuildLockedError as exc:
                self.bot.metrics.build_failed("reindex", "locked")
                await send_private(interaction, f"{exc}: another build is running; try again shortly.")
                return
            except QabotError as exc:
                log.warning("reindex failed: %s", exc)
                self.bot.metrics.build_failed("reindex")
                await send_private(
                    interaction, f"The reindex failed: {explain(exc)}. The previous index stays in service."
                )
                return
        self.bot.answers.clear()
        self.bot.metrics.built(summary, "reindex")
        log.info("reindexed by %s: %s", interaction.user.id, summary.line())
        lines = [
            f"Reindexed: **{summary.added} added, {summary.changed} changed, {summary.removed} removed** "
            f"({summary.unchanged} unchanged, {summary.skipped} skipped) in {summary.seconds:.1f} s.",
            f"{summary.chunks} passages; now answering from build `{summary.build_id}`."
            if summary.switched
            else "Nothing changed; the current index stays in service.",
        ]
        for warning in summary.warnings[:5]:
            lines.append(f"⚠ {render.escape(render.trim(str(warning), 300))}")
        await send_private(interaction, render.trim("\n".join(lines), render.CONTENT_LIMIT))

    @app_commands.command(name="stats")
    @app_commands.guild_only()
    async def stats(self, interaction: discord.Interaction) -> None:
        """Index size and age, document sets, this server's questions answered and abstained, and feedback."""
        await interaction.response.defer(thinking=True, ephemeral=True)
        engine = self.bot.engine
        guild = await self.bot.guild_settings(interaction.guild_id)
        embed = discord.Embed(title="Ask the docs: statistics", colour=render.INFO_COLOUR)
        try:
            info = await asyncio.to_thread(engine.info)
        except IndexUnavailableError as exc:
            embed.add_field(name="Index", value=f"Unavailable: {render.escape(str(exc))}", inline=False)
        else:
            embed.add_field(name="Documents", value=str(info.get("documents", "?")))
            embed.add_field(name="Passages", value=str(info.get("chunks", "?")))
            embed.add_field(
                name="Index age",
                value=f"{age(info.get('built_at', ''))} (built {render.format_built_at(info.get('built_at', ''))})",
            )
            sets = sets_text(info.get("sets") or {}, interaction.guild_id)
            if sets:
                embed.add_field(name="Document sets", value=sets, inline=False)
        scoped = guild.sets_for(*where(interaction.channel))
        if scoped:
            scope = "Answers from: " + render.escape(", ".join(scoped))
            embed.add_field(name="This channel", value=render.trim(scope, render.FIELD_VALUE_LIMIT), inline=False)
        refreshes = list(getattr(engine, "refreshes", ()))
        if refreshes:  # the scheduler's (or a /reindex's) latest sync of the sources
            last = refreshes[-1]
            text = f"{age(last.at)} ago: {last.line()}"
            embed.add_field(
                name="Last refresh", value=render.trim(render.escape(text), render.FIELD_VALUE_LIMIT), inline=False
            )
            failed = sorted({r.name for r in last.syncs if not r.ok})
            if failed:
                embed.add_field(name="Stale sources", value=render.trim(render.escape(", ".join(failed)), 1024))
        try:
            st = await asyncio.to_thread(engine.activity.stats, interaction.guild_id)
        except Exception:
            log.exception("could not read the activity statistics")
            st = None
        if st is not None:
            embed.add_field(name="Questions", value=str(st.get("questions", 0)))
            embed.add_field(name="Answered", value=str(st.get("answered", 0)))
            embed.add_field(name="Not answered", value=str(st.get("abstained", 0)))
            embed.add_field(name="Feedback", value=f"👍 {st.get('upvotes', 0)} · 👎 {st.get('downvotes', 0)}")
        await send_private(interaction, embed=embed)


async def setup(bot: QABot) -> None:
    await bot.add_cog(Admin(bot))
