"""The Discord edge's settings: the engine's `Settings` plus what only the bot needs (the token, the
development guild, the Q&A channels, which channels answer from which document sets, who may reindex
and who may change the settings, how answers are posted, the rate limit).

They live here, not in `index/`, so the engine never knows about Discord; `load_bot_settings` reads
them with the engine's own loader, from the same `qabot.toml` and `QABOT_*` variables. They are every
server's defaults: a server's own changes (`/config`, kept in bot/guilds.py) go over them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields

from index.config import Settings, load_into

TOKEN_VARIABLE = "DISCORD_TOKEN"  # the usual name; QABOT_DISCORD_TOKEN and qabot.toml work too
_SET_SEPARATORS = re.compile(r"[\s,]+")


def set_names(value: str | Iterable[str]) -> tuple[str, ...]:
    """Document-set names from `"billing, eng"` or `["billing", "eng"]`: stripped, each once."""
    items = _SET_SEPARATORS.split(value) if isinstance(value, str) else [str(v) for v in value]
    return tuple(dict.fromkeys(name.strip() for name in items if name.strip()))


class ChannelSets(Mapping[int, tuple[str, ...]]):
    """Which document sets a channel answers from: channel id -> set names. Immutable and hashable, so it
    can be a field of the frozen settings.

    Read from a TOML table (`[channel_sets]` then `123456789012345678 = ["billing"]`), from text
    (`QABOT_CHANNEL_SETS="123=billing,eng; 456=ops"`) or from (id, sets) pairs. A channel not listed
    answers from every document."""

    def __init__(self, value: str | Mapping | Iterable[tuple] = ()):
        if isinstance(value, str):
            pairs: Iterable[tuple] = (entry.split("=", 1) for entry in value.split(";") if entry.strip())
        elif isinstance(value, Mapping):
            pairs = value.items()
        else:
            pairs = value
        self._sets: dict[int, tuple[str, ...]] = {}
        for key, sets in pairs:
            names = set_names(sets)
            if names:
                self._sets[int(str(key).strip())] = names

    def __getitem__(self, channel_id: int) -> tuple[str, ...]:
        return self._sets[channel_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._sets)

    def __len__(self) -> int:
        return len(self._sets)

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __hash__(self) -> int:
        return hash(frozenset(self._sets.items()))

    def __repr__(self) -> str:
        return f"ChannelSets({self._sets!r})"


@dataclass(frozen=True)
class BotSettings(Settings):
    """The engine's settings and the bot's. The token is never part of a repr."""

    discord_token: str = field(default="", repr=False)
    dev_guild_id: int | None = None
    qa_channel_ids: tuple[int, ...] = ()
    channel_sets: ChannelSets = ChannelSets()
    mention_only: bool = False
    reindex_role: str = ""
    manager_role: str = ""
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
