"""Prometheus metrics and a health check for a running bot (`qabot serve --metrics-port N`).

What is counted: asks by outcome, abstentions by why, errors by kind, answer latency, rate-limited asks,
build and source-sync durations; read at each scrape: index age, documents and chunks per set, whether
the index is available, gateway latency. docs/METRICS.md lists every metric with a scrape config.

Why these choices:
- A registry of the bot's own (`Metrics.registry`), not prometheus_client's global one: two bots in one
  process (the tests, a restart) never add into each other's numbers.
- aiohttp, which discord.py already depends on, serving on the bot's own event loop: one small server
  gives both `/metrics` and `/healthz`, starts in `setup_hook` and stops in `close()` with the bot
  (an error binding the port is a one-line QabotError at start, not a traceback in a thread).
  prometheus_client's `start_http_server` serves the metrics only, from a thread of its own.
- Nothing that touches the engine runs on the event loop: a scrape or a health check reads the index
  in a worker thread (a stat of CURRENT; opening the build the first time; `Engine.info()` once per
  build, since a build never changes), then renders from that snapshot. The counters are plain
  in-memory increments, safe on the loop.
- Builds and syncs are seen where they happen: the bot's own builds (the first one at start, /reindex)
  are recorded by the bot; the scheduler's refreshes are read from `Engine.refreshes` (which /stats
  shows too) at the next scrape, each one once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from index.errors import IndexUnavailableError, QabotError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"  # loopback unless told otherwise: the numbers name servers and sets
# Answer latency as the user waits for it (a slot, the engine, the activity log): edges around the
# targets (p95 <= 250 ms on the demo corpus), then coarse ones up to a stuck ask.
ANSWER_BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0)
# A no-change incremental build takes a fraction of a second, a full one of a large corpus minutes.
BUILD_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
SYNC_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
OUTCOMES = ("answered", "abstained", "error")
SEEN_BUILDS = 64  # build summaries recorded by the bot, remembered so a refresh's copy is not counted again


class MetricsError(QabotError):
    """The metrics server could not listen where it was told to."""

    hint = "choose another port with --metrics-port (or metrics_port in qabot.toml), or stop what uses it"


def error_kind(error: BaseException | str) -> str:
    """A short label for an error: `IndexUnavailableError` -> "index_unavailable"; text is kept as given."""
    if isinstance(error, str):
        return error
    name = type(error).__name__.removesuffix("Error") or type(error).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _age_s(info: dict) -> float | None:
    """Seconds since `built_at` (now, not when info() was read: info is kept for as long as its build)."""
    try:
        when = datetime.fromisoformat(str(info.get("built_at", "")).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((datetime.now(UTC) - when).total_seconds(), 0.0)


def _sets(info: dict) -> dict[str, dict]:
    """Documents and chunks per set; an engine without sets has one: "all", its totals."""
    sets = info.get("sets")
    if sets:
        return sets
    return {"all": {"documents": info.get("documents", 0), "chunks": info.get("chunks", 0)}}


class Metrics:
    """The bot's metrics, its `/metrics` and `/healthz` server, and the calls the bot records through."""

    def __init__(self, bot):
        self.bot = bot
        self.registry = CollectorRegistry()
        r = self.registry
        self.asks = Counter("qabot_asks", "Questions that reached the engine, by outcome", ["outcome"], registry=r)
        self.abstentions = Counter(
            "qabot_abstentions",
            "Abstentions, by why: no passage came near, or the closest passages were shown",
            ["why"],
            registry=r,
        )
        self.errors = Counter("qabot_errors", "Errors, by kind", ["kind"], registry=r)
        self.rate_limited_asks = Counter("qabot_rate_limited", "Asks refused by the per-user rate limit", registry=r)
        self.answer_seconds = Histogram(
            "qabot_answer_seconds",
            "Time to answer a question, as the bot waits for it",
            buckets=ANSWER_BUCKETS,
            registry=r,
        )
        self.builds = Counter("qabot_builds", "Index builds, by trigger and result", ["trigger", "result"], registry=r)
        self.build_seconds = Histogram(
            "qabot_build_seconds",
            "Duration of index builds that finished",
            ["trigger"],
            buckets=BUILD_BUCKETS,
            registry=r,
        )
        self.syncs = Counter(
            "qabot_source_syncs", "Syncs of remote sources, by source and result", ["source", "result"], registry=r
        )
        self.sync_seconds = Histogram(
            "qabot_source_sync_seconds", "Duration of remote source syncs", ["source"], buckets=SYNC_BUCKETS, registry=r
        )
        for outcome in OUTCOMES:  # series exist at 0 from the start, so rate() sees the first ask
            self.asks.labels(outcome)
        r.register(_IndexCollector(self))
        self.snapshot: dict = {}  # the engine's info() at the last scrape, or {"error": why}
        self._info: dict = {}  # info() of the last build read
        self._lock = threading.Lock()  # scrapes may overlap: one reads the engine at a time
        self._seen_refreshes: list = []  # the objects, not their ids: a freed one's id is reused
        self._seen_builds: list = []
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # where it listens, once started (port 0 picks a free one)

    # ---- what the bot records -------------------------------------------------------------
    def asked(self, answer, seconds: float) -> None:
        """An ask the engine answered (or abstained on), and how long the user waited."""
        self.answer_seconds.observe(seconds)
        if answer.abstained:
            self.asks.labels("abstained").inc()
            self.abstentions.labels("closest_shown" if answer.quotes else "nothing_near").inc()
        else:
            self.asks.labels("answered").inc()

    def failed(self, error: BaseException | str, *, ask: bool = False) -> None:
        """An error, by kind (an exception's class, or a name such as "send"); `ask`: an ask it ended."""
        self.errors.labels(error_kind(error)).inc()
        if ask:
            self.asks.labels("error").inc()

    def rate_limited(self) -> None:
        self.rate_limited_asks.inc()

    def built(self, summary, trigger: str) -> None:
        """A build the bot ran itself finished ("start", "reindex", "save": a saved answer indexed)."""
        self._seen_builds = [*self._seen_builds[-(SEEN_BUILDS - 1) :], summary]
        self.builds.labels(trigger, "ok").inc()
        self.build_seconds.labels(trigger).observe(summary.seconds)

    def build_failed(self, trigger: str, result: str = "failed") -> None:
        """A build that did not finish: "failed", or "locked" (another build held the lock)."""
        self.builds.labels(trigger, result).inc()

    # ---- read at scrape time, off the event loop --------------------------------------------
    def _read_refreshes(self) -> None:
        """The engine's refreshes (the scheduler's syncs and builds) not counted yet, once each is done."""
        refreshes = tuple(getattr(self.bot.engine, "refreshes", ()))
        for refresh in refreshes:
            if any(refresh is seen for seen in self._seen_refreshes) or (refresh.build is None and not refresh.error):
                continue  # counted already, or its build is still running
            self._seen_refreshes.append(refresh)
            for sync in refresh.syncs:
                self.syncs.labels(sync.name, "ok" if sync.ok else "failed").inc()
                self.sync_seconds.labels(sync.name).observe(sync.seconds)
            if refresh.build is not None and not any(refresh.build is s for s in self._seen_builds):
                self.builds.labels("refresh", "ok").inc()
                self.build_seconds.labels("refresh").observe(refresh.build.seconds)
            elif refresh.error:
                self.build_failed("refresh")
        self._seen_refreshes = [r for r in self._seen_refreshes if any(r is x for x in refreshes)]  # as the deque

    def _read_index(self) -> dict:
        """The engine's info() (or why it failed), with the index's age. A build never changes, so its
        info (its per-set counts walk every document) is read once per build."""
        engine = self.bot.engine
        try:
            build_id = engine.build().build_id if hasattr(engine, "build") else None
            info = self._info
            if build_id is None or info.get("build_id") != build_id:
                info = self._info = dict(engine.info())
            info = dict(info)
        except IndexUnavailableError as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            return {"error": f"{exc}{hint}"}
        except Exception as exc:
            log.exception("could not read the index for metrics")
            return {"error": f"the index could not be read ({type(exc).__name__})"}
        info["index_age_s"] = _age_s(info)
        return info

    def scrape(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics in the format Prometheus asked for (blocking: run it in a thread)."""
        with self._lock:
            self._read_refreshes()
            self.snapshot = self._read_index()
            encoder, content_type = choose_encoder(accept)
            return encoder(self.registry), content_type

    def health(self) -> tuple[int, dict]:
        """200 and a short summary when the engine can read the index it answers from, else 503 and why
        (blocking: run it in a thread)."""
        info = self._read_index()
        if "error" in info:
            return 503, {"status": "unavailable", "reason": info["error"]}
        age = info.get("index_age_s")
        return 200, {
            "status": "ok",
            "build_id": info.get("build_id"),
            "built_at": info.get("built_at"),
            "index_age_s": None if age is None else round(age, 1),
            "documents": info.get("documents"),
            "chunks": info.get("chunks"),
        }

    # ---- the server --------------------------------------------------------------------------
    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = await asyncio.to_thread(self.scrape, request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _healthz(self, request: web.Request) -> web.Response:
        status, body = await asyncio.to_thread(self.health)
        return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, separators=(",", ":")))

    async def start(self) -> None:
        """Listen on the settings' metrics host and port; nothing when no port is set. Idempotent."""
        port = getattr(self.bot.settings, "metrics_port", None)
        if port is None or self._runner is not None:
            return
        host = getattr(self.bot.settings, "metrics_host", "") or DEFAULT_HOST
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None)  # a scrape every 15 s is not news for the log
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except (OSError, OverflowError) as exc:
            await runner.cleanup()
            raise MetricsError(f"the metrics server cannot listen on {host}:{port} ({exc})") from None
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("metrics on http://%s:%d/metrics, health on /healthz", host, self.port)

    async def stop(self) -> None:
        """Stop listening (the bot is closing); safe to call when it never started."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("metrics server stopped")


class _IndexCollector:
    """The gauges read at scrape time: from `Metrics.snapshot` (taken just before, off the loop) and the
    gateway's latency (a float the bot keeps)."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def describe(self):
        return []  # not known until the first scrape (the sets come from the index)

    def collect(self):
        info = self.metrics.snapshot
        available = GaugeMetricFamily("qabot_index_available", "1 when the engine can read the index, else 0")
        available.add_metric([], 0.0 if "error" in info or not info else 1.0)
        yield available
        if info and "error" not in info:
            if info.get("index_age_s") is not None:
                yield GaugeMetricFamily(
                    "qabot_index_age_seconds", "Seconds since the index in service was built", value=info["index_age_s"]
                )
            docs = GaugeMetricFamily("qabot_index_documents", "Documents in the index, per set", labels=["set"])
            chunks = GaugeMetricFamily("qabot_index_chunks", "Passages (chunks) in the index, per set", labels=["set"])
            for name, counts in sorted(_sets(info).items()):
                docs.add_metric([name], float(counts.get("documents", 0)))
                chunks.add_metric([name], float(counts.get("chunks", 0)))
            yield docs
            yield chunks
        latency = getattr(self.metrics.bot, "latency", math.nan)
        yield GaugeMetricFamily(
            "qabot_gateway_latency_seconds",
            "Discord gateway heartbeat latency (NaN before the first heartbeat)",
            value=float(latency),
        )


__all__ = ["DEFAULT_HOST", "Metrics", "MetricsError", "error_kind"]
