"""Git repositories as sources: a bare mirror in the index folder, fetched each refresh, read at one commit.

Why the `git` binary (through subprocess) rather than GitPython or dulwich: it is already on every
machine that has a repository to offer, speaks every transport and credential helper the admin's own
`git` does, and GitPython would run the same binary underneath anyway; dulwich would add a pure-Python
reimplementation for what four git commands do (fetch, rev-parse, ls-tree, cat-file --batch). Measured
against both on a 500-file repository (`python -m bench.sources git`, docs/SOURCES.md), dulwich
fetches ~10 ms faster per refresh and the binary reads the files faster; neither difference matters
against a refresh period of minutes.

Why a bare mirror read by commit, never a checkout: the build reads each file's blob at the commit the
last good sync recorded (`git ls-tree` + `git cat-file --batch`), so
- a fetch killed half way, a force-push or a deleted remote cannot change what the index reads: the
  recorded commit stays, and `refs/qabot/indexed` keeps it reachable for git's garbage collection;
- no file of the repository is ever written to disk, so its symlinks cannot point the reader outside it
  (a link is followed only to a file inside the same tree) and no hook or filter of it runs;
- submodules (gitlinks) are entries without content in the tree: they are not followed.

Links: a quote links to the file on its web host at the indexed commit with line anchors
(`…/blob/<sha>/guide.md#L40-L42`), from `web_url` or derived for GitHub and GitLab.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .errors import SourceError
from .loaders import MAX_FILE_BYTES, SUFFIXES, SkipDocument, document_from_bytes
from .sourcespec import SourceSpec
from .types import Document

log = logging.getLogger(__name__)

MIRROR = "repo.git"  # the bare mirror, in the source's folder
FETCHED_REF = "refs/qabot/fetched"  # what the last fetch brought
INDEXED_REF = "refs/qabot/indexed"  # the commit the index reads: kept reachable whatever the remote does
LINE_LINK_KINDS = ("markdown", "text")  # kinds whose text is a verbatim part of the file, so lines map
# GitHub and GitLab render markdown; their line anchors work in the plain view, hence {plain}.
GITHUB = "https://github.com/{repo}/blob/{commit}/{path}{plain}#L{first}-L{last}"
GITLAB = "https://gitlab.com/{repo}/-/blob/{commit}/{path}{plain}#L{first}-{last}"
_HOSTED = re.compile(r"^(?:https?://|ssh://git@|git@)(github\.com|gitlab\.com)[/:](.+?)(?:\.git)?/?$")
_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",  # never wait for a password on a terminal nobody watches
    "GIT_ASKPASS": "true",
    "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
    "LC_ALL": "C",  # git's messages are shown to the admin as they are
}


def link_template(spec: SourceSpec) -> str:
    """The web link of a file, with {commit}, {path}, {plain}, {first} and {last} to fill; "" when none."""
    if spec.web_url:
        return spec.web_url
    m = _HOSTED.match(spec.location.strip())
    if not m:
        return ""
    host, repo = m.groups()
    return (GITHUB if host == "github.com" else GITLAB).replace("{repo}", repo)


def file_links(template: str, commit: str, path: str, kind: str) -> tuple[str | None, str | None]:
    """(the file's link, its line link with {first} and {last} left to fill, or None without lines).

    Filled with str.replace, never str.format: a path with braces in it cannot inject a field."""
    if not template:
        return None, None
    plain = "?plain=1" if kind == "markdown" else ""
    filled = template.replace("{commit}", commit).replace("{path}", quote(path)).replace("{plain}", plain)
    if "{first}" not in filled:
        return filled, None
    page = filled.split("#", 1)[0].replace("?plain=1", "")
    return page, filled if kind in LINE_LINK_KINDS else None


def line_link(link: str, line_base: int, text: str, start: int, end: int) -> str:
    """`link` with the lines of the file that text[start:end] spans (text begins after `line_base` lines)."""
    first = line_base + text.count("\n", 0, start) + 1
    last = line_base + text.count("\n", 0, max(start, end - 1)) + 1
    return link.replace("{first}", str(first)).replace("{last}", str(last))


def _git(args: list[str], cwd: Path | None, timeout: float, stdin: bytes | None = None) -> bytes:
    """Run git; its own message (first lines of stderr) becomes a SourceError."""
    try:
        out = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env={**os.environ, **_GIT_ENV},
        )
    except FileNotFoundError:
        raise SourceError("the git program is not installed (install git to index git sources)") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {args[0]} took longer than {timeout:g} s") from None
    if out.returncode != 0:
        lines = [x for x in out.stderr.decode("utf-8", "replace").splitlines() if x.strip()]
        detail = "; ".join(lines[-3:]) or f"exit status {out.returncode}"
        raise SourceError(f"git {args[0]} failed: {detail}")
    return out.stdout


@dataclass
class Fetched:
    """What a fetch found: the branch's commit, and whether it fast-forwards the one indexed before."""

    commit: str
    branch: str
    fast_forward: bool


def _remote_default_branch(url: str, timeout: float) -> str:
    out = _git(["ls-remote", "--symref", "--", url, "HEAD"], None, timeout).decode("utf-8", "replace")
    m = re.search(r"^ref: refs/heads/(\S+)\s+HEAD", out, re.M)
    if not m:
        raise SourceError(f'{url} has no default branch; set `branch = "…"` for this source')
    return m.group(1)


def fetch(spec: SourceSpec, folder: Path, previous: str | None) -> Fetched:
    """Bring the branch's newest commit into the bare mirror (made on first use); nothing is checked out."""
    mirror = folder / MIRROR
    if not (mirror / "HEAD").is_file():
        tmp = folder / (MIRROR + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)  # a first clone killed half way
        folder.mkdir(parents=True, exist_ok=True)
        _git(["init", "--quiet", "--bare", str(tmp)], None, spec.timeout)
        os.replace(tmp, mirror)
    url = spec.location
    if not re.match(r"^[a-z][a-z0-9+.-]*://|^[^/]+@[^/]+:", url):  # a local path, relative to the project root
        url = str(Path(url).expanduser().resolve())
    branch = spec.branch or _remote_default_branch(url, spec.timeout)
    _git(
        ["fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--", url, f"+refs/heads/{branch}:{FETCHED_REF}"],
        mirror,
        spec.timeout,
    )
    commit = _git(["rev-parse", "--verify", f"{FETCHED_REF}^{{commit}}"], mirror, spec.timeout).decode().strip()
    ff = True
    if previous and previous != commit:
        try:
            _git(["merge-base", "--is-ancestor", previous, commit], mirror, spec.timeout)
        except SourceError:
            ff = False  # the branch was rewritten (a force-push): logged and reported, then indexed
    return Fetched(commit=commit, branch=branch, fast_forward=ff)


def keep(folder: Path, commit: str, timeout: float = 60.0) -> None:
    """Point refs/qabot/indexed at `commit`, so garbage collection keeps what the index reads."""
    _git(["update-ref", INDEXED_REF, commit], folder / MIRROR, timeout)


def _include(path: str, patterns: tuple[str, ...]) -> bool:
    if not patterns:
        return True
    return any(_glob(p).match(path) for p in patterns)


def _glob(pattern: str) -> re.Pattern:
    """A glob over '/'-separated paths: `*` within a name, `**` across folders, a plain folder name for
    everything under it."""
    p = pattern.strip().strip("/")
    if not any(c in p for c in "*?["):
        return re.compile(re.escape(p) + r"(?:/.*)?$")
    out, i = "", 0
    while i < len(p):
        if p.startswith("**/", i):
            out, i = out + r"(?:.*/)?", i + 3
        elif p.startswith("**", i):
            out, i = out + r".*", i + 2
        elif p[i] == "*":
            out, i = out + r"[^/]*", i + 1
        elif p[i] == "?":
            out, i = out + r"[^/]", i + 1
        else:
            out, i = out + re.escape(p[i]), i + 1
    return re.compile(out + "$")


@dataclass(frozen=True)
class Entry:
    mode: str
    kind: str
    sha: str
    size: int
    path: str


def _tree(mirror: Path, commit: str, timeout: float) -> dict[str, Entry]:
    raw = _git(["ls-tree", "-r", "-z", "-l", "--full-tree", commit], mirror, timeout)
    entries = {}
    for record in raw.split(b"\0"):
        if not record:
            continue
        head, _, path = record.partition(b"\t")
        mode, kind, sha, size = head.decode().split()
        name = path.decode("utf-8", "surrogateescape")
        entries[name] = Entry(mode, kind, sha, int(size) if size.isdigit() else 0, name)
    return entries


def _blobs(mirror: Path, shas: list[str], timeout: float) -> dict[str, bytes]:
    """Blob contents by sha, in one `git cat-file --batch`."""
    if not shas:
        return {}
    out = _git(["cat-file", "--batch"], mirror, timeout, stdin=("\n".join(shas) + "\n").encode())
    blobs, pos = {}, 0
    for _ in shas:
        nl = out.index(b"\n", pos)
        sha, _kind, size = out[pos:nl].decode().split()
        start = nl + 1
        blobs[sha] = out[start : start + int(size)]
        pos = start + int(size) + 1
    return blobs


def list_files(spec: SourceSpec, folder: Path, commit: str) -> tuple[dict[str, Entry], list[str]]:
    """The indexable files of the tree at `commit`, each path mapped to the blob it reads (a symlink that
    stays inside the repository reads its target), and a warning for each entry not followed."""
    mirror = folder / MIRROR
    tree = _tree(mirror, commit, spec.timeout)
    files: dict[str, Entry] = {}
    warnings: list[str] = []
    where = f"{spec.name}:"
    seen: dict[str, str] = {}  # blob -> the first path read from it (a copy, or a symlink inside)
    for path, e in sorted(tree.items(), key=lambda item: (item[1].mode == "120000", item[0])):  # links last
        if any(part.startswith(".") for part in path.split("/")) or not _include(path, spec.include):
            continue
        if e.mode == "160000":
            warnings.append(f"{where}{path}: submodule not followed")
            continue
        if posixpath.splitext(path)[1].lower() not in SUFFIXES:
            continue
        if e.mode == "120000":
            target = _blobs(mirror, [e.sha], spec.timeout)[e.sha].decode("utf-8", "replace")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
                warnings.append(f"{where}{path}: skipped, symlink points outside the repository")
                continue
            aim = tree.get(resolved)
            if aim is None or aim.kind != "blob" or aim.mode == "120000":
                warnings.append(f"{where}{path}: skipped, symlink to {target!r}, which is not a file of the repository")
                continue
            e = Entry(e.mode, aim.kind, aim.sha, aim.size, path)
        if e.kind != "blob":
            continue
        if e.size > MAX_FILE_BYTES:
            warnings.append(f"{where}{path}: skipped, is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
            continue
        if e.sha in seen:
            warnings.append(f"{where}{path}: skipped, same content as {where}{seen[e.sha]}")
            continue
        seen[e.sha] = path
        files[path] = e
    return dict(sorted(files.items())), warnings


def documents(spec: SourceSpec, folder: Path, commit: str) -> tuple[list[Document], list[str]]:
    """The source's documents at `commit`: paths `<name>:<path>`, links at that commit with line anchors."""
    files, warnings = list_files(spec, folder, commit)
    blobs = _blobs(folder / MIRROR, sorted({e.sha for e in files.values()}), spec.timeout)
    template = link_template(spec)
    docs = []
    for path, e in files.items():
        kind = SUFFIXES[posixpath.splitext(path)[1].lower()]
        page, lines = file_links(template, commit, path, kind)
        data = blobs[e.sha]
        try:
            doc = document_from_bytes(data, kind, posixpath.splitext(posixpath.basename(path))[0], "", None)
        except SkipDocument as exc:
            warnings.append(f"{spec.name}:{path}: skipped, {exc}")
            continue
        doc.path = f"{spec.name}:{path}"
        doc.url = page or doc.url
        if lines:
            raw = data.decode("utf-8-sig", "replace")
            at = raw.find(doc.text)
            if at >= 0:
                doc.meta = {**doc.meta, "line_link": lines, "line_base": str(raw.count("\n", 0, at))}
        doc.meta = {**doc.meta, "commit": commit}
        docs.append(doc)
    return docs, warnings
