"""Web sources: a sitemap (or a list of URLs) fetched politely into clean text.

Why each rule:
- robots.txt (protego) is read once per host and sync. A missing one (4xx) allows everything; one that
  cannot be fetched (5xx, unreachable) means "disallow all" (RFC 9309, 2.3.1.4), so the sync fails and
  the source keeps its last good pages instead of crawling a site that may not want it.
- Conditional requests: each page is asked for with the ETag and Last-Modified it had, so an unchanged
  page costs a 304 and no download, no extraction and no embedding.
- One request at a time per host, at most `rate` per second (slower if robots.txt asks).
- Caps: pages per source, bytes per page (the download stops there), redirects (each hop must stay
  http(s) and on an allowed host: by default only the sitemap's own host).
- Text: trafilatura's main-text extraction, which kept more of the real text on the test pages than
  readability-lxml (docs/SOURCES.md, `python -m bench.sources extract`); the built-in HTML loader is the
  fallback when it finds nothing. Emphasis markers are removed so quotes read as the page does.

A page that fails (timeout, 500, too big, a redirect loop) keeps its last good version; only a sync whose
listing succeeded and no longer lists a page drops it (sources.py decides, and holds a shrinking sitemap).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit

from .errors import SourceError
from .loaders import SkipDocument, load_html, load_markdown, load_pdf, load_text
from .sourcespec import SourceSpec
from .types import Document

log = logging.getLogger(__name__)

USER_AGENT = "qabot/0.1 (+https://github.com/qabot; document sync)"
ROBOTS_AGENT = "qabot"
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemap protocol's own limit
MAX_SITEMAPS = 50  # sitemaps read from one sitemap index
EXTRACTOR_VERSION = "1"  # part of every page's content hash: a new extraction re-embeds once
_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_SITEMAP_NS = re.compile(r"^\{[^}]*\}")


class PageError(Exception):
    """One page could not be fetched or read; the message says why."""


@dataclass
class Page:
    """A fetched page as the index keeps it: its text and the validators for the next conditional request."""

    url: str  # as listed
    final_url: str  # after redirects: the link quotes open
    title: str
    text: str
    kind: str = "html"
    date: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    hash: str = ""
    pages: list = field(default_factory=list)  # PDF page offsets

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Page:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def document(self) -> Document:
        return Document(
            path=self.url,
            title=self.title,
            text=self.text,
            url=self.final_url,
            date=self.date,
            kind=self.kind,
            pages=[tuple(p) for p in self.pages],
            meta={},
            content_hash=self.hash,
        )


def content_hash(title: str, text: str) -> str:
    """What decides re-embedding: the extracted title and text, not the page's bytes (a changed
    timestamp in a footer changes the bytes and the ETag but not this)."""
    return hashlib.sha256(f"web{EXTRACTOR_VERSION}\0{title}\0{text}".encode()).hexdigest()


def extract(html: str, url: str) -> tuple[str, str, str | None]:
    """(title, main text, date) of an HTML page; PageError when it has no text."""
    import trafilatura

    found = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        include_formatting=True,  # headings as `#` lines, so chunks know their section
        favor_precision=True,  # without it a short page keeps its menu (measured: bench.sources extract)
        date_extraction_params={"extensive_search": False, "original_date": True},  # a stated date, never a guess
    )
    text = (getattr(found, "text", None) or "").strip()
    title = (getattr(found, "title", None) or "").strip()
    date = getattr(found, "date", None)
    if not text:
        try:
            fields = load_html(html, url)
        except SkipDocument as exc:
            raise PageError(f"has no main text ({exc})") from None
        return fields["title"], fields["text"], None
    text = _EMPHASIS.sub(r"\2", text) + "\n"
    return title or (load_html(html, url)["title"] if "<title" in html.lower() else url), text, date


@dataclass
class Crawl:
    """What one sync of a web source found."""

    listed: list[str] = field(default_factory=list)
    pages: dict[str, Page] = field(default_factory=dict)  # every listed page with a good version
    fetched: int = 0  # 200s
    not_modified: int = 0  # 304s
    failed: dict[str, str] = field(default_factory=dict)  # url -> why (its old version, if any, is kept)
    requests: int = 0
    bytes: int = 0  # body bytes downloaded
    warnings: list[str] = field(default_factory=list)


class Crawler:
    """Fetches one web source's pages with an httpx client, politely (see the module's docstring)."""

    def __init__(self, spec: SourceSpec, client=None):
        import httpx

        self.spec = spec
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(spec.timeout),
            follow_redirects=False,  # followed here, hop by hop, under the caps
            headers={"User-Agent": USER_AGENT},
        )
        self._robots: dict[str, object] = {}
        self._next: dict[str, float] = {}  # host -> earliest time of its next request
        self._interval: dict[str, float] = {}
        self.crawl = Crawl()

    def close(self) -> None:
        self.client.close()

    # ---- politeness ----------------------------------------------------------------------
    def _wait_turn(self, host: str) -> None:
        now = time.monotonic()
        at = self._next.get(host, now)
        if at > now:
            time.sleep(at - now)
        self._next[host] = max(at, now) + self._interval.get(host, 1.0 / self.spec.rate if self.spec.rate else 0.0)

    def _get(self, url: str, headers: dict | None = None, limit: int | None = None):
        """One GET, streamed: (response, body); the body stops at `limit` bytes (PageError past it)."""
        import httpx

        host = urlsplit(url).hostname or ""
        self._wait_turn(host)
        self.crawl.requests += 1
        limit = limit or self.spec.max_page_bytes
        started = time.monotonic()
        try:
            with self.client.stream("GET", url, headers=headers or {}) as r:
                declared = r.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise PageError(f"is larger than {limit:,} bytes ({int(declared):,} declared)")
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        self.crawl.bytes += len(body)
                        raise PageError(f"is larger than {limit:,} bytes (stopped downloading)")
                    if time.monotonic() - started > 3 * self.spec.timeout:
                        raise PageError(f"took longer than {3 * self.spec.timeout:g} s to download")
                self.crawl.bytes += len(body)
                return r, bytes(body)
        except httpx.TimeoutException:
            raise PageError(f"timed out after {self.spec.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise PageError(f"cannot be fetched ({type(exc).__name__}: {exc})") from None

    def allowed(self, url: str) -> bool:
        """robots.txt allows qabot to fetch `url` (read once per host; SourceError when it cannot be read)."""
        from protego import Protego

        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        robots = self._robots.get(origin)
        if robots is None:
            try:
                r, body = self._get(origin + "/robots.txt", limit=512 * 1024)
            except PageError as exc:
                raise SourceError(
                    f"{origin}/robots.txt {exc}; not crawling a site whose rules cannot be read"
                ) from None
            if 500 <= r.status_code:
                raise SourceError(
                    f"{origin}/robots.txt answered HTTP {r.status_code}; not crawling a site whose rules cannot be read"
                )
            text = body.decode("utf-8", "replace") if r.status_code == 200 else ""
            robots = Protego.parse(text)
            self._robots[origin] = robots
            delay = robots.crawl_delay(ROBOTS_AGENT)
            rate = robots.request_rate(ROBOTS_AGENT)
            slowest = max(
                float(delay or 0.0),
                (rate.seconds / rate.requests) if rate else 0.0,
                1.0 / self.spec.rate if self.spec.rate else 0.0,
            )
            self._interval[parts.hostname or ""] = slowest
        return robots.can_fetch(url, ROBOTS_AGENT)  # type: ignore[attr-defined]

    # ---- fetching ------------------------------------------------------------------------
    def _on_allowed_host(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and (parts.hostname or "").lower() in self.spec.hosts

    def fetch(self, url: str, previous: Page | None, limit: int | None = None):
        """(response, body, final URL) of `url`, following redirects under the caps; a 304 has an empty body."""
        headers = {}
        if previous is not None:
            if previous.etag:
                headers["If-None-Match"] = previous.etag
            if previous.last_modified:
                headers["If-Modified-Since"] = previous.last_modified
        seen = {url}
        current = url
        for _hop in range(self.spec.max_redirects + 1):
            r, body = self._get(current, headers, limit)
            if r.status_code not in (301, 302, 303, 307, 308):
                return r, body, current
            target = urldefrag(urljoin(current, r.headers.get("location", "")))[0]
            if urlsplit(target).scheme not in ("http", "https"):
                raise PageError(f"redirects to {target[:200]!r}, which is not an http(s) URL")
            if not self._on_allowed_host(target):
                raise PageError(f"redirects to {target[:200]}, outside the allowed hosts")
            if target in seen:
                raise PageError(f"redirects in a loop ({target[:200]})")
            if not self.allowed(target):
                raise PageError(f"redirects to {target[:200]}, which robots.txt disallows")
            seen.add(target)
            current = target
        raise PageError(f"redirects more than {self.spec.max_redirects} times")

    def list_urls(self) -> list[str]:
        """The URLs the source names now: the sitemap's (nested sitemaps followed), or the `urls` list;
        on allowed hosts, allowed by robots.txt, de-duplicated, at most `max_pages`."""
        if self.spec.kind == "urls":
            found = list(self.spec.urls)
        else:
            found = self._sitemap(self.spec.location)
        out: list[str] = []
        seen: set[str] = set()
        for raw in found:
            url = urldefrag(raw.strip())[0]
            if not url or url in seen:
                continue
            seen.add(url)
            if not self._on_allowed_host(url):
                self.crawl.warnings.append(f"{url}: skipped, not on {', '.join(sorted(self.spec.hosts))}")
                continue
            if not self.allowed(url):
                self.crawl.warnings.append(f"{url}: skipped, robots.txt disallows it")
                continue
            out.append(url)
        if len(out) > self.spec.max_pages:
            self.crawl.warnings.append(
                f"{len(out)} pages listed; only the first {self.spec.max_pages} are indexed (max_pages)"
            )
            out = out[: self.spec.max_pages]
        return out

    def _sitemap(self, url: str) -> list[str]:
        """<loc> entries of a sitemap; a sitemap index's sitemaps are read too (one level, MAX_SITEMAPS)."""
        pending, urls, read = [url], [], 0
        while pending:
            sm = pending.pop(0)
            if read >= MAX_SITEMAPS:
                self.crawl.warnings.append(f"more than {MAX_SITEMAPS} sitemaps; the rest are not read")
                break
            if not self._on_allowed_host(sm) or not self.allowed(sm):
                raise SourceError(f"sitemap {sm} is not on an allowed host or robots.txt disallows it")
            try:
                r, body, _ = self.fetch(sm, None, MAX_SITEMAP_BYTES)
            except PageError as exc:
                raise SourceError(f"sitemap {sm} {exc}") from None
            read += 1
            if r.status_code != 200:
                raise SourceError(f"sitemap {sm} answered HTTP {r.status_code}")
            try:
                root = ET.fromstring(body)
            except ET.ParseError as exc:
                raise SourceError(f"sitemap {sm} is not valid XML ({exc})") from None
            tag = _SITEMAP_NS.sub("", root.tag)
            locs = [
                (el.text or "").strip()
                for el in root.iter()
                if _SITEMAP_NS.sub("", el.tag) == "loc" and (el.text or "").strip()
            ]
            if tag == "sitemapindex":
                if sm != url:
                    continue  # one level of nesting: an index inside an index is not followed
                pending += locs
            elif tag == "urlset":
                urls += locs
            else:
                raise SourceError(f"sitemap {sm} is neither a <urlset> nor a <sitemapindex> (it is <{tag}>)")
        return urls

    def page(self, url: str, previous: Page | None) -> Page:
        """The page now: the previous one on a 304, else fetched and extracted; PageError when it fails."""
        r, body, final = self.fetch(url, previous)
        if r.status_code == 304 and previous is not None:
            self.crawl.not_modified += 1
            return previous
        if r.status_code != 200:
            raise PageError(f"answered HTTP {r.status_code}")
        self.crawl.fetched += 1
        ctype = r.headers.get("content-type", "text/html").split(";")[0].strip().lower()
        try:
            if ctype == "application/pdf":
                fields = load_pdf(body, url)
                title, text, date, kind = fields["title"], fields["text"], None, "pdf"
            else:
                html = body.decode(r.encoding or "utf-8", "replace")
                if ctype in ("text/html", "application/xhtml+xml"):
                    title, text, date = extract(html, final)
                    kind = "html"
                elif ctype == "text/markdown":
                    fields = load_markdown(html, url)
                    title, text, date, kind = fields["title"], fields["text"], fields["date"], "markdown"
                elif ctype == "text/plain":
                    fields = load_text(html, url)
                    title, text, date, kind = fields["title"], fields["text"], None, "text"
                else:
                    raise PageError(f"is {ctype}, which is not a page qabot reads")
        except SkipDocument as exc:
            raise PageError(str(exc)) from None
        return Page(
            url=url,
            final_url=final,
            title=title,
            text=text,
            kind=kind,
            date=date,
            etag=r.headers.get("etag"),
            last_modified=r.headers.get("last-modified"),
            hash=content_hash(title, text),
            pages=fields["pages"] if kind == "pdf" else [],
        )

    def run(self, previous: dict[str, Page], check: Callable[[list[str]], None] | None = None) -> Crawl:
        """List the source, let `check` refuse the listing (it raises), then bring every listed page up to
        date. SourceError when the listing fails or every page fails; a page that fails keeps its
        previous version (if it has one)."""
        c = self.crawl
        c.listed = self.list_urls()
        if check is not None:
            check(c.listed)
        for url in c.listed:
            old = previous.get(url)
            try:
                c.pages[url] = self.page(url, old)
            except PageError as exc:
                c.failed[url] = str(exc)
            except Exception as exc:  # the extractor's own failure on a strange page: this page only
                log.exception("reading %s failed", url)
                c.failed[url] = f"could not be read ({type(exc).__name__}: {exc})"
            if url in c.failed and old is not None:
                c.pages[url] = old
        if c.listed and len(c.failed) == len(c.listed):
            url, why = next(iter(c.failed.items()))
            raise SourceError(f"all {len(c.listed)} pages failed (first: {url} {why})")
        return c
