"""How the bot speaks when it is not posting an answer card: a private note to one user, and an
error turned into one short line. Commands, buttons and the tree's error handler all say it the same
way, and none of them needs to import the bot itself."""

from __future__ import annotations

import logging

import discord

from index.errors import QabotError

from .render import NO_MENTIONS

log = logging.getLogger(__name__)

ERROR_MESSAGE = "Sorry, something went wrong on my side. The details were logged for the maintainers."


def explain(exc: QabotError) -> str:
    """The error's message with its hint (what to do about it) in brackets, when it has one."""
    hint = getattr(exc, "hint", "")
    return f"{exc} ({hint})" if hint else str(exc)


def unavailable_message(exc: QabotError) -> str:
    return f"The document index is unavailable right now: {explain(exc)}. Please try again later."


async def send_private(interaction: discord.Interaction, content: str = "", **kwargs) -> None:
    """Tell the user something privately, whether or not the interaction was already answered; a failure
    to send is logged, never raised (there is nobody left to tell)."""
    kwargs.setdefault("allowed_mentions", NO_MENTIONS)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(content, ephemeral=True, **kwargs)
        else:
            await interaction.response.send_message(content, ephemeral=True, **kwargs)
    except discord.HTTPException:
        log.exception("could not send a private message for interaction %s", interaction.id)
