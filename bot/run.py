"""Entry points for `qabot serve`, `qabot preview` and `qabot sync`."""

from __future__ import annotations

import asyncio
import logging
import webbrowser

import discord

from index.errors import QabotError
from index.terminal import SafeFormatter

from .settings import TOKEN_VARIABLE, BotSettings, load_bot_settings

log = logging.getLogger(__name__)

LOG_FORMAT = "[{asctime}] [{levelname:<8}] {name}: {message}"  # discord.py's default, through SafeFormatter


class TokenMissingError(QabotError):
    """No Discord bot token is configured."""

    hint = f"set {TOKEN_VARIABLE} (see docs/DISCORD.md), or try `qabot preview`, which needs none"


class TokenRejectedError(QabotError):
    """Discord refused the configured token."""

    hint = (
        f"check {TOKEN_VARIABLE}: reset the token on the Bot page of the Discord Developer Portal (see docs/DISCORD.md)"
    )


class IntentsMissingError(QabotError):
    """The bot asked for a privileged intent that is not enabled for it."""

    hint = "enable the Message Content intent on the Bot page of the Discord Developer Portal (see docs/DISCORD.md)"


def _token(settings: BotSettings) -> str:
    if not settings.discord_token:
        raise TokenMissingError(f"{TOKEN_VARIABLE} is not set")
    return settings.discord_token


def run_bot(settings: BotSettings | None = None) -> None:
    """Connect to Discord and serve until interrupted. Needs DISCORD_TOKEN; never logs it."""
    from .app import create_bot

    settings = settings or load_bot_settings()
    token = _token(settings)
    bot = create_bot(settings)
    root = logging.getLogger()
    # Discord's own login errors become short messages (no traceback); none of them carries the token.
    try:
        if root.handlers:
            bot.run(token, log_handler=None)
        else:
            bot.run(token, log_level=logging.INFO, log_formatter=SafeFormatter(LOG_FORMAT, style="{"))
    except discord.LoginFailure:
        raise TokenRejectedError("Discord rejected the bot token") from None
    except discord.PrivilegedIntentsRequired:
        raise IntentsMissingError("Discord refused the Message Content intent") from None


def sync_global(settings: BotSettings | None = None) -> list[str]:
    """Register the slash commands globally (takes up to an hour to reach every server); returns their names."""
    settings = settings or load_bot_settings()
    token = _token(settings)
    return asyncio.run(_sync_global(settings, token))


async def _sync_global(settings: BotSettings, token: str) -> list[str]:
    from .app import QABot

    class _NoEngine:
        """Syncing needs the command definitions only, not the index."""

    # No metrics server either: a `qabot serve` may hold its port.
    bot = QABot(settings.with_(dev_guild_id=None, metrics_port=None), _NoEngine(), prepare_index=False)
    async with bot:
        await bot.login(token)
        synced = await bot.tree.sync()
    return [c.name for c in synced]


def run_preview(settings: BotSettings | None = None, port: int | None = None, *, open_browser: bool = True) -> None:
    """Serve SimCord's local preview page, where /ask works on the bundled corpus without a token."""
    settings = settings or load_bot_settings()
    try:
        asyncio.run(_preview(settings, port, open_browser))
    except KeyboardInterrupt:
        pass


async def start_preview_world(env):
    """A guild with an #ask-the-docs channel and an administrator "you"; commands synced. Returns (channel, you)."""
    guild = env.create_guild("Docs Q&A")
    channel = guild.create_text_channel("ask-the-docs")
    admins = guild.create_role("Admins", permissions=discord.Permissions(administrator=True))
    you = guild.add_member(env.create_user("you"), roles=[admins])
    await env.bot.tree.sync()
    return channel, you


async def _preview(settings: BotSettings, port: int | None, open_browser: bool) -> None:
    try:
        import simcord
    except ImportError as exc:  # pragma: no cover - simcord is a dev dependency
        raise QabotError("the preview needs SimCord: pip install 'simcord[preview]'") from exc
    from .app import create_bot

    bot = create_bot(settings)
    # The first question loads the model; give SimCord's settling room for real retrieval work.
    async with simcord.run(bot, settle_timeout=120.0, check_errors=False) as env:
        channel, you = await start_preview_world(env)
        async with env.preview(channel, viewers=[you], layout="channel", port=port) as preview:
            print(f"Preview running at {preview.url}")
            print("Type /ask in the composer. Press Ctrl+C to stop.")
            if open_browser:
                try:
                    webbrowser.open(preview.url)
                except Exception:  # a headless machine has no browser; the URL is printed
                    pass
            await preview.wait_closed()
