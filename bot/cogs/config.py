"""/config: a server's own settings, changed from Discord (administrators or the server's manager role).

Each subcommand changes one setting, stores it at once (bot/guilds.py) and replies privately with what it
is now and what it was; the next message or command already uses it, and a restart keeps it. `/config
show` lists them all, marking those the server changed; `/config reset` gives one back to the default
from qabot.toml. Every subcommand carries the `@may_configure` check (bot/checks.py), not
`default_permissions`, so the manager role can see and use them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import QabotError

from .. import render
from ..checks import may_configure
from ..guilds import ALL_SETS, SAVED_PREFIX, GuildSettings
from ..replies import explain, send_private, unavailable_message
from ..settings import ChannelSets, set_names

if TYPE_CHECKING:
    from ..app import QABot

log = logging.getLogger(__name__)

MAX_RATE_COUNT = 100
MAX_RATE_SECONDS = 3600.0
MAX_SETS_PER_CHANNEL = 10
SHOWN_CHANNELS = 25  # channels listed by /config show before "… and N more"

# What each setting is called in a reply, in the order /config show lists them.
LABELS = {
    "channel_sets": "Document sets per channel",
    "qa_channel_ids": "Q&A channels",
    "mention_only": "Replies",
    "answer_in_thread": "Answer in a thread",
    "private_by_default": "Private /ask answers",
    "reindex_role": "Reindex role",
    "manager_role": "Manager role",
    "rate_limit": "Rate limit",
}


def role_text(role: str) -> str:
    """A configured role (an id or a name) as a role reference or its escaped name."""
    role = role.strip()
    if not role:
        return "none"
    return f"<@&{role}>" if role.isdigit() else f"“{render.escape(render.trim(role, 100))}”"


def value_text(name: str, s: GuildSettings) -> str:
    """A setting's value, in words."""
    if name == "channel_sets":
        if not s.channel_sets:
            return "none: every channel answers from every document"
        lines = [f"<#{cid}> → {render.escape(', '.join(sets))}" for cid, sets in list(s.channel_sets.items())]
        more = len(lines) - SHOWN_CHANNELS
        return "\n".join(lines[:SHOWN_CHANNELS] + ([f"… and {more} more"] if more > 0 else []))
    if name == "qa_channel_ids":
        if not s.qa_channel_ids:
            return "none (mentions only)"
        return ", ".join(f"<#{cid}>" for cid in s.qa_channel_ids)
    if name == "mention_only":
        return "only messages that mention me" if s.mention_only else "every message in the Q&A channels"
    if name == "answer_in_thread":
        return "yes: mentions and Q&A-channel questions are answered in a new thread" if s.answer_in_thread else "no"
    if name == "private_by_default":
        return "yes (unless `private:False`)" if s.private_by_default else "no (unless `private:True`)"
    if name in ("reindex_role", "manager_role"):
        role = getattr(s, name)
        return role_text(role) + ("" if role.strip() else " (administrators only)")
    if name == "rate_limit":
        if s.rate_limit_count <= 0:
            return "none"
        return f"{s.rate_limit_count} questions every {s.rate_limit_seconds:g} s per person"
    raise KeyError(name)


def changed(name: str, s: GuildSettings) -> bool:
    names = ("rate_limit_count", "rate_limit_seconds") if name == "rate_limit" else (name,)
    return any(n in s.changed for n in names)


def settings_embed(s: GuildSettings) -> discord.Embed:
    """Every setting of the server, each marked as set here or the default."""
    embed = discord.Embed(
        title="This server's settings",
        description="Change one with `/config <setting>`; `/config reset` gives one back to the default.",
        colour=render.INFO_COLOUR,
    )
    for name, label in LABELS.items():
        origin = "set here" if changed(name, s) else "default"
        value = render.trim(value_text(name, s), render.FIELD_VALUE_LIMIT)
        embed.add_field(name=f"{label} ({origin})", value=value, inline=False)
    return embed


def change_reply(name: str, before: GuildSettings, after: GuildSettings) -> str:
    """`Rate limit: now 3 questions every 10 s per person (was 5 …).` and that it applies at once."""
    now, was = value_text(name, after), value_text(name, before)
    change = f"now {now}" if now != was else f"{now} (unchanged)"
    text = f"**{LABELS[name]}**: {change}" + (f"\n(was {was})" if now != was else "")
    return render.trim(text + "\nThis applies at once.", render.CONTENT_LIMIT)


@app_commands.guild_only()
class Config(commands.GroupCog, group_name="config", group_description="This server's settings for the bot"):
    """Per-server settings, changed from Discord."""

    def __init__(self, bot: QABot):
        self.bot = bot
        super().__init__()

    async def _change(self, interaction: discord.Interaction, label: str, **values) -> None:
        """Store `values` (setting -> value; None: back to the default) and reply with the change of `label`."""
        guild_id = interaction.guild_id
        assert guild_id is not None  # the group is guild_only
        before = await self.bot.guild_settings(guild_id)
        try:
            after = await self.bot.change_settings(guild_id, values)
        except QabotError as exc:
            log.warning("could not change %s in server %s: %s", ", ".join(values), guild_id, exc)
            await send_private(interaction, f"I couldn't save that setting: {explain(exc)}. Nothing changed.")
            return
        log.info("server %s: %s changed by %s", guild_id, ", ".join(values), interaction.user.id)
        await send_private(interaction, change_reply(label, before, after))

    @app_commands.command(name="show")
    @may_configure
    async def show(self, interaction: discord.Interaction) -> None:
        """Show this server's settings and which of them differ from the defaults."""
        await send_private(interaction, embed=settings_embed(await self.bot.guild_settings(interaction.guild_id)))

    @app_commands.command(name="sets")
    @app_commands.describe(
        channel="The channel (its threads follow it)",
        sets='Document sets, comma-separated (e.g. "billing, eng"); "all" for every document; empty: the default',
    )
    @may_configure
    async def sets(
        self, interaction: discord.Interaction, channel: discord.TextChannel | discord.ForumChannel, sets: str = ""
    ) -> None:
        """Choose which document sets a channel answers from."""
        names = set_names(sets)
        if any(n.startswith(SAVED_PREFIX) for n in names):
            await send_private(
                interaction, "Saved answers are searched in every channel of this server; no need to name them."
            )
            return
        if len(names) > MAX_SETS_PER_CHANNEL:
            await send_private(interaction, f"At most {MAX_SETS_PER_CHANNEL} sets per channel, please.")
            return
        if names and names != (ALL_SETS,):
            known = await self._known_sets(interaction)
            if known is None:
                return
            by_lower = {k.lower(): k for k in known}
            unknown = [n for n in names if n.lower() not in by_lower]
            if unknown:
                offer = ", ".join(sorted(k for k in known if not k.startswith(SAVED_PREFIX))) or "all"
                await send_private(
                    interaction,
                    render.trim(
                        f"There is no document set called {render.escape(', '.join(unknown))}. "
                        f"The sets are: {render.escape(offer)}. "
                        "Sets come from the `sets` of each source in qabot.toml.",
                        render.CONTENT_LIMIT,
                    ),
                )
                return
            names = tuple(by_lower[n.lower()] for n in names)
        try:  # the server's own mapping, without the defaults: a default changed later still applies elsewhere
            changes = await asyncio.to_thread(self.bot.server_settings.changes, interaction.guild_id)
        except QabotError as exc:
            await send_private(interaction, f"I couldn't read this server's settings: {explain(exc)}. Nothing changed.")
            return
        own = dict(ChannelSets(changes.get("channel_sets", {})))
        if names:
            own[channel.id] = names
        else:
            own.pop(channel.id, None)
        value = {str(cid): list(s) for cid, s in own.items()} or None
        await self._change(interaction, "channel_sets", channel_sets=value)

    async def _known_sets(self, interaction: discord.Interaction) -> list[str] | None:
        """The index's set names, or None after telling the user the index can't be read."""
        try:
            info = await asyncio.to_thread(self.bot.engine.info)
        except QabotError as exc:
            await send_private(interaction, unavailable_message(exc))
            return None
        return [str(name) for name in info.get("sets") or {ALL_SETS: {}}]

    @app_commands.command(name="qa-channel")
    @app_commands.describe(channel="The channel", on="True: answer every question there; False: stop")
    @may_configure
    async def qa_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel | discord.ForumChannel, on: bool
    ) -> None:
        """Make a channel a Q&A channel (every message there is a question), or stop."""
        current = (await self.bot.guild_settings(interaction.guild_id)).qa_channel_ids
        ids = [cid for cid in current if cid != channel.id] + ([channel.id] if on else [])
        await self._change(interaction, "qa_channel_ids", qa_channel_ids=ids)

    @app_commands.command(name="replies")
    @app_commands.describe(to="Answer every message in the Q&A channels, or only messages that mention the bot")
    @app_commands.choices(
        to=[
            app_commands.Choice(name="every message in the Q&A channels", value="every"),
            app_commands.Choice(name="mentions only", value="mentions"),
        ]
    )
    @may_configure
    async def replies(self, interaction: discord.Interaction, to: app_commands.Choice[str]) -> None:
        """Choose whether the bot answers every message in the Q&A channels or only mentions."""
        await self._change(interaction, "mention_only", mention_only=to.value == "mentions")

    @app_commands.command(name="threads")
    @app_commands.describe(on="True: answer mentions and Q&A-channel questions in a new thread")
    @may_configure
    async def threads(self, interaction: discord.Interaction, on: bool) -> None:
        """Choose whether answers to messages go in a new thread."""
        await self._change(interaction, "answer_in_thread", answer_in_thread=on)

    @app_commands.command(name="private")
    @app_commands.describe(on="True: /ask answers only the asker unless they say private:False")
    @may_configure
    async def private(self, interaction: discord.Interaction, on: bool) -> None:
        """Choose whether /ask answers privately by default."""
        await self._change(interaction, "private_by_default", private_by_default=on)

    @app_commands.command(name="reindex-role")
    @app_commands.describe(role="Members with this role may /reindex (empty: the default)")
    @may_configure
    async def reindex_role(self, interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        """Choose the role that may reindex the documents, besides administrators."""
        await self._change(interaction, "reindex_role", reindex_role=str(role.id) if role else None)

    @app_commands.command(name="manager-role")
    @app_commands.describe(role="Members with this role may change these settings and save answers (empty: default)")
    @may_configure
    async def manager_role(self, interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        """Choose the role that may change these settings and save answers, besides administrators."""
        await self._change(interaction, "manager_role", manager_role=str(role.id) if role else None)

    @app_commands.command(name="rate-limit")
    @app_commands.describe(count="Questions per person per window (0: no limit)", seconds="The window, in seconds")
    @may_configure
    async def rate_limit(
        self,
        interaction: discord.Interaction,
        count: app_commands.Range[int, 0, MAX_RATE_COUNT],
        seconds: app_commands.Range[float, 1.0, MAX_RATE_SECONDS] = 30.0,
    ) -> None:
        """Choose how many questions a person may ask in a time window."""
        await self._change(interaction, "rate_limit", rate_limit_count=count, rate_limit_seconds=seconds)

    @app_commands.command(name="reset")
    @app_commands.describe(setting="The setting to give back to the default from qabot.toml")
    @app_commands.choices(setting=[app_commands.Choice(name=label, value=name) for name, label in LABELS.items()])
    @may_configure
    async def reset(self, interaction: discord.Interaction, setting: app_commands.Choice[str]) -> None:
        """Give one setting back to the default."""
        names = ("rate_limit_count", "rate_limit_seconds") if setting.value == "rate_limit" else (setting.value,)
        await self._change(interaction, setting.value, **dict.fromkeys(names))


async def setup(bot: QABot) -> None:
    await bot.add_cog(Config(bot))
