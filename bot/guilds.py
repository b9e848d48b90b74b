"""Settings per server: what a server's administrators changed with `/config`, over qabot.toml's defaults.

A bot in several servers keeps one row per (server, setting) it was told, in `guilds.sqlite` beside the
activity log; a setting a server never changed follows the bot's settings (`BotSettings`), so a new
default in qabot.toml reaches every server that kept it. Changes are written at once and read back on
start, so they survive restarts. The rows are cached in memory after the first read (the SQLite read
runs off the event loop, in `QABot.guild_settings`); only this process writes them.

Threads inherit their parent channel's document sets and Q&A status.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import discord
import sqlite_utils

from index.errors import QabotError

from .settings import BotSettings, ChannelSets

FILE_NAME = "guilds.sqlite"
ALL_SETS = "all"  # the set every document is in: searching it searches everything
SAVED_PREFIX = "saved:"  # a server's saved answers are the set `saved:<guild id>` (the engine adds it itself)


class GuildSettingsError(QabotError):
    """The per-server settings database cannot be read or written."""

    hint = "check that the index folder is writable"


@dataclass(frozen=True)
class GuildSettings:
    """One server's settings in effect: its own changes over the bot's defaults."""

    guild_id: int | None
    channel_sets: ChannelSets
    qa_channel_ids: tuple[int, ...]
    mention_only: bool
    answer_in_thread: bool
    reindex_role: str
    manager_role: str
    private_by_default: bool
    rate_limit_count: int
    rate_limit_seconds: float
    changed: frozenset[str] = frozenset()  # the settings this server set itself

    @classmethod
    def of(cls, defaults: BotSettings, changes: dict[str, Any], guild_id: int | None) -> GuildSettings:
        """`defaults` with the server's `changes` over them (channel sets over the defaults', channel by channel)."""
        values = {name: getattr(defaults, name) for name in SETTINGS}
        for name, value in changes.items():
            if name == "channel_sets":
                values[name] = ChannelSets({**defaults.channel_sets, **ChannelSets(value)})
            elif name == "qa_channel_ids":
                values[name] = tuple(int(v) for v in value)
            elif name in SETTINGS:
                values[name] = SETTINGS[name](value)
        return cls(guild_id=guild_id, changed=frozenset(changes), **values)

    def sets_for(self, channel_id: int | None, parent_id: int | None = None) -> tuple[str, ...] | None:
        """The sets a channel answers from (a thread: its parent's, unless it has its own); None: every document."""
        for cid in (channel_id, parent_id):
            if cid is not None and cid in self.channel_sets:
                sets = self.channel_sets[cid]
                return None if ALL_SETS in sets else sets
        return None

    def is_qa_channel(self, channel_id: int | None, parent_id: int | None = None) -> bool:
        """A Q&A channel, or a thread in one."""
        return channel_id in self.qa_channel_ids or (parent_id is not None and parent_id in self.qa_channel_ids)


# The per-server settings and the type each is stored as (channel_sets and qa_channel_ids: JSON as they are).
SETTINGS: dict[str, Any] = {
    f.name: {"bool": bool, "int": int, "float": float, "str": str}.get(str(f.type), lambda v: v)
    for f in fields(GuildSettings)
    if f.name not in ("guild_id", "changed")
}


class GuildStore:
    """Each server's changed settings in SQLite, cached; safe to use from several threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cache: dict[int, dict[str, Any]] = {}
        self._ready = False

    def cached(self, guild_id: int) -> dict[str, Any] | None:
        """The server's changes if they were read already (no I/O), else None."""
        return self._cache.get(guild_id)

    def changes(self, guild_id: int) -> dict[str, Any]:
        """The settings this server changed, by name (read from disk the first time)."""
        with self._lock:
            if guild_id not in self._cache:
                with self._db() as db:
                    rows = db.execute("select name, value from settings where guild_id = ?", [guild_id]).fetchall()
                self._cache[guild_id] = {name: json.loads(value) for name, value in rows if name in SETTINGS}
            return dict(self._cache[guild_id])

    def set(self, guild_id: int, name: str, value: Any) -> None:
        """Store one setting for a server (at once, durably)."""
        self.update(guild_id, {name: value})

    def reset(self, guild_id: int, name: str) -> bool:
        """Forget a server's own value of one setting (the default applies again); False if it had none."""
        return bool(self.update(guild_id, {name: None}))

    def update(self, guild_id: int, values: dict[str, Any]) -> int:
        """Store several settings of a server in one transaction (all or none); a None value forgets the
        server's own value. Returns how many rows were written or removed."""
        unknown = set(values) - set(SETTINGS)
        if unknown:
            raise KeyError(", ".join(sorted(unknown)))
        touched = 0
        with self._lock:
            with self._db() as db:
                for name, value in values.items():
                    if value is None:
                        cursor = db.execute("delete from settings where guild_id = ? and name = ?", [guild_id, name])
                        touched += cursor.rowcount
                        continue
                    row = {"guild_id": guild_id, "name": name, "value": json.dumps(value), "changed_at": time.time()}
                    db["settings"].upsert(row, pk=("guild_id", "name"))
                    touched += 1
            self._cache.pop(guild_id, None)  # read back on next use, as a restart would
        return touched

    @contextmanager
    def _db(self):
        """The database, opened for one read or write and closed after; SQLite failures become GuildSettingsError."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite_utils.Database(sqlite3.connect(self.path, timeout=10))
        except (sqlite3.Error, OSError) as exc:
            raise GuildSettingsError(f"the server settings {self.path} cannot be opened ({exc})") from None
        try:
            if not self._ready:
                db.conn.execute("pragma journal_mode = wal")
                if not db["settings"].exists():
                    db.table("settings").create(
                        {"guild_id": int, "name": str, "value": str, "changed_at": float}, pk=("guild_id", "name")
                    )
                self._ready = True
            with db.conn:  # one transaction, committed on success
                yield db
        except sqlite3.Error as exc:
            raise GuildSettingsError(f"the server settings {self.path} cannot be used ({exc})") from None
        finally:
            db.conn.close()


def saved_set(guild_id: int) -> str:
    """The name of a server's saved-answers set."""
    return f"{SAVED_PREFIX}{guild_id}"


def visible_to(sets, guild_id: int | None) -> bool:
    """Whether something in `sets` may be shown in server `guild_id`: never another server's saved answers."""
    own = saved_set(guild_id) if guild_id is not None else None
    return all(not str(s).startswith(SAVED_PREFIX) or s == own for s in sets or ())


def visible_rows(rows: list[dict], guild_id: int | None) -> list[dict]:
    """The /sources rows server `guild_id` may see."""
    return [row for row in rows if visible_to(row.get("sets"), guild_id)]


def where(channel) -> tuple[int | None, int | None]:
    """A channel's id and, for a thread, its parent's (threads inherit their channel's settings)."""
    if channel is None:
        return None, None
    return channel.id, channel.parent_id if isinstance(channel, discord.Thread) else None


def scope_words(sets: tuple[str, ...] | None) -> str:
    """What a channel answers from, in words, for a footer ("" when it answers from every document)."""
    return "this channel answers from: " + ", ".join(sets) if sets else ""
