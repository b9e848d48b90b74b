"""Who may run what, as `app_commands` checks: a command that reindexes carries `@may_reindex`, and a
refusal reaches the user through `QATree.on_error`, worded by the check that refused."""

from __future__ import annotations

import discord
from discord import app_commands


class Refusal(app_commands.CheckFailure):
    """A check said no; the message is written for the user who was refused."""


def can_reindex(user: discord.abc.User, reindex_role: str) -> bool:
    """Administrators, and members holding the configured role (by name or id); nobody outside a server."""
    if not isinstance(user, discord.Member):
        return False
    if user.guild_permissions.administrator:
        return True
    role = reindex_role.strip()
    return bool(role) and any(r.name == role or str(r.id) == role for r in user.roles)


def reindexers(reindex_role: str) -> str:
    """Who may reindex, in words."""
    return "administrators" + (" and members with the reindex role" if reindex_role.strip() else "")


async def reindex_allowed(interaction: discord.Interaction) -> bool:
    """The check behind `@may_reindex`: true, or a `Refusal` saying who may."""
    role = interaction.client.settings.reindex_role
    if not can_reindex(interaction.user, role):
        raise Refusal(f"Sorry, only {reindexers(role)} can reindex the documents.")
    return True


may_reindex = app_commands.check(reindex_allowed)
