"""The Discord edge: `create_bot()` builds the bot; `run_bot`, `run_preview` and `sync_global` serve the CLI."""

from .app import QABot, QATree, create_bot
from .run import run_bot, run_preview, sync_global

__all__ = ["QABot", "QATree", "create_bot", "run_bot", "run_preview", "sync_global"]
