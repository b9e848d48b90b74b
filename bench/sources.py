"""Measurements of the sources (`qabot bench sources`, or `python -m bench.sources PART`):

- `watch`: how soon a change in a watched folder is answerable: 20 edits, each a new sentence appended
  to a document while the scheduler runs with the real model; the time from the write until `ask`
  quotes the sentence (p50, p95, max). Target: within 5 s.
- `web`: a no-change refresh of a 500-page site on loopback: requests, 304s, bytes and time, and the
  chunks embedded (target: conditional requests only, nothing embedded).
- `extract`: which extractor keeps more of the real text of the test pages (trafilatura,
  readability-lxml, the built-in HTML loader): the share of each page's article sentences kept, and
  how many boilerplate sentences (menus, footers, cookie notes) leaked in.
- `git`: the git backends compared on a local 500-file repository (no network): the git binary as
  index/git_source.py runs it, dulwich and GitPython; the first mirror fetch, a no-change fetch, a
  fetch of one new commit, and reading every file's bytes at a commit (median of 3 runs each), and
  each backend's installed size. Run only when asked: dulwich and GitPython are not dependencies of
  qabot (`pip install dulwich GitPython` first; a backend that is missing is reported as such).

LoopbackSite is the website of these measurements and of tests/test_fetch_web.py: a real HTTP server on
127.0.0.1 in a thread, with a sitemap, robots.txt, ETags and 304s, redirects, failures and delays.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WATCH_EDITS = 20
WEB_PAGES = 500
WATCH_TIMEOUT_S = 60.0  # an edit not answerable after this counts as a failure
LAST_MODIFIED = "Mon, 01 Jun 2026 10:00:00 GMT"
GIT_FILES = 500
GIT_FILE_WORDS = 500  # about 3.5 KB of text per file: the size of a handbook page
GIT_RUNS = 3  # each figure is the median of this many runs
GIT_BRANCH = "main"
GIT_FETCHED = "refs/qabot/fetched"  # where every backend puts the fetched branch, as git_source does


class LoopbackSite:
    """A website on 127.0.0.1: `pages` maps a path to (content type, body); `listed` is what the sitemap
    lists; `robots` the robots.txt text (None: 404; `robots_status` overrides); `redirects`, `status`
    and `delay` map paths to a Location, an HTTP status or seconds of silence before answering.
    `hits` counts requests per path, `sent` the body bytes sent."""

    def __init__(self):
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.listed: list[str] = []
        self.robots: str | None = "User-agent: *\nDisallow: /private\n"
        self.robots_status = 200
        self.redirects: dict[str, str] = {}
        self.status: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self.hits: Counter = Counter()
        self.sent = 0
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                site.answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackSite:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def page(self, path: str, title: str, body: str, listed: bool = True, extra: str = "") -> None:
        """An HTML page with navigation and a footer around its article (`extra` goes in the footer)."""
        paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n") if p)
        html = (
            f"<html><head><title>{title}</title></head><body>"
            "<nav><a href='/'>Home</a> <a href='/pricing'>Pricing</a> <a href='/blog'>Blog</a></nav>"
            f"<main><article><h1>{title}</h1>{paragraphs}</article></main>"
            f"<footer>Copyright Acme Corporation. All rights reserved. {extra}</footer></body></html>"
        )
        self.pages[path] = ("text/html; charset=utf-8", html.encode())
        if listed and path not in self.listed:
            self.listed.append(path)

    def sitemap(self) -> bytes:
        locs = "".join(f"<url><loc>{self.url(p)}</loc></url>" for p in self.listed)
        return (
            f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'.encode()
        )

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        with self.lock:
            self.hits[path] += 1
        if path in self.delay:
            time.sleep(self.delay[path])
        headers: dict[str, str] = {}
        if path in self.status:
            code, ctype, body = self.status[path], "text/plain", b"error"
        elif path in self.redirects:
            code, ctype, body = 302, "text/plain", b""
            headers["Location"] = self.redirects[path]
        elif path == "/robots.txt":
            if self.robots is None:
                code, ctype, body = 404, "text/plain", b"not found"
            else:
                code, ctype, body = self.robots_status, "text/plain", self.robots.encode()
        elif path == "/sitemap.xml":
            code, ctype, body = 200, "application/xml", self.sitemap()
        elif path in self.pages:
            ctype, body = self.pages[path]
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            headers |= {"ETag": etag, "Last-Modified": LAST_MODIFIED}
            code = 304 if h.headers.get("If-None-Match") == etag else 200
            if code == 304:
                body = b""
        else:
            code, ctype, body = 404, "text/plain", b"not found"
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        try:
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (a page too big)
            return
        with self.lock:
            self.sent += len(body)


# ---- the measurements ------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def bench_watch(edits: int = WATCH_EDITS) -> dict:
    """Seconds from writing a sentence into a watched folder until `ask` quotes it, over `edits` edits."""
    from index.config import Settings
    from index.engine import Engine
    from index.scheduler import Scheduler
    from index.sourcespec import SourceSpec

    root = Path(tempfile.mkdtemp(prefix="qabot-bench-watch-"))
    try:
        shutil.copytree(Path(__file__).resolve().parent.parent / "docs_corpus", root / "docs_corpus")
        settings = Settings(
            root=root, index_dir=".qabot", sources=(), source=SourceSpec.parse_all([{"folder": "docs_corpus"}])
        )
        engine = Engine(settings)
        engine.rebuild()
        engine.ask("warm up the model")
        scheduler = Scheduler(engine)
        scheduler.start()
        target = sorted((root / "docs_corpus").glob("*.md"))[0]
        took, missed = [], 0
        try:
            time.sleep(2.0)  # the catch-up build at start
            for i in range(edits):
                word = "".join(chr(ord("a") + (i * 7 + k * 3) % 26) for k in range(8))
                sentence = f"The harbour pilot code for edit {i} is {word}quay and it was issued on Tuesday."
                t0 = time.perf_counter()
                with open(target, "a", encoding="utf-8") as fh:
                    fh.write(f"\n\n{sentence}\n")
                while True:
                    answer = engine.ask(f"What is the harbour pilot code for edit {i}?")
                    if any(f"{word}quay" in q.text for q in [*answer.quotes, *answer.more]):
                        took.append(time.perf_counter() - t0)
                        break
                    if time.perf_counter() - t0 > WATCH_TIMEOUT_S:
                        missed += 1
                        break
                    time.sleep(0.05)
        finally:
            scheduler.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "edits": edits,
        "answerable": len(took),
        "missed": missed,
        "p50_s": round(statistics.median(took), 2) if took else None,
        "p95_s": round(_pct(took, 0.95), 2) if took else None,
        "max_s": round(max(took), 2) if took else None,
        "builds": scheduler.runs,
    }


def article(i: int) -> str:
    """Page i's article: four sentences naming it (so each page has text of its own)."""
    return "\n".join(
        f"Section {i} of the runbook covers service number {i} and its {kind} procedure in detail."
        for kind in ("deployment", "rollback", "monitoring", "escalation")
    )


def bench_web(pages: int = WEB_PAGES, rate: float = 0.0) -> dict:
    """A first sync and then a no-change refresh of a `pages`-page site on loopback (hash encoder)."""
    from index.config import Settings
    from index.engine import Engine
    from index.sourcespec import SourceSpec

    root = Path(tempfile.mkdtemp(prefix="qabot-bench-web-"))
    try:
        with LoopbackSite() as site:
            for i in range(pages):
                site.page(f"/docs/page-{i}", f"Runbook page {i}", article(i))
            spec = {"sitemap": site.url("/sitemap.xml"), "rate": rate, "max_pages": max(pages, 1)}
            settings = Settings(
                root=root, index_dir=".qabot", sources=(), source=SourceSpec.parse_all([spec]), encoder="hash"
            )
            engine = Engine(settings)
            t0 = time.perf_counter()
            first = engine.refresh()
            first_s = time.perf_counter() - t0
            sent0, hits0 = site.sent, sum(site.hits.values())
            t0 = time.perf_counter()
            again = engine.refresh()
            again_s = time.perf_counter() - t0
            report = again.syncs[0]
            return {
                "pages": pages,
                "rate_per_s": rate,
                "first_sync_s": round(first_s, 2),
                "first_sync_bytes": first.syncs[0].bytes,
                "refresh_s": round(again_s, 2),
                "refresh_sync_s": round(report.seconds, 2),
                "refresh_requests": report.requests,
                "refresh_not_modified": report.not_modified,
                "refresh_body_bytes_received": report.bytes,
                "refresh_body_bytes_sent_by_site": site.sent - sent0,
                "refresh_requests_seen_by_site": sum(site.hits.values()) - hits0,
                "refresh_embedded_chunks": again.build.embedded_chunks if again.build else None,
                "refresh_switched": again.build.switched if again.build else None,
            }
    finally:
        shutil.rmtree(root, ignore_errors=True)


# Test pages for the extractors: the article's sentences (what should be kept) inside boilerplate.
BOILERPLATE = [
    "Sign in to your account to continue.",
    "We use cookies to improve your experience on our website.",
    "Subscribe to our newsletter for the latest product updates.",
    "Copyright Acme Corporation, all rights reserved worldwide.",
    "Related articles you might also enjoy reading today.",
]


def extraction_pages() -> list[tuple[str, list[str]]]:
    """(html, article sentences) for pages of four layouts: a docs page, a blog post with a sidebar, a
    page of short list items and a table, and a page without <main> or <article>."""
    out = []
    for n, layout in enumerate(["docs", "blog", "lists", "bare", "sections", "comments", "short"]):
        sentences = [
            f"The {layout} page explains how service {n} stores its backups in region {r} every night."
            for r in ("north", "south", "east", "west", "central")
        ]
        nav = (
            "<nav><ul>" + "".join(f"<li><a href='/{k}'>{k}</a></li>" for k in ("Home", "Docs", "Blog")) + "</ul></nav>"
        )
        chrome = f"<div class='banner'>{BOILERPLATE[1]}</div><header>{BOILERPLATE[0]}</header>"
        side = f"<aside><h3>More</h3><p>{BOILERPLATE[4]}</p><p>{BOILERPLATE[2]}</p></aside>"
        foot = f"<footer><p>{BOILERPLATE[3]}</p></footer>"
        if layout == "docs":
            body = f"<main><h1>Backups</h1>{''.join(f'<p>{s}</p>' for s in sentences)}</main>"
        elif layout == "blog":
            body = f"<article><h1>Backups</h1>{''.join(f'<p>{s}</p>' for s in sentences)}</article>{side}"
        elif layout == "lists":
            items = "".join(f"<li>{s}</li>" for s in sentences[:3])
            rows = "".join(f"<tr><td>{s}</td></tr>" for s in sentences[3:])
            body = f"<main><h1>Backups</h1><ul>{items}</ul><table>{rows}</table></main>"
        elif layout == "bare":
            body = f"<div class='content'><h1>Backups</h1>{''.join(f'<div>{s}</div>' for s in sentences)}</div>{side}"
        elif layout == "sections":  # the article in sibling sections, each a heading and one short paragraph
            body = "".join(f"<section><h2>Part {i}</h2><p>{s}</p></section>" for i, s in enumerate(sentences))
            body = f"<div id='page'>{body}</div>{side}"
        elif layout == "short":  # a page of one paragraph: the menu around it is as long as it is
            body = f"<main><h1>Backups</h1><p>{' '.join(sentences[:2])}</p></main>"
            sentences = sentences[:2]
        else:  # a short article followed by a long comment thread of boilerplate-like text
            thread = "".join(
                f"<div class='comment'><p>{BOILERPLATE[4]} {BOILERPLATE[2]} {c}</p></div>" for c in range(8)
            )
            body = f"<article><h1>Backups</h1><p>{' '.join(sentences)}</p></article><div id='comments'>{thread}</div>"
        out.append(
            (f"<html><head><title>Backups {n}</title></head><body>{chrome}{nav}{body}{foot}</body></html>", sentences)
        )
    return out


def bench_extract() -> dict:
    """Real text kept and boilerplate leaked by each extractor over extraction_pages()."""
    import re

    from readability import Document as Readability

    from index.fetch_web import extract
    from index.loaders import load_html

    def readability_text(html: str) -> str:
        return re.sub(r"<[^>]+>", " ", Readability(html).summary())

    def trafilatura_default(html: str) -> str:
        import trafilatura

        return trafilatura.extract(html, include_comments=False) or ""

    extractors = {
        "trafilatura (as qabot runs it: favor_precision)": lambda html: extract(html, "http://127.0.0.1/page")[1],
        "trafilatura (default settings)": trafilatura_default,
        "readability-lxml": readability_text,
        "built-in loader": lambda html: load_html(html, "page")["text"],
    }
    pages = extraction_pages()
    out = {}
    for name, fn in extractors.items():
        kept = leaked = total = 0
        for html, sentences in pages:
            text = " ".join(fn(html).split())
            kept += sum(1 for s in sentences if s in text)
            leaked += sum(1 for b in BOILERPLATE if b in text)
            total += len(sentences)
        shown = len(BOILERPLATE) * len(pages)
        out[name] = {
            "real_sentences_kept": f"{kept}/{total}",
            "boilerplate_leaked": f"{leaked}/{shown}",
        }
    return out


# ---- git backends ----------------------------------------------------------------------------------


def _run_git(repo: Path, *args: str) -> str:
    import subprocess

    env = {"GIT_AUTHOR_DATE": "2026-12-01T10:00:00Z", "GIT_COMMITTER_DATE": "2026-12-01T10:00:00Z"}
    out = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=bench@example.org", "-c", "user.name=Bench", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return out.stdout.strip()


def git_page(i: int, words: int = GIT_FILE_WORDS) -> str:
    """File i of the benchmark repository: a heading and `words` words that differ from every other file's."""
    import random

    rng = random.Random(i)
    vocabulary = ("deploy", "rollback", "cluster", "review", "release", "runbook", "alert", "owner", "budget")
    body = " ".join(f"{rng.choice(vocabulary)}{rng.randrange(1000)}" for _ in range(words))
    return f"# Page {i}\n\n{body}\n"


def git_bench_repo(root: Path, files: int) -> tuple[Path, str, str]:
    """A repository of `files` markdown files on branch main at commit `base`, and a commit `change` on top
    of it that changes one file (on no branch: a run moves main to it, then back)."""
    src = root / "src"
    src.mkdir()
    _run_git(src, "init", "-q", "-b", GIT_BRANCH)
    for i in range(files):
        folder = src / "docs" / f"part{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"page{i}.md").write_text(git_page(i))
    _run_git(src, "add", "-A")
    _run_git(src, "commit", "-qm", "handbook")
    base = _run_git(src, "rev-parse", "HEAD")
    (src / "docs" / "part0" / "page0.md").write_text(git_page(0) + "\nThe rollback now takes five minutes.\n")
    _run_git(src, "commit", "-qam", "one change")
    change = _run_git(src, "rev-parse", "HEAD")
    _run_git(src, "update-ref", f"refs/heads/{GIT_BRANCH}", base)
    return src, base, change


class BinaryBackend:
    """The git binary through subprocess, through index/git_source.py's own functions."""

    name = "git binary (subprocess, as qabot runs it)"

    def __init__(self, src: Path, folder: Path):
        from index.sourcespec import SourceSpec

        self.spec = SourceSpec.parse({"git": str(src), "branch": GIT_BRANCH}, "bench")
        self.folder = folder

    def fetch(self) -> str:
        from index import git_source

        return git_source.fetch(self.spec, self.folder, None).commit

    def read_all(self, commit: str) -> dict[str, bytes]:
        from index import git_source

        mirror = self.folder / git_source.MIRROR
        tree = git_source._tree(mirror, commit, self.spec.timeout)  # as documents() reads: one ls-tree,
        blobs = git_source._blobs(mirror, sorted({e.sha for e in tree.values()}), self.spec.timeout)  # one cat-file
        return {path: blobs[e.sha] for path, e in tree.items()}


class DulwichBackend:
    """dulwich: git in pure Python (with optional compiled helpers); its own object store and transports."""

    name = "dulwich"

    def __init__(self, src: Path, folder: Path):
        from dulwich.repo import Repo

        folder.mkdir(parents=True)
        self.repo = Repo.init_bare(str(folder / "repo.git"), mkdir=True)
        self.src = str(src)

    def fetch(self) -> str:
        from dulwich.client import get_transport_and_path

        client, path = get_transport_and_path(self.src)
        result = client.fetch(path, self.repo, ref_prefix=[f"refs/heads/{GIT_BRANCH}".encode()])
        commit = result.refs[f"refs/heads/{GIT_BRANCH}".encode()]
        self.repo.refs[GIT_FETCHED.encode()] = commit
        # dulwich tells the remote what it has from refs/heads/* only: without a branch there, every fetch
        # would bring the whole history again
        self.repo.refs[f"refs/heads/{GIT_BRANCH}".encode()] = commit
        return commit.decode()

    def read_all(self, commit: str) -> dict[str, bytes]:
        store = self.repo.object_store
        tree = self.repo[commit.encode()].tree
        return {e.path.decode(): store[e.sha].data for e in store.iter_tree_contents(tree)}


class GitPythonBackend:
    """GitPython: a Python API over the git binary (fetch runs `git fetch`, reads go through `git cat-file`)."""

    name = "GitPython"

    def __init__(self, src: Path, folder: Path):
        import git

        folder.mkdir(parents=True)
        self.repo = git.Repo.init(folder / "repo.git", bare=True)
        self.remote = self.repo.create_remote("origin", str(src))

    def fetch(self) -> str:
        self.remote.fetch(f"+refs/heads/{GIT_BRANCH}:{GIT_FETCHED}", no_tags=True)
        return self.repo.rev_parse(GIT_FETCHED).hexsha

    def read_all(self, commit: str) -> dict[str, bytes]:
        tree = self.repo.commit(commit).tree
        return {b.path: b.data_stream.read() for b in tree.traverse() if b.type == "blob"}


GIT_BACKENDS = {"git": BinaryBackend, "dulwich": DulwichBackend, "gitpython": GitPythonBackend}
GIT_DISTRIBUTIONS = {"dulwich": ("dulwich",), "gitpython": ("GitPython", "gitdb", "smmap")}


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def _git_run(backend_class, src: Path, folder: Path, base: str, change: str) -> dict[str, float]:
    """One run of one backend: a first fetch into an empty mirror, a fetch with nothing new, a fetch after
    main moves one commit on, and every file read at that commit. Raises if a backend got it wrong."""

    def first_fetch():  # making the empty mirror counts: git_source.fetch does it on first use
        backend = backend_class(src, folder)
        return backend, backend.fetch()

    (backend, got), first = _timed(first_fetch)
    again, no_change = _timed(backend.fetch)
    _run_git(src, "update-ref", f"refs/heads/{GIT_BRANCH}", change)
    try:
        moved, one_commit = _timed(backend.fetch)
    finally:
        _run_git(src, "update-ref", f"refs/heads/{GIT_BRANCH}", base)
    files, read = _timed(lambda: backend.read_all(change))
    if (got, again, moved) != (base, base, change):
        raise RuntimeError(f"{backend.name} fetched {got}, {again}, {moved}; expected {base}, {base}, {change}")
    digest = hashlib.sha256(b"".join(p.encode() + b"\0" + files[p] for p in sorted(files))).hexdigest()
    return {
        "first_fetch_s": first,
        "no_change_fetch_s": no_change,
        "one_commit_fetch_s": one_commit,
        "read_all_s": read,
        "files": len(files),
        "digest": digest,
    }


def _installed_mb(distributions: tuple[str, ...]) -> float:
    """Megabytes on disk of these installed distributions (their RECORD's files)."""
    from importlib.metadata import distribution

    total = 0
    for name in distributions:
        for f in distribution(name).files or []:
            located = Path(f.locate())
            total += located.stat().st_size if located.is_file() else 0
    return round(total / 1e6, 1)


def _footprint(key: str) -> dict:
    """What a backend adds to an installation (the git binary: a system package, not a Python one)."""
    from importlib.metadata import version

    if key == "git":
        return {"version": _run_git(Path("."), "--version").removeprefix("git version "), "python_packages": []}
    names = GIT_DISTRIBUTIONS[key]
    return {"version": version(names[0]), "python_packages": list(names), "installed_mb": _installed_mb(names)}


def _available(key: str) -> bool:
    """Whether the backend's package is installed; imported here, so no timed run pays for the import."""
    import importlib

    try:
        importlib.import_module({"git": "index.git_source", "dulwich": "dulwich.client", "gitpython": "git"}[key])
    except ImportError:
        return False
    return True


def bench_git(files: int = GIT_FILES, runs: int = GIT_RUNS) -> dict:
    """The git backends on a local `files`-file repository: median seconds of `runs` runs per step."""
    root = Path(tempfile.mkdtemp(prefix="qabot-bench-git-"))
    try:
        src, base, change = git_bench_repo(root, files)
        keys = [k for k in GIT_BACKENDS if _available(k)]
        samples: dict[str, list[dict]] = {k: [] for k in keys}
        for run in range(runs):  # backends interleaved, so the machine's other work spreads over all
            for key in keys:
                samples[key].append(_git_run(GIT_BACKENDS[key], src, root / f"{key}-{run}", base, change))
        digests = {s["digest"] for runs_of in samples.values() for s in runs_of}
        if len(digests) != 1:
            raise RuntimeError("the backends read different bytes")
        out: dict = {"files": files, "repository_kb": _tree_kb(src), "runs": runs}
        for key, runs_of in samples.items():
            figures = {m: round(statistics.median(s[m] for s in runs_of), 3) for m in runs_of[0] if m.endswith("_s")}
            out[GIT_BACKENDS[key].name] = {**figures, "files_read": runs_of[0]["files"], **_footprint(key)}
        for key in GIT_BACKENDS.keys() - set(keys):
            out[GIT_BACKENDS[key].name] = "not installed"
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _tree_kb(src: Path) -> int:
    """Kilobytes of the files of the repository's work tree (its .git folder left out)."""
    return round(sum(f.stat().st_size for f in (src / "docs").rglob("*.md")) / 1000)


PARTS = ("extract", "web", "watch", "git")
DEFAULT_PARTS = ("extract", "web", "watch")  # `git` needs two packages qabot does not depend on


def main(args=None) -> int:
    """`qabot bench sources` (every part, default sizes) or `python -m bench.sources [PART] [options]`."""
    if args is None:
        p = argparse.ArgumentParser(prog="python -m bench.sources", description=__doc__.split("\n\n")[0])
        p.add_argument("part", nargs="?", choices=sorted(PARTS), help="one measurement (default: all)")
        p.add_argument("--pages", type=int, default=WEB_PAGES, help="pages of the `web` site")
        p.add_argument("--rate", type=float, default=0.0, help="`web`: requests per second per host (0: no limit)")
        p.add_argument("--edits", type=int, default=WATCH_EDITS, help="`watch`: edits timed")
        p.add_argument("--files", type=int, default=GIT_FILES, help="`git`: files in the repository")
        args = p.parse_args()
    part = getattr(args, "part", None)
    runs = {
        "extract": bench_extract,
        "web": lambda: bench_web(getattr(args, "pages", WEB_PAGES), getattr(args, "rate", 0.0)),
        "watch": lambda: bench_watch(getattr(args, "edits", WATCH_EDITS)),
        "git": lambda: bench_git(getattr(args, "files", GIT_FILES)),
    }
    for name in [part] if part else DEFAULT_PARTS:
        print(f"SOURCES {name}: {json.dumps(runs[name]())}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
