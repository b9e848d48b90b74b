"""Syncing sources and reading what they hold: the rule that no failing source loses documents.

Each remote source (git, sitemap, urls) has a folder `INDEX_DIR/sources/<slug>/` with
    snapshot.json   what the last *good* sync found: a git commit, or the web pages' text and validators;
                    replaced atomically (write, fsync, os.replace) and only by a sync that succeeded
    status.json     how the last attempt went: when, the error if it failed, what it changed, when next
    lock            flock()ed while a sync of this source runs (a second one is refused, not interleaved)
    repo.git        for git: the bare mirror (git_source.py)

A build reads every source's snapshot (and every folder as before), so a source that is unreachable, times
out, answers errors or has lost its repository keeps its last good documents: its snapshot is untouched,
its status says stale with the error. A sync that would drop more than half of a source's documents
(a sitemap that suddenly shrinks, a branch force-pushed to a stub) is held as an error until an admin
runs `qabot index --accept-removals`, the way Kapa holds large crawl changes for review. A `kill -9`
in the middle of a sync leaves the old snapshot in place: the next sync simply starts again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .config import Settings
from .errors import SourceError
from .loaders import load_documents
from .sourcespec import SourceSpec
from .types import Document

log = logging.getLogger(__name__)

SOURCES_DIR = "sources"
SNAPSHOT = "snapshot.json"
STATUS = "status.json"
SHRINK_HELD = 0.5  # a sync keeping less than this share of a source's documents is held for --accept-removals
SHRINK_MIN = 4  # ... once the source has at least this many (a two-page site may lose one)
RETRY_S = 60.0  # a failed sync is retried after this, doubling up to the source's refresh period


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def slug(name: str) -> str:
    """A folder name for a source: readable, and distinct for distinct names."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:60] or "source"
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def source_dir(settings: Settings, spec: SourceSpec) -> Path:
    return settings.index_path / SOURCES_DIR / slug(spec.name)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s cannot be read (%s); treated as empty", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict) -> None:
    """Atomically: a reader (or a kill -9) sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class SyncReport:
    """One sync of one source: what it found and changed, or why it failed."""

    name: str
    kind: str
    ok: bool = False
    error: str = ""
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    documents: int = 0  # the source's documents in its snapshot after this sync
    requests: int = 0
    bytes: int = 0
    not_modified: int = 0
    failed_pages: int = 0
    commit: str = ""
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        if not self.ok:
            return f"{self.name}: sync failed: {self.error}; its last good documents stay in the index"
        out = (
            f"{self.name}: {self.added} added, {self.changed} changed, {self.removed} removed, "
            f"{self.unchanged} unchanged"
        )
        if self.kind in ("sitemap", "urls"):
            out += f"; {self.requests} requests ({self.not_modified} not modified), {self.bytes:,} bytes"
            if self.failed_pages:
                out += f", {self.failed_pages} pages failed (kept as they were)"
        if self.commit:
            out += f"; at {self.commit[:12]}"
        return out + f" in {self.seconds:.1f} s"


class _SourceLock:
    """flock on the source's lock file: one sync of a source at a time, across processes."""

    def __init__(self, folder: Path, name: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise SourceError(f"another sync of {name} is running") from None

    def release(self) -> None:
        os.close(self.fd)


def _held(name: str, before: int, after: int, what: str) -> str:
    return (
        f"{what} {after} documents, down from {before} at the last good sync; held as an error so nothing is "
        f"removed by accident: check {name}, then run `qabot index --accept-removals` to accept the removals"
    )


def _shrinks(before: int, after: int) -> bool:
    return before >= SHRINK_MIN and after < before * SHRINK_HELD


def _count_changes(report: SyncReport, old: dict[str, str], new: dict[str, str]) -> None:
    """added / changed / removed / unchanged between two {identity: content hash} maps."""
    report.added = sum(1 for k in new if k not in old)
    report.removed = sum(1 for k in old if k not in new)
    report.changed = sum(1 for k, h in new.items() if k in old and old[k] != h)
    report.unchanged = sum(1 for k, h in new.items() if old.get(k) == h)
    report.documents = len(new)


def _sync_git(spec: SourceSpec, folder: Path, snapshot: dict, accept_removals: bool, report: SyncReport) -> dict:
    from . import git_source

    previous = snapshot.get("commit")
    fetched = git_source.fetch(spec, folder, previous)
    files, _ = git_source.list_files(spec, folder, fetched.commit)  # what it skips, the build reports
    warnings = []
    new = {p: e.sha for p, e in files.items()}
    old = snapshot.get("files") or {}
    if not accept_removals and _shrinks(len(old), len(new)):
        raise SourceError(_held(spec.name, len(old), len(new), f"branch {fetched.branch} now has"))
    if previous and not fetched.fast_forward:
        warnings.append(
            f"{spec.name}: branch {fetched.branch} was rewritten ({previous[:12]} is not an ancestor of "
            f"{fetched.commit[:12]}, a force-push); indexing the new history"
        )
    git_source.keep(folder, fetched.commit)
    _count_changes(report, old, new)
    report.commit = fetched.commit
    report.warnings += warnings
    return {"commit": fetched.commit, "branch": fetched.branch, "files": new, "synced_at": now_iso()}


def _sync_web(spec: SourceSpec, snapshot: dict, accept_removals: bool, report: SyncReport) -> dict:
    from .fetch_web import Crawler, Page

    previous = {u: Page.from_json(p) for u, p in (snapshot.get("pages") or {}).items()}

    def hold(listed: list[str]) -> None:
        if not accept_removals and _shrinks(len(previous), len(listed)):
            raise SourceError(_held(spec.name, len(previous), len(listed), "the sitemap now lists"))

    crawler = Crawler(spec)
    try:
        crawl = crawler.run(previous, hold)
    finally:
        crawler.close()
        report.requests, report.bytes = crawler.crawl.requests, crawler.crawl.bytes
    report.not_modified = crawl.not_modified
    report.failed_pages = len(crawl.failed)
    report.warnings += crawl.warnings
    report.warnings += [f"{u}: {why}; its last good version is kept" for u, why in crawl.failed.items()]
    _count_changes(report, {u: p.hash for u, p in previous.items()}, {u: p.hash for u, p in crawl.pages.items()})
    unchanged = crawl.pages.keys() == previous.keys() and all(crawl.pages[u] is previous[u] for u in previous)
    data = {"pages": {u: p.to_json() for u, p in crawl.pages.items()}, "synced_at": now_iso()}
    return {} if unchanged else data  # {}: nothing to rewrite


def sync(settings: Settings, spec: SourceSpec, accept_removals: bool = False) -> SyncReport:
    """Fetch one remote source into its snapshot. Never raises for the source's own failures: the report
    (and status.json) carries the error, and the previous snapshot stays."""
    report = SyncReport(spec.name, spec.kind)
    folder = source_dir(settings, spec)
    t0 = time.perf_counter()
    started = now_iso()
    try:
        lock = _SourceLock(folder, spec.name)
    except (SourceError, OSError) as exc:
        report.error = str(exc)
        return report
    try:
        snapshot = _read_json(folder / SNAPSHOT)
        if spec.kind == "git":
            data = _sync_git(spec, folder, snapshot, accept_removals, report)
        else:
            data = _sync_web(spec, snapshot, accept_removals, report)
        if data:
            _write_json(folder / SNAPSHOT, data)
        report.ok = True
    except SourceError as exc:
        report.error = str(exc)
    except OSError as exc:
        report.error = f"cannot write {folder} ({exc.strerror or exc})"
    finally:
        report.seconds = time.perf_counter() - t0
        _record(folder, spec, report, started)
        lock.release()
    log.info("sync %s", report.line())
    return report


def _record(folder: Path, spec: SourceSpec, report: SyncReport, started: str) -> None:
    """status.json after an attempt: a failure keeps the last success's time and counts."""
    status = _read_json(folder / STATUS)
    failures = 0 if report.ok else int(status.get("failures", 0)) + 1
    wait = spec.refresh if report.ok else min(spec.refresh or RETRY_S, RETRY_S * 2 ** (failures - 1))
    status.update(
        name=spec.name,
        kind=spec.kind,
        location=spec.location,
        last_attempt=started,
        failures=failures,
        last_error="" if report.ok else report.error,
        next_sync=datetime.fromtimestamp(time.time() + wait, UTC).isoformat(timespec="seconds") if wait else "",
        last_report=report.to_json(),
    )
    if report.ok:
        status["last_ok"] = now_iso()
    try:
        _write_json(folder / STATUS, status)
    except OSError as exc:
        log.warning("cannot record the sync of %s in %s (%s)", spec.name, folder, exc.strerror or exc)


def status(settings: Settings, spec: SourceSpec) -> dict:
    """status.json of a source ({} before its first sync)."""
    return _read_json(source_dir(settings, spec) / STATUS) if spec.remote else {}


# ---- what a build reads ------------------------------------------------------------------------
def _folder_of(path: str, folders: list[tuple[str, str]]) -> str:
    """The name of the folder source a document path (relative to the root) belongs to: the innermost."""
    best, depth = "", -1
    for name, rel in folders:
        if (rel in ("", ".") or path == rel or path.startswith(rel.rstrip("/") + "/")) and len(rel) > depth:
            best, depth = name, len(rel)
    return best


def source_documents(settings: Settings, spec: SourceSpec) -> tuple[list[Document], list[str]]:
    """A remote source's documents as its last good sync left them (none before its first good sync)."""
    folder = source_dir(settings, spec)
    snapshot = _read_json(folder / SNAPSHOT)
    if not snapshot:
        err = status(settings, spec).get("last_error")
        why = f" (last error: {err})" if err else "; run `qabot index` to fetch it"
        return [], [f"source {spec.name} has not been synced yet{why}"]
    if spec.kind == "git":
        from . import git_source

        try:
            return git_source.documents(spec, folder, snapshot["commit"])
        except (SourceError, KeyError) as exc:
            why = f"source {spec.name}: its mirror cannot be read ({exc}); run `qabot index --source {spec.name}`"
            return [], [why]
    from .fetch_web import Page

    return [Page.from_json(p).document() for p in (snapshot.get("pages") or {}).values()], []


def load_all(settings: Settings) -> tuple[list[Document], list[str], dict[str, int]]:
    """Every document a build indexes: the folders read as before (one pass, so their rules hold across
    them), then each remote source's last good snapshot, each in its source's sets; then the saved answers
    (index/saved.py). Returns documents, warnings and per-source counts."""
    specs = settings.all_sources
    folder_specs = [s for s in specs if s.kind == "folder"]
    paths = [(settings.root / s.location).resolve() for s in folder_specs]
    docs, warnings = load_documents(paths, settings.root, settings.base_url) if paths else ([], [])
    root = settings.root.resolve()
    rels = [(s.name, os.path.relpath(p, root).replace(os.sep, "/")) for s, p in zip(folder_specs, paths)]
    counts = {s.name: 0 for s in specs}
    sets_of = {s.name: s.all_sets for s in specs}
    for d in docs:
        owner = _folder_of(d.path, rels)
        if owner:
            counts[owner] += 1
            d.sets = sets_of[owner]
    seen = {d.path for d in docs}
    for spec in specs:
        if not spec.remote:
            continue
        found, notes = source_documents(settings, spec)
        warnings += notes
        for d in found:
            if d.path in seen:
                warnings.append(f"{d.path}: skipped in {spec.name}, another source has it")
                continue
            seen.add(d.path)
            d.sets = spec.all_sets
            docs.append(d)
            counts[spec.name] += 1
    from .saved import saved_documents

    found, notes = saved_documents(settings.index_path)  # each server's saved answers, in its saved set only
    warnings += notes
    docs += [d for d in found if d.path not in seen]
    return docs, warnings, counts


def select(settings: Settings, names: Iterable[str] | None) -> list[SourceSpec]:
    """The sources named (all of them when None); SourceError naming the known ones for an unknown name."""
    specs = list(settings.all_sources)
    if names is None:
        return specs
    by_name = {s.name: s for s in specs}
    chosen = []
    for n in names:
        if n not in by_name:
            known = ", ".join(by_name) or "none"
            raise SourceError(f"no source is named {n!r} (the sources are: {known})")
        chosen.append(by_name[n])
    return chosen
