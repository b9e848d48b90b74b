"""The Discord edge's settings: the engine's `Settings` plus what only the bot needs (the token, the
development guild, the Q&A channels, who may reindex, how answers are posted, the rate limit).

They live here, not in `index/`, so the engine never knows about Discord; `load_bot_settings` reads
them with the engine's own loader, from the same `qabot.toml` and `QABOT_*` variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from index.config import Settings, load_into

TOKEN_VARIABLE = "DISCORD_TOKEN"  # the usual name; QABOT_DISCORD_TOKEN and qabot.toml work too


@dataclass(frozen=True)
class BotSettings(Settings):
    """The engine's settings and the bot's. The token is never part of a repr."""

    discord_token: str = field(default="", repr=False)
    dev_guild_id: int | None = None
    qa_channel_ids: tuple[int, ...] = ()
    reindex_role: str = ""
    private_by_default: bool = False
    answer_in_thread: bool = False
    rate_limit_count: int = 5
    rate_limit_seconds: float = 30.0
    metrics_port: int | None = None  # `qabot serve --metrics-port`: /metrics and /healthz (bot/metrics.py)
    metrics_host: str = "127.0.0.1"

    @property
    def engine_settings(self) -> Settings:
        """The engine's part alone, for building an Engine that never holds the token."""
        return Settings(**{f.name: getattr(self, f.name) for f in fields(Settings)})

    @classmethod
    def of(cls, settings: Settings | None) -> BotSettings:
        """`settings` as bot settings: loaded when None; a plain engine `Settings` gets the bot's defaults."""
        if settings is None:
            return load_bot_settings()
        if isinstance(settings, cls):
            return settings
        return cls(**{f.name: getattr(settings, f.name) for f in fields(Settings)})


def load_bot_settings(
    config_file: str | os.PathLike | None = None, env: Mapping[str, str] | None = None, **overrides
) -> BotSettings:
    """Bot settings from defaults, `qabot.toml` (or $QABOT_CONFIG), QABOT_* variables and DISCORD_TOKEN."""
    return load_into(BotSettings, config_file, env, aliases={TOKEN_VARIABLE: "discord_token"}, overrides=overrides)
