"""Keeping sources fresh inside a long-running process (`qabot serve`): watched folders and refresh periods.

Why threads, not event-loop tasks: a sync is blocking work (git, HTTP, the model) that must never run on
the bot's event loop, and a watcher blocks by nature; two daemon threads keep both away from it. The
bot only starts and stops the scheduler. The engine follows CURRENT, so the next ask after a build
answers from it; builds take the store's lock like any other, so one runs at a time.

When things run:
- a remote source (git, sitemap, urls) syncs when its `refresh` period has passed since its last attempt
  (read from its status.json, so a restart does not sync everything at once); a failure retries sooner,
  after sources.RETRY_S doubling up to the period;
- a watched folder builds QUIET_S after its last change, so a burst of edits (an editor's save, a `git
  pull`) is one incremental build, but at most MAX_DELAY_S after the first change of the burst even
  while edits keep coming; changes during a build start another one after it;
- once at start, a build that picks up what changed while the process was down (nothing to do costs a
  fraction of a second).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path

from .errors import BuildLockedError, QabotError
from .sources import status as source_status

log = logging.getLogger(__name__)

QUIET_S = 0.5  # a watched folder builds once it has been quiet this long ...
MAX_DELAY_S = 3.0  # ... or this long after the first change of a burst, whichever comes first
WATCH_STEP_MS = 50  # watchfiles: a batch of changes is handed over after this much quiet
POLL_MS = 500  # polling interval where inotify is unavailable (or `poll = true`)
LOCK_WAIT_S = 30.0  # a build waits this long for another build (a /reindex) before trying again later
IDLE_WAKE_S = 60.0  # the loop re-reads the schedule at least this often
RESTART_WATCH_S = 30.0  # a watcher that failed (folder missing) is restarted after this


def _epoch(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return None


class Scheduler:
    """Runs `engine.refresh` for whatever is due, in a thread of its own; `start()` and `stop()`."""

    def __init__(self, engine, clock=time.monotonic):
        self.engine = engine
        self.clock = clock
        settings = engine.settings
        self.remote = [s for s in settings.all_sources if s.remote and s.refresh]
        self.watched = [s for s in settings.all_sources if s.kind == "folder" and s.watch]
        self.index_path = Path(settings.index_path)
        self._due: dict[str, float] = {}
        self._first_change: float | None = None
        self._last_change: float | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.runs = 0  # refreshes done (tests and the benchmark read it)

    @property
    def needed(self) -> bool:
        """Whether there is anything to keep fresh (no thread is started otherwise)."""
        return bool(self.remote or self.watched)

    def start(self) -> None:
        now, wall = self.clock(), time.time()
        for spec in self.remote:
            due = _epoch(source_status(self.engine.settings, spec).get("next_sync", ""))
            self._due[spec.name] = now if due is None else now + max(0.0, due - wall)
        if self.watched:
            self._first_change = self._last_change = now - QUIET_S  # the catch-up build at start
            self._threads.append(threading.Thread(target=self._watch, name="qabot-watch", daemon=True))
        self._threads.append(threading.Thread(target=self._loop, name="qabot-scheduler", daemon=True))
        for t in self._threads:
            t.start()
        log.info("keeping sources fresh: %d watched folder(s), %d on a schedule", len(self.watched), len(self.remote))

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)

    # ---- watching ------------------------------------------------------------------------
    def changed(self, when: float | None = None) -> None:
        """A watched folder changed (the watcher calls this; so can a test)."""
        when = self.clock() if when is None else when
        if self._first_change is None:
            self._first_change = when
        self._last_change = when
        self._wake.set()

    def _ours(self, path: str) -> bool:
        """A change inside the index folder is the build's own writing, not an edit."""
        p = Path(path)
        return p == self.index_path or self.index_path in p.parents

    def _watch(self) -> None:
        import watchfiles

        roots = [str((self.engine.settings.root / s.location).resolve()) for s in self.watched]
        polling = any(s.poll for s in self.watched) or None
        while not self._stop.is_set():
            try:
                for changes in watchfiles.watch(
                    *roots,
                    stop_event=self._stop,
                    step=WATCH_STEP_MS,
                    force_polling=polling,
                    poll_delay_ms=POLL_MS,
                    rust_timeout=1000,
                    yield_on_timeout=False,
                    raise_interrupt=False,
                ):
                    if any(not self._ours(path) for _, path in changes):
                        self.changed()
            except (OSError, RuntimeError) as exc:
                # inotify unavailable or out of watches (a RuntimeError from notify): poll instead
                if polling is None:
                    log.warning("watching %s failed (%s); polling every %d ms instead", roots, exc, POLL_MS)
                    polling = True
                    continue
                log.warning("cannot watch %s (%s); trying again in %g s", roots, exc, RESTART_WATCH_S)
                self._stop.wait(RESTART_WATCH_S)

    # ---- the loop ------------------------------------------------------------------------
    def _folders_due(self, now: float) -> float | None:
        """When the watched folders' build is due (None: no change waiting)."""
        if self._first_change is None or self._last_change is None:
            return None
        return min(self._last_change + QUIET_S, self._first_change + MAX_DELAY_S)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = self.clock()
            due = [name for name, at in self._due.items() if at <= now]
            folders_at = self._folders_due(now)
            folders = folders_at is not None and folders_at <= now
            if due or folders:
                if folders:
                    self._first_change = self._last_change = None  # changes from here on wait for the next build
                self._run(due)
                continue
            waits = [at - now for at in self._due.values()]
            if folders_at is not None:
                waits.append(folders_at - now)
            self._wake.wait(min([IDLE_WAKE_S, *waits]))
            self._wake.clear()

    def _run(self, names: list[str]) -> None:
        """One refresh of `names` (and of the folders); it reschedules the sources, whatever happens."""
        try:
            result = self.engine.refresh(names, lock_wait=LOCK_WAIT_S)
            log.info("sources refreshed: %s", result.line())
        except BuildLockedError as exc:
            log.info("refresh postponed: %s", exc)
            if not names:
                self.changed()  # the folders' build is still owed
        except QabotError as exc:
            log.warning("refresh failed: %s%s", exc, f" ({exc.hint})" if exc.hint else "")
        except Exception:
            log.exception("refresh failed")  # never let the scheduler die with the bot still running
        finally:
            self.runs += 1
            now, wall = self.clock(), time.time()
            for name in names:
                spec = next(s for s in self.remote if s.name == name)
                at = _epoch(source_status(self.engine.settings, spec).get("next_sync", ""))
                self._due[name] = now + (spec.refresh if at is None else max(1.0, at - wall))
