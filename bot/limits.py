"""A per-user sliding-window rate limit for questions.

The key is (server, user): each server sets its own limit (bot/guilds.py), passed to `hit`. Over the
limit, the user is told once per window; a public refusal for every further message would let one person
flood a channel with the bot's own replies (`told_once`)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable


class RateLimiter:
    """At most `count` hits per `seconds` for each key (unless `hit` is given a key's own limit); `hit` says how
    long to wait if over."""

    def __init__(self, count: int, seconds: float):
        self.count = count
        self.seconds = seconds
        self._hits: dict[Hashable, deque[float]] = {}
        self._told: dict[Hashable, float] = {}  # key -> the window (its oldest hit) the key was told about

    def hit(self, key: Hashable, count: int | None = None, seconds: float | None = None) -> float:
        """Record a hit for `key` under its limit (default: the limiter's); 0.0 if allowed, else the seconds
        until the next one is."""
        count = self.count if count is None else count
        seconds = self.seconds if seconds is None else seconds
        if count <= 0:
            return 0.0
        # time.monotonic is looked up at call time so SimCord's virtual clock applies in tests.
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= seconds:
            hits.popleft()
        if len(hits) >= count:
            return max(seconds - (now - hits[0]), 0.1)
        hits.append(now)
        self._told.pop(key, None)
        return 0.0

    def told_once(self, key: Hashable) -> bool:
        """True the first time it is asked for `key` in its current over-limit window, then False."""
        hits = self._hits.get(key)
        window = hits[0] if hits else 0.0
        if self._told.get(key) == window:
            return False
        self._told[key] = window
        return True

    def reset(self) -> None:
        self._hits.clear()
        self._told.clear()
