"""Measurements of the sources (`qabot bench sources`, or `python -m bench.sources PART`):

- `watch`: how soon a change in a watched folder is answerable: 20 edits, each a new sentence appended
  to a document while the scheduler runs with the real model; the time from the write until `ask`
  quotes the sentence (p50, p95, max). Target: within 5 s.
- `web`: a no-change refresh of a 500-page site on loopback: requests, 304s, bytes and time, and the
  chunks embedded (target: conditional requests only, nothing embedded).
- `extract`: which extractor keeps more of the real text of the test pages (trafilatura,
  readability-lxml, the built-in HTML loader): the share of each page's article sentences kept, and
  how many boilerplate sentences (menus, footers, cookie notes) leaked in.

LoopbackSite is the website of these measurements and of tests/test_fetch_web.py: a real HTTP server on
127.0.0.1 in a thread, with a sitemap, robots.txt, ETags and 304s, redirects, failures and delays.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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


PARTS = ("extract", "web", "watch")


def main(args=None) -> int:
    """`qabot bench sources` (every part, default sizes) or `python -m bench.sources [PART] [options]`."""
    if args is None:
        p = argparse.ArgumentParser(prog="python -m bench.sources", description=__doc__.split("\n\n")[0])
        p.add_argument("part", nargs="?", choices=sorted(PARTS), help="one measurement (default: all)")
        p.add_argument("--pages", type=int, default=WEB_PAGES, help="pages of the `web` site")
        p.add_argument("--rate", type=float, default=0.0, help="`web`: requests per second per host (0: no limit)")
        p.add_argument("--edits", type=int, default=WATCH_EDITS, help="`watch`: edits timed")
        args = p.parse_args()
    part = getattr(args, "part", None)
    runs = {
        "extract": bench_extract,
        "web": lambda: bench_web(getattr(args, "pages", WEB_PAGES), getattr(args, "rate", 0.0)),
        "watch": lambda: bench_watch(getattr(args, "edits", WATCH_EDITS)),
    }
    for name in [part] if part else list(runs):
        print(f"SOURCES {name}: {json.dumps(runs[name]())}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
