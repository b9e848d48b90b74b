"""The Discord edge: `create_bot()` builds the bot from `BotSettings`; `run_bot`, `run_preview` and
`sync_global` serve the CLI."""

from .app import QABot, QATree, create_bot
from .run import run_bot, run_preview, sync_global
from .settings import BotSettings, load_bot_settings

__all__ = ["BotSettings", "QABot", "QATree", "create_bot", "load_bot_settings", "run_bot", "run_preview", "sync_global"]
