"""Keeps the sources fresh while the bot runs: starts the engine's scheduler, stops it on unload.

The scheduler (index/scheduler.py) syncs in threads of its own, never on the event loop; the engine
then answers from the new build at the next ask. Nothing starts when qabot.toml has no watched folder
and no remote source, so a bot on the plain `sources` list behaves as it always did."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from discord.ext import commands

from index.scheduler import Scheduler

if TYPE_CHECKING:
    from ..app import QABot

log = logging.getLogger(__name__)


class Refresh(commands.Cog):
    """Runs the source scheduler for as long as the cog is loaded."""

    def __init__(self, bot: QABot):
        self.bot = bot
        self.scheduler: Scheduler | None = None

    async def cog_load(self) -> None:
        engine = self.bot.engine
        if getattr(engine, "settings", None) is None:  # `qabot sync` runs the bot without an engine
            return
        scheduler = Scheduler(engine)
        if scheduler.needed:
            scheduler.start()
            self.scheduler = scheduler

    async def cog_unload(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None


async def setup(bot: QABot) -> None:
    await bot.add_cog(Refresh(bot))
