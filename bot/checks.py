"""Who may run what, as `app_commands` checks: a command that reindexes carries `@may_reindex`, every
`/config` command `@may_configure`, the "Save as answer" menus `@may_save`; a refusal reaches the user
through `QATree.on_error`, worded by the check that refused.

They are checks, not `default_permissions`: a command with default permissions is hidden from everyone
without them, so the role a server configured (`reindex_role`, `manager_role`, which need no Discord
permission) could not even see it. The roles are each server's own (bot/guilds.py); outside a server
nobody may.
"""

from __future__ import annotations

import discord
from discord import app_commands


class Refusal(app_commands.CheckFailure):
    """A check said no; the message is written for the user who was refused."""


def has_role(user: discord.abc.User, role: str) -> bool:
    """The member holds the role named `role` (by name or id); never for an empty `role`."""
    role = role.strip()
    if not role or not isinstance(user, discord.Member):
        return False
    return any(r.name == role or str(r.id) == role for r in user.roles)


def is_admin(user: discord.abc.User) -> bool:
    return isinstance(user, discord.Member) and user.guild_permissions.administrator


def can_reindex(user: discord.abc.User, reindex_role: str) -> bool:
    """Administrators, and members holding the configured role (by name or id); nobody outside a server."""
    return is_admin(user) or has_role(user, reindex_role)


def can_configure(user: discord.abc.User, manager_role: str) -> bool:
    """Administrators, and members holding the server's manager role; nobody outside a server."""
    return is_admin(user) or has_role(user, manager_role)


def can_save(user: discord.abc.User, permissions: discord.Permissions, manager_role: str) -> bool:
    """Moderators (Manage Messages in the channel, as `permissions` say), administrators, the manager role."""
    if not isinstance(user, discord.Member):
        return False
    return permissions.manage_messages or can_configure(user, manager_role)


def reindexers(reindex_role: str) -> str:
    """Who may reindex, in words."""
    return "administrators" + (" and members with the reindex role" if reindex_role.strip() else "")


def managers(manager_role: str) -> str:
    """Who may change the settings, in words."""
    return "administrators" + (" and members with the manager role" if manager_role.strip() else "")


def savers(manager_role: str) -> str:
    """Who may save answers, in words."""
    return "moderators (Manage Messages), administrators" + (
        " and members with the manager role" if manager_role.strip() else ""
    )


async def reindex_allowed(interaction: discord.Interaction) -> bool:
    """The check behind `@may_reindex`: true, or a `Refusal` saying who may."""
    role = (await interaction.client.guild_settings(interaction.guild_id)).reindex_role
    if not can_reindex(interaction.user, role):
        raise Refusal(f"Sorry, only {reindexers(role)} can reindex the documents.")
    return True


async def configure_allowed(interaction: discord.Interaction) -> bool:
    """The check behind `@may_configure`."""
    role = (await interaction.client.guild_settings(interaction.guild_id)).manager_role
    if not can_configure(interaction.user, role):
        raise Refusal(f"Sorry, only {managers(role)} can change the bot's settings.")
    return True


async def save_allowed(interaction: discord.Interaction) -> bool:
    """The check behind `@may_save`."""
    role = (await interaction.client.guild_settings(interaction.guild_id)).manager_role
    if not can_save(interaction.user, interaction.permissions, role):
        raise Refusal(f"Sorry, only {savers(role)} can save or remove saved answers.")
    return True


may_reindex = app_commands.check(reindex_allowed)
may_configure = app_commands.check(configure_allowed)
may_save = app_commands.check(save_allowed)
