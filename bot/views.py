"""Buttons. Every interactive one is a DynamicItem with a namespaced custom id, so it survives restarts."""

from __future__ import annotations

import asyncio
import logging
import re

import discord

from index.errors import QabotError
from index.types import Answer

from . import render
from .guilds import scope_words, visible_rows, where
from .replies import explain, send_private

log = logging.getLogger(__name__)

SOURCES_PER_PAGE = 10
_FILTER_ID_CHARS = 60


def _bot(interaction: discord.Interaction):
    return interaction.client


class FeedbackButton(discord.ui.DynamicItem[discord.ui.Button], template=r"qa:fb:(?P<vote>up|down):(?P<id>\d+)"):
    """👍 / 👎 on an answer: one vote per user per answer, changeable."""

    def __init__(self, vote: str, answer_id: int):
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji="👍" if vote == "up" else "👎",
                custom_id=f"qa:fb:{vote}:{answer_id}",
            )
        )
        self.vote = vote
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]):
        return cls(match["vote"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        value = 1 if self.vote == "up" else -1
        try:
            await asyncio.to_thread(
                bot.engine.activity.record_feedback,
                self.answer_id,
                interaction.user.id,
                interaction.guild_id,
                value,
            )
        except Exception:
            log.exception("could not record feedback for answer %s", self.answer_id)
            await send_private(interaction, "Sorry, I couldn't record that vote.")
            return
        thanks = "Thanks, glad it helped." if value > 0 else "Thanks, noted: this answer didn't help."
        await send_private(interaction, thanks + " You can change your vote at any time.")


class MoreButton(discord.ui.DynamicItem[discord.ui.Button], template=r"qa:more:(?P<id>\d+)"):
    """Shows the further passages of an answer, privately."""

    def __init__(self, answer_id: int):
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary, label="More passages", custom_id=f"qa:more:{answer_id}"
            )
        )
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]):
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            answer = await bot.answer_for(self.answer_id)
        except QabotError as exc:
            await send_private(interaction, f"I can't fetch more passages right now: {explain(exc)}.")
            return
        if answer is None:
            await send_private(interaction, "I no longer have that answer; please ask again.")
            return
        await send_private(interaction, embed=render.more_card(answer.question, answer.more))


class SourcesPageButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"qa:src:(?P<dir>prev|next):(?P<page>\d+):(?P<filter>.*)"
):
    """Previous / next page of /sources; the page and the filter live in the custom id."""

    def __init__(self, direction: str, page: int, filter: str, disabled: bool = False):
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label="◀ Previous" if direction == "prev" else "Next ▶",
                custom_id=f"qa:src:{direction}:{page}:{filter[:_FILTER_ID_CHARS]}",
                disabled=disabled,
            )
        )
        self.direction = direction
        self.page = page
        self.filter = filter

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]):
        return cls(match["dir"], int(match["page"]), match["filter"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        try:
            rows = await asyncio.to_thread(bot.engine.sources, self.filter, guild_id=interaction.guild_id)
        except QabotError as exc:
            await send_private(interaction, f"I can't list the documents right now: {explain(exc)}.")
            return
        guild = await bot.guild_settings(interaction.guild_id)
        scope = scope_words(guild.sets_for(*where(interaction.channel)))
        embed, view = sources_message(visible_rows(rows, interaction.guild_id), self.page, self.filter, scope)
        kept = interaction.message.embeds[1:] if interaction.message else []  # the sources' status stays
        await interaction.response.edit_message(embeds=[embed, *kept], view=view, allowed_mentions=render.NO_MENTIONS)


DYNAMIC_ITEMS = (FeedbackButton, MoreButton, SourcesPageButton)


def answer_view(answer: Answer, answer_id: int | None, links: list[tuple[str, str]]) -> discord.ui.View | None:
    """Feedback and "More passages" buttons (when the answer was logged) and links to the top sources."""
    view = discord.ui.View(timeout=None)
    if answer_id is not None:
        view.add_item(FeedbackButton("up", answer_id))
        view.add_item(FeedbackButton("down", answer_id))
        if answer.more:
            view.add_item(MoreButton(answer_id))
    for label, url in links:
        view.add_item(discord.ui.Button(style=discord.ButtonStyle.link, label=label, url=url, row=1))
    return view if view.children else None


def sources_message(
    rows: list[dict], page: int, filter: str = "", scope: str = ""
) -> tuple[discord.Embed, discord.ui.View | None]:
    """The embed and pager buttons for one page of /sources (`scope`: what the channel answers from)."""
    pages = max(1, -(-len(rows) // SOURCES_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    embed = render.sources_page(rows, page, SOURCES_PER_PAGE, filter, scope)
    if pages == 1:
        return embed, None
    view = discord.ui.View(timeout=None)
    view.add_item(SourcesPageButton("prev", max(page - 1, 0), filter, disabled=page == 0))
    view.add_item(SourcesPageButton("next", min(page + 1, pages - 1), filter, disabled=page >= pages - 1))
    return embed, view
