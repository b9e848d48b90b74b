"""Turn source files (markdown, plain text, HTML, PDF) into Documents; skip bad files with a warning."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import yaml

from .types import Document

log = logging.getLogger(__name__)

LOADER_VERSION = "2"  # 2: a link followed by a note in parentheses keeps the link
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html", ".pdf": "pdf"}
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_FRONT_MATTER = 64 * 1024
URL_LINE = re.compile(r"^\s*(https?://\S+)\s*$")


class SkipDocument(Exception):
    """The file cannot be indexed; the message says why."""


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise SkipDocument("looks like a binary file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SkipDocument(f"is not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise SkipDocument("is empty")
    return text


def _str(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10] if isinstance(value, date) and not isinstance(value, datetime) else value.isoformat()
    return str(value).strip() or None


def _first_heading(text: str) -> str | None:
    m = re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)
    return m.group(1).strip() if m else None


def load_markdown(raw: str, name: str) -> dict:
    """Front matter (YAML between --- lines) and the body, kept verbatim so quotes match the file."""
    meta: dict = {}
    body = raw
    if raw.startswith("---"):
        m = re.match(r"---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|$)", raw, re.S)
        if not m:
            raise SkipDocument("has front matter that is never closed with ---")
        if len(m.group(1)) > MAX_FRONT_MATTER:
            raise SkipDocument("has front matter larger than 64 KB")
        try:
            meta = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "syntax error"
            raise SkipDocument(f"has malformed front matter ({first})") from None
        if not isinstance(meta, dict):
            raise SkipDocument("has front matter that is not a key: value mapping")
        body = raw[m.end():]
    if not body.strip():
        raise SkipDocument("has no text after its front matter")
    title = _str(meta.get("title")) or _first_heading(body) or name
    return {"text": body, "title": title, "url": _str(meta.get("url")), "date": _str(meta.get("date")),
            "meta": {k: _str(v) for k, v in meta.items() if k not in {"title", "url", "date"}}}


def load_text(raw: str, name: str) -> dict:
    """Plain text; a bare URL alone on the first or last non-empty line is the source link."""
    lines = raw.splitlines(keepends=True)
    url = None
    nonempty = [i for i, line in enumerate(lines) if line.strip()]
    start, end = 0, len(lines)
    if nonempty:
        first, last = nonempty[0], nonempty[-1]
        if (m := URL_LINE.match(lines[last])) and last != first:
            url, end = m.group(1), last
        elif (m := URL_LINE.match(lines[first])) and last != first:
            url, start = m.group(1), first + 1
    text = "".join(lines[start:end])
    if not text.strip():
        raise SkipDocument("has no text besides a URL")
    first_line = text.strip().splitlines()[0].strip().strip("*#").strip()
    title = first_line if 0 < len(first_line) <= 150 else name
    return {"text": text, "title": title, "url": url, "date": None, "meta": {}}


class _HTMLText(HTMLParser):
    SKIP = {"script", "style", "nav", "header", "footer", "aside", "noscript", "form", "template", "svg", "iframe", "button", "select"}
    BLOCK = {"p", "div", "section", "article", "main", "li", "ul", "ol", "table", "tr", "br", "blockquote", "pre", "dd", "dt", "figcaption", "td", "th"}
    HEAD = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
    VOID = {"br", "img", "meta", "link", "input", "hr", "area", "base", "col", "embed", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skip_depth = 0
        self.stack: list[str] = []
        self.blocks: list[str] = []
        self.cur: list[str] = []
        self.title = ""
        self.in_title = False
        self.url = None
        self.og_title = None
        self.main_blocks: list[str] | None = None
        self.main_depth = None

    def _flush(self):
        text = re.sub(r"\s+", " ", "".join(self.cur)).strip()
        if text:
            self.blocks.append(text)
        self.cur = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "link" and "canonical" in a.get("rel", "").lower().split() and a.get("href", "").startswith("http"):
            self.url = a["href"]
        if tag == "meta" and a.get("property", "").lower() == "og:url" and a.get("content", "").startswith("http"):
            self.url = self.url or a["content"]
        if tag == "meta" and a.get("property", "").lower() == "og:title":
            self.og_title = a.get("content")
        if tag in self.VOID:
            if tag == "br":
                self._flush()
            return
        if len(self.stack) > 400:  # pathological nesting: stop tracking depth, keep text
            return
        self.stack.append(tag)
        if tag == "title":
            self.in_title = True
        if tag in self.SKIP:
            self.skip_depth += 1
        if tag in self.BLOCK or tag in self.HEAD:
            self._flush()
        if tag in self.HEAD and not self.skip_depth:
            self.cur.append("#" * self.HEAD[tag] + " ")
        if tag in {"main", "article"} and self.main_depth is None:
            self._flush()
            self.main_depth = len(self.stack)
            self.main_start = len(self.blocks)

    def handle_endtag(self, tag):
        if tag in self.VOID or tag not in self.stack:
            return
        while self.stack:
            t = self.stack.pop()
            if t == "title":
                self.in_title = False
            if t in self.SKIP:
                self.skip_depth -= 1
            if t in self.BLOCK or t in self.HEAD:
                self._flush()
            if self.main_depth is not None and len(self.stack) < self.main_depth and self.main_blocks is None:
                self._flush()
                self.main_blocks = self.blocks[self.main_start:]
            if t == tag:
                break

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        elif not self.skip_depth:
            self.cur.append(data)


def load_html(raw: str, name: str) -> dict:
    """Title, canonical or og:url link, and the main text without navigation, scripts or styles."""
    p = _HTMLText()
    try:
        p.feed(raw)
        p.close()
    except Exception as exc:  # html.parser is lenient; anything raised here is a truly broken file
        raise SkipDocument(f"could not be parsed as HTML ({exc})") from None
    p._flush()
    blocks = p.main_blocks if p.main_blocks else p.blocks
    blocks = [b for b in blocks if b.strip("# ").strip()]
    text = "\n\n".join(blocks)
    if not text.strip():
        raise SkipDocument("has no visible text")
    title = re.sub(r"\s+", " ", p.title).strip() or (p.og_title or "").strip() or _first_heading(text) or name
    return {"text": text + "\n", "title": title, "url": p.url, "date": None, "meta": {}}


def load_pdf(data: bytes, name: str) -> dict:
    """Text per page; `pages` records where each page starts so links can carry #page=N."""
    try:
        from pypdf import PdfReader
        import io

        reader = PdfReader(io.BytesIO(data))
        parts, pages, offset = [], [], 0
        for i, page in enumerate(reader.pages, start=1):
            t = (page.extract_text() or "").strip()
            if not t:
                continue
            pages.append((offset, i))
            parts.append(t)
            offset += len(t) + 2
        meta_title = (reader.metadata.title if reader.metadata else None) or None
    except Exception as exc:
        raise SkipDocument(f"could not be read as PDF ({type(exc).__name__}: {exc})") from None
    if not parts:
        raise SkipDocument("has no extractable text (a scanned PDF?)")
    text = "\n\n".join(parts) + "\n"
    title = str(meta_title).strip() if meta_title and str(meta_title).strip() else (parts[0].strip().splitlines()[0][:150] or name)
    return {"text": text, "title": title, "url": None, "date": None, "meta": {}, "pages": pages}


def load_file(path: Path, root: Path, base_url: str = "") -> Document:
    """Load one file; raises SkipDocument with the reason when it cannot be indexed."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise SkipDocument("has an unsupported file type")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SkipDocument(f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB ({size // (1024 * 1024)} MB)")
    data = path.read_bytes()
    if not data.strip():
        raise SkipDocument("is empty")
    name = path.stem
    if kind == "pdf":
        fields = load_pdf(data, name)
    else:
        raw = _decode(data)
        fields = {"markdown": load_markdown, "text": load_text, "html": load_html}[kind](raw, name)
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    url = fields.get("url")
    if url and (m := re.match(r"(\S+)\s+\([^()]*\)$", url)):
        url = m.group(1)  # "https://… (advisory PDF)": a link followed by a note
    if url and not re.match(r"https?://[^\s/$.?#].\S*$", url):
        url = None  # never a broken link
    if not url and base_url:
        url = base_url.rstrip("/") + "/" + quote(rel)
    digest = hashlib.sha256(LOADER_VERSION.encode() + b"\0" + data).hexdigest()
    return Document(path=rel, title=fields["title"], text=fields["text"], url=url, date=fields.get("date"),
                    kind=kind, pages=fields.get("pages", []), meta=fields.get("meta", {}), content_hash=digest)


def iter_source_files(folders: list[Path]) -> tuple[list[Path], list[str]]:
    """Files under the source folders, sorted; symlinks leaving the folders are not followed."""
    files, warnings = [], []
    roots = [f.resolve() for f in folders]
    for folder in folders:
        if not folder.is_dir():
            warnings.append(f"{folder}: source folder does not exist; skipped")
            continue
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in sorted(filenames):
                if fn.startswith(".") or Path(fn).suffix.lower() not in SUFFIXES:
                    continue
                p = Path(dirpath) / fn
                if p.is_symlink():
                    target = p.resolve()
                    if not any(target == r or r in target.parents for r in roots):
                        warnings.append(f"{p}: skipped, symlink points outside the source folders")
                        continue
                if not p.is_file():
                    continue
                files.append(p)
    return files, warnings


def load_documents(folders: list[Path], root: Path, base_url: str = "") -> tuple[list[Document], list[str]]:
    """All documents under the folders, plus one warning per skipped file naming it."""
    files, warnings = iter_source_files(folders)
    docs: list[Document] = []
    seen: dict[str, str] = {}
    for p in files:
        try:
            doc = load_file(p, root, base_url)
        except SkipDocument as exc:
            warnings.append(f"{os.path.relpath(p, root)}: skipped, {exc}")
            continue
        except OSError as exc:
            warnings.append(f"{os.path.relpath(p, root)}: skipped, cannot be read ({exc.strerror})")
            continue
        if doc.content_hash in seen:
            warnings.append(f"{doc.path}: skipped, same content as {seen[doc.content_hash]}")
            continue
        seen[doc.content_hash] = doc.path
        docs.append(doc)
    for w in warnings:
        log.warning(w)
    return docs, warnings
