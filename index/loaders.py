"""Turn source files (markdown, plain text, HTML, PDF) into Documents; skip bad files with a warning."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass
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
        return value.isoformat() if isinstance(value, datetime) else value.isoformat()[:10]
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
        body = raw[m.end() :]
    if not body.strip():
        raise SkipDocument("has no text after its front matter")
    title = _str(meta.get("title")) or _first_heading(body) or name
    return {
        "text": body,
        "title": title,
        "url": _str(meta.get("url")),
        "date": _str(meta.get("date")),
        "meta": {k: _str(v) for k, v in meta.items() if k not in {"title", "url", "date"}},
    }


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
    SKIP = {
        "script",
        "style",
        "nav",
        "header",
        "footer",
        "aside",
        "noscript",
        "form",
        "template",
        "svg",
        "iframe",
        "button",
        "select",
    }
    BLOCK = {
        "p",
        "div",
        "section",
        "article",
        "main",
        "li",
        "ul",
        "ol",
        "table",
        "tr",
        "br",
        "blockquote",
        "pre",
        "dd",
        "dt",
        "figcaption",
        "td",
        "th",
    }
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
                self.main_blocks = self.blocks[self.main_start :]
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
        import io

        from pypdf import PdfReader

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
    first_line = parts[0].strip().splitlines()[0][:150]
    title = str(meta_title).strip() if meta_title and str(meta_title).strip() else (first_line or name)
    return {"text": text, "title": title, "url": None, "date": None, "meta": {}, "pages": pages}


# How a listed file is opened for reading (see _open_listed): never through a symlink, never blocking
# on a FIFO swapped in for a file, and never leaked into a child process.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_OPEN_ROOT = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_OPEN_DIR = _OPEN_ROOT | _NOFOLLOW
_OPEN_FILE = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
RACED_SYMLINK = "changed into a symlink while indexing"


@dataclass(frozen=True)
class SourceFile:
    """One listed file and where its bytes are read from, fixed at listing time.

    `path` is the file as listed (its name and suffix decide the kind, and it gives the document's
    path); `folder` is the resolved source folder it was listed in and `rel` its path inside that
    folder (base_url links use them for folders outside the project root). The bytes are read from
    `parts` below `read_root`, a resolved source folder whose (st_dev, st_ino) was `root_id`. For a
    plain file that is its own place; for a symlink that was allowed because it points inside the
    source folders it is the target resolved at listing time, so reading never follows a link.
    """

    path: Path
    folder: Path
    rel: str
    read_root: Path
    parts: tuple[str, ...]
    root_id: tuple[int, int] | None = None


def _standalone(path: Path) -> SourceFile:
    """A file loaded on its own, not listed from a source folder: the caller chose it, so a symlink
    in its last component is resolved once, here; the read itself still follows no link."""
    target = path.resolve() if path.is_symlink() else path.parent.resolve() / path.name
    return SourceFile(
        path=path, folder=path.parent.resolve(), rel=path.name, read_root=target.parent, parts=(target.name,)
    )


def _raced(dir_fd: int, name: str, what: str) -> SkipDocument | None:
    """Why opening `name` failed, if it is because a symlink now stands there (else None: re-raise).

    O_NOFOLLOW reports a link as ELOOP, O_DIRECTORY | O_NOFOLLOW as ENOTDIR (and BSDs say EMLINK),
    so the link is recognised by an lstat of the same name in the same folder fd, not by errno."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    return SkipDocument(f"{what}{RACED_SYMLINK}") if stat.S_ISLNK(st.st_mode) else None


def _open_listed(src: SourceFile) -> int:
    """A read-only fd on the listed file's bytes, or SkipDocument if it was swapped during the build.

    Between listing and reading, someone with write access to a source folder can replace the file
    or any folder on its path with a symlink (to /etc/passwd, say). A check by path followed by a
    read by path can never rule that out, so the read itself refuses links: the source folder is
    opened (and compared with its identity at listing time), then every folder below it is opened
    relative to its parent's fd with O_DIRECTORY | O_NOFOLLOW, and the file last with O_NOFOLLOW.
    The kernel resolves each step inside the folder already held, so what is opened is, at the
    moment of opening, a file inside the source folder reached without following any link; fstat
    on the fd then requires a regular file (not a FIFO, device or socket; O_NONBLOCK keeps a FIFO
    from hanging the build before that check). A symlink that was listed because it points inside
    the source folders is read at the target resolved when it was listed, under the same rules.
    A file replaced by another regular file in the same place is read as it now is: that is an
    edit (an editor's atomic save), not an escape.
    """
    if not src.parts or any(p in ("", ".", "..") for p in src.parts):
        raise SkipDocument("has a path that cannot be opened safely")
    fd = os.open(src.read_root, _OPEN_ROOT)
    try:
        st = os.fstat(fd)
        if src.root_id is not None and (st.st_dev, st.st_ino) != src.root_id:
            raise SkipDocument(f"its source folder {src.read_root} was replaced while indexing")
        for i, name in enumerate(src.parts):
            last = i == len(src.parts) - 1
            try:
                nxt = os.open(name, _OPEN_FILE if last else _OPEN_DIR, dir_fd=fd)
            except OSError:
                what = "" if last else f"its folder {'/'.join(src.parts[: i + 1])} "
                raced = _raced(fd, name, what)
                if raced is not None:
                    raise raced from None
                raise
            os.close(fd)
            fd = nxt
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SkipDocument("is not a regular file (changed while indexing?)")
        return fd
    except BaseException:
        os.close(fd)
        raise


def _read_bounded(fd: int) -> bytes:
    """The whole file from the fd, refusing more than MAX_FILE_BYTES even if it grows while read."""
    too_big = f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB"
    size = os.fstat(fd).st_size
    if size > MAX_FILE_BYTES:
        raise SkipDocument(f"{too_big} ({size // (1024 * 1024)} MB)")
    with open(fd, "rb", closefd=False) as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise SkipDocument(f"{too_big} (it grew while being read)")
    return data


def link_path(src: SourceFile, root: Path) -> str:
    """The path a base_url link names: relative to the project root for folders inside it (so a
    base_url that maps the project, a repository say, links right), relative to the source folder
    for folders outside it (`/srv/wiki-export/page.md` links as `page.md`, never `../…`)."""
    rel = os.path.relpath(src.folder / src.rel, Path(root).resolve())
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        rel = src.rel
    return rel.replace(os.sep, "/")


def load_file(path: Path, root: Path, base_url: str = "", listed: SourceFile | None = None) -> Document:
    """Load one file; raises SkipDocument with the reason when it cannot be indexed.

    `listed` is how list_source_files found it (load_documents passes it), so the read cannot be
    redirected after listing; without it the file is read in its own folder (see _standalone).
    """
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise SkipDocument("has an unsupported file type")
    src = listed or _standalone(Path(path))
    fd = _open_listed(src)
    try:
        data = _read_bounded(fd)
    finally:
        os.close(fd)
    rel = os.path.relpath(path, root).replace(os.sep, "/")  # the document's identity: keep it stable
    fallback = base_url.rstrip("/") + "/" + quote(link_path(src, root)) if base_url else None
    return document_from_bytes(data, kind, path.stem, rel, fallback)


def parse_bytes(data: bytes, kind: str, name: str) -> dict:
    """A file's fields (text, title, url, date, meta, pages) from its bytes; `kind` as SUFFIXES names it."""
    if not data.strip():
        raise SkipDocument("is empty")
    if kind == "pdf":
        return load_pdf(data, name)
    raw = _decode(data)
    return {"markdown": load_markdown, "text": load_text, "html": load_html}[kind](raw, name)


def clean_url(url: str | None) -> str | None:
    """A document's own link if it is a usable http(s) URL (a trailing note in parentheses dropped), else None."""
    if url and (m := re.match(r"(\S+)\s+\([^()]*\)$", url)):
        url = m.group(1)  # "https://… (advisory PDF)": a link followed by a note
    if url and not re.match(r"https?://[^\s/$.?#].\S*$", url):
        url = None  # never a broken link
    return url


def document_from_bytes(data: bytes, kind: str, name: str, path: str, fallback_url: str | None) -> Document:
    """The Document of a file's bytes: `path` is its identity in the index, `fallback_url` its link when
    the file names none. Its content hash covers the bytes, so an unchanged file is never re-embedded."""
    fields = parse_bytes(data, kind, name)
    digest = hashlib.sha256(LOADER_VERSION.encode() + b"\0" + data).hexdigest()
    return Document(
        path=path,
        title=fields["title"],
        text=fields["text"],
        url=clean_url(fields.get("url")) or fallback_url,
        date=fields.get("date"),
        kind=kind,
        pages=fields.get("pages", []),
        meta=fields.get("meta", {}),
        content_hash=digest,
    )


def list_source_files(folders: list[Path]) -> tuple[list[SourceFile], list[str]]:
    """Files under the source folders, sorted, with where each is read from; symlinks leaving the
    folders are not followed. A folder that cannot be listed is named in a warning, never skipped
    in silence (os.walk drops it unless told otherwise)."""
    files: list[SourceFile] = []
    warnings: list[str] = []
    roots = sorted({f.resolve() for f in folders}, key=lambda r: len(r.parts), reverse=True)  # innermost first
    root_ids: dict[Path, tuple[int, int]] = {}
    for r in roots:
        try:
            st = os.stat(r)
            root_ids[r] = (st.st_dev, st.st_ino)
        except OSError:
            pass

    def unreadable(exc: OSError) -> None:
        warnings.append(f"{exc.filename}: folder cannot be read ({exc.strerror}); skipped")

    for folder in folders:
        if not folder.is_dir():
            warnings.append(f"{folder}: source folder does not exist; skipped")
            continue
        resolved = folder.resolve()
        for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in sorted(filenames):
                if fn.startswith(".") or Path(fn).suffix.lower() not in SUFFIXES:
                    continue
                p = Path(dirpath) / fn
                rel = os.path.relpath(p, folder)
                read_root, parts = resolved, Path(rel).parts
                if p.is_symlink():
                    target = p.resolve()
                    inside = next((r for r in roots if target == r or r in target.parents), None)
                    if inside is None:
                        warnings.append(f"{p}: skipped, symlink points outside the source folders")
                        continue
                    read_root, parts = inside, target.relative_to(inside).parts
                if not p.is_file():
                    continue
                files.append(
                    SourceFile(
                        path=p,
                        folder=resolved,
                        rel=rel,
                        read_root=read_root,
                        parts=parts,
                        root_id=root_ids.get(read_root),
                    )
                )
    return files, warnings


def iter_source_files(folders: list[Path]) -> tuple[list[Path], list[str]]:
    """The listed files' paths (see list_source_files), for callers that only need the names."""
    files, warnings = list_source_files(folders)
    return [f.path for f in files], warnings


def load_documents(folders: list[Path], root: Path, base_url: str = "") -> tuple[list[Document], list[str]]:
    """All documents under the folders, plus one warning per skipped file naming it."""
    files, warnings = list_source_files(folders)
    docs: list[Document] = []
    seen: dict[str, str] = {}
    for src in files:
        p = src.path
        try:
            doc = load_file(p, root, base_url, listed=src)
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
