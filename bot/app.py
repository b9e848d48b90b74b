"""The Bot: settings and the engine go in through the constructor; cogs add the features."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import OrderedDict
from dataclasses import fields

import discord
from discord import app_commands
from discord.ext import commands

from index.config import Settings
from index.engine import check_question
from index.errors import QabotError, QuestionError
from index.types import Answer, Quote

from .checks import Refusal
from .guilds import FILE_NAME, GuildSettings, GuildSettingsError, GuildStore
from .limits import RateLimiter
from .metrics import Metrics
from .render import NO_MENTIONS
from .replies import ERROR_MESSAGE, explain, send_private
from .settings import BotSettings
from .views import DYNAMIC_ITEMS

log = logging.getLogger(__name__)

EXTENSIONS = (
    "bot.cogs.ask",
    "bot.cogs.sources",
    "bot.cogs.admin",
    "bot.cogs.help",
    "bot.cogs.refresh",
    "bot.cogs.config",
    "bot.cogs.saved",
)
ANSWER_CACHE_SIZE = 512
# Asks run in threads; a few at a time keep the GIL free enough for the gateway heartbeat.
ASK_CONCURRENCY = 2
CHECK_FAILED_MESSAGE = "You can't use this command here."


class QATree(app_commands.CommandTree):
    """Command tree whose last-resort error handler logs the detail and tells the user something short."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        name = interaction.command.qualified_name if interaction.command else "?"
        if isinstance(error, app_commands.CheckFailure):
            message = str(error) if isinstance(error, Refusal) else CHECK_FAILED_MESSAGE
            log.info("check failed for /%s by %s: %s", name, interaction.user.id, error)
        else:
            message = ERROR_MESSAGE
            log.error("unhandled error in /%s", name, exc_info=error)
            interaction.client.metrics.failed("unhandled")
        await send_private(interaction, message)


class QABot(commands.Bot):
    """Answers questions from the team's documents with verbatim quotes."""

    def __init__(self, settings: BotSettings, engine, *, prepare_index: bool = True):
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: needed to read questions in the Q&A channels
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=QATree,
            allowed_mentions=NO_MENTIONS,
            help_command=None,
        )
        self.settings = settings
        self.engine = engine
        self.prepare_index = prepare_index
        self.rate_limiter = RateLimiter(settings.rate_limit_count, settings.rate_limit_seconds)
        self.server_settings = GuildStore(settings.index_path / FILE_NAME)  # each server's /config changes
        self.answers: OrderedDict[int, Answer] = OrderedDict()
        self.reindex_lock = asyncio.Lock()
        self.ask_slots = asyncio.Semaphore(ASK_CONCURRENCY)
        self._warmed = False
        self.metrics = Metrics(self)  # its server starts in setup_hook when settings.metrics_port is set
        # Dynamic items match custom ids like `qa:fb:up:42`, so buttons keep working after a restart.
        self.add_dynamic_items(*DYNAMIC_ITEMS)

    async def setup_hook(self) -> None:
        # setup_hook runs again on every login (and SimCord's restart_bot), so loading is idempotent.
        for ext in EXTENSIONS:
            if ext not in self.extensions:
                await self.load_extension(ext)
        await self.metrics.start()
        if self.prepare_index:
            await self.warm_up()
        if self.settings.dev_guild_id:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            try:
                synced = await self.tree.sync(guild=guild)
                log.info("synced %d commands to development guild %s", len(synced), guild.id)
            except discord.HTTPException:
                log.exception("could not sync commands to development guild %s", guild.id)

    async def warm_up(self) -> None:
        """Build the index if there is none and load the model, off the event loop; never fatal."""
        if self._warmed:
            return
        try:
            if summary := await asyncio.to_thread(self.engine.ensure_index):
                self.metrics.built(summary, "start")
            await asyncio.to_thread(self._load_model)
            self._warmed = True
            # Everything loaded so far (model, libraries, the index) lives as long as the bot: keep it out
            # of the garbage collector's full passes, which otherwise stall the event loop for up to
            # ~100 ms while a rebuild allocates (measured by `qabot bench speed`).
            gc.freeze()
        except QabotError as exc:
            log.warning("index not ready: %s", explain(exc))

    def _load_model(self) -> None:
        try:
            self.engine.ask("warm up the model")
        except QuestionError:
            pass

    async def close(self) -> None:
        await self.metrics.stop()
        await super().close()

    async def on_message(self, message: discord.Message) -> None:
        # No prefix commands: the ask cog's listener handles mentions and the Q&A channels.
        return

    # ------------------------------------------------------------------ checks before an ask

    def validate(self, question: str | None, follow_up: bool = False) -> str | None:
        """A short message when the question can't be asked, else None (the engine's own check, so the
        limit counts the cleaned question, as the CLI does). A possible `follow_up` may lack words of its
        own ("what's its name?"): its earlier question may complete it, and the engine says if not."""
        try:
            check_question(question or "", self.settings.max_question_chars, need_terms=not follow_up)
        except QuestionError as exc:
            return str(exc)
        return None

    def rate_limited(self, user_id: int, guild: GuildSettings | None = None) -> str | None:
        """A short message when the user is asking too fast (under the server's limit), else None."""
        guild = guild or GuildSettings.of(self.settings, {}, None)
        count, seconds = guild.rate_limit_count, guild.rate_limit_seconds
        wait = self.rate_limiter.hit((guild.guild_id, user_id), count, seconds)
        if not wait:
            return None
        self.metrics.rate_limited()
        return f"You're asking questions quickly; the limit is {count} every {seconds:g} s. Try again in {wait:.0f} s."

    # ------------------------------------------------------------------ settings per server

    async def guild_settings(self, guild_id: int | None) -> GuildSettings:
        """The server's settings in effect (the bot's defaults outside a server, or if they can't be read)."""
        if guild_id is None:
            return GuildSettings.of(self.settings, {}, None)
        changes = self.server_settings.cached(guild_id)
        if changes is None:
            try:
                changes = await asyncio.to_thread(self.server_settings.changes, guild_id)
            except GuildSettingsError:
                # Answering on the defaults beats not answering; /config reports the failure itself.
                log.exception("could not read the settings of server %s; using the defaults", guild_id)
                changes = {}
        return GuildSettings.of(self.settings, changes, guild_id)

    async def change_settings(self, guild_id: int, values: dict) -> GuildSettings:
        """Store settings of a server (None: back to the default) off the event loop; effective at once."""
        await asyncio.to_thread(self.server_settings.update, guild_id, values)
        return await self.guild_settings(guild_id)

    # ------------------------------------------------------------------ answering

    async def answer(
        self,
        question: str,
        *,
        channel: str = "slash",
        sets: tuple[str, ...] | None = None,
        guild_id: int | None = None,
        previous: str | None = None,
    ) -> tuple[Answer, int | None]:
        """Ask the engine off the event loop (in `sets`, with `guild_id`'s saved answers, as a follow-up of
        `previous`) and log the question; returns the answer and its id."""
        started = time.perf_counter()
        log_it = {"channel": channel, "guild_id": guild_id}
        try:
            async with self.ask_slots:
                answer = await self.engine.aask(question.strip(), sets=sets, guild_id=guild_id, previous=previous)
        except QabotError as exc:
            latency = (time.perf_counter() - started) * 1000
            await self._log(question, None, latency, **log_it, error=f"{type(exc).__name__}: {exc}")
            self.metrics.failed(exc, ask=True)
            raise
        latency = (time.perf_counter() - started) * 1000
        self.metrics.asked(answer, latency / 1000)
        answer_id = await self._log(question, answer, latency, **log_it)
        if answer_id is not None:
            self.answers[answer_id] = answer
            while len(self.answers) > ANSWER_CACHE_SIZE:
                self.answers.popitem(last=False)
        return answer, answer_id

    async def _log(self, question, answer, latency, channel, guild_id=None, error=None) -> int | None:
        try:
            return await asyncio.to_thread(
                self.engine.activity.log_question, question, answer, latency, channel, error, guild_id=guild_id
            )
        except Exception:
            # The answer matters more than its log entry.
            log.exception("could not log the question")
            return None

    async def answer_for(self, answer_id: int) -> Answer | None:
        """The answer behind a button: from memory, else rebuilt from the activity log."""
        if answer_id in self.answers:
            return self.answers[answer_id]
        record = await asyncio.to_thread(self.engine.activity.get_answer, answer_id)
        if not record or not record.get("question"):
            return None
        answer = Answer(
            question=record["question"],
            abstained=bool(record.get("abstained")),
            quotes=[_quote(q) for q in record.get("quotes") or []],
            more=[_quote(q) for q in record.get("more") or []],
            build_id=record.get("build_id") or "",
            follow_up=record.get("follow_up") or None,
        )
        self.answers[answer_id] = answer
        return answer


def _quote(data: dict) -> Quote:
    known = {f.name for f in fields(Quote)}
    values = {k: v for k, v in data.items() if k in known}
    values.setdefault("score", 0.0)
    return Quote(**{"text": "", "doc": "", "title": "", "url": None, "date": None} | values)


def create_bot(settings: Settings | None = None, engine=None, *, prepare_index: bool = True) -> QABot:
    """The bot on `engine` (default: an Engine on the settings' index, built at startup if missing).

    `settings` are `BotSettings` (default: `load_bot_settings()`); plain engine `Settings` get the
    bot's defaults for the Discord fields."""
    settings = BotSettings.of(settings)
    if engine is None:
        from index.engine import Engine

        engine = Engine(settings.engine_settings)
    return QABot(settings, engine, prepare_index=prepare_index)


__all__ = ["QABot", "QATree", "create_bot"]
