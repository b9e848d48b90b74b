"""What a source is, as qabot.toml names it: `[[source]]` tables, checked once when settings are read.

Why a module of its own: the settings loader (config.py) must stay light (no HTTP or git code behind
`qabot --help`), and every part that handles sources (the build, the sync, the scheduler, the CLI and
bot listings) reads the same frozen SourceSpec. A table that cannot be used raises ConfigError naming
the table, the key and what would be accepted, before anything is fetched or built.

    [[source]]
    git = "https://github.com/acme/handbook"   # or a local path to a repository
    branch = "main"
    refresh = "15m"
    sets = ["engineering"]                      # document sets besides `all` (index/sets.py)

The legacy `sources = ["docs_corpus", …]` list becomes folder specs that are not watched (legacy_folders),
so it keeps working exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ConfigError
from .sets import ALL, SET_NAME

KINDS = ("folder", "git", "sitemap", "urls")  # the key that names a table's kind, and its location
# Defaults: how often each kind is synced when `refresh` is not given (folders are watched instead).
DEFAULT_REFRESH_S = {"folder": 0.0, "git": 15 * 60.0, "sitemap": 6 * 3600.0, "urls": 6 * 3600.0}
MIN_REFRESH_S = 10.0  # a shorter period would hammer a host; tests use 10 s
# Web sources: caps and politeness (fetch_web.py applies them).
MAX_PAGES = 1000  # pages fetched per source and sync; a longer sitemap is cut, with a warning
MAX_PAGE_BYTES = 5 * 1024 * 1024  # a larger page is not downloaded past this
MAX_REDIRECTS = 5
RATE_PER_S = 2.0  # requests per second per host (robots.txt may ask for slower); 0 = no limit
WEB_TIMEOUT_S = 20.0  # per request: connecting, and each read
GIT_TIMEOUT_S = 600.0  # per git command (a first clone of a large repository takes a while)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_COMMON_KEYS = {"name", "refresh", "sets"}
_KEYS = {
    "folder": _COMMON_KEYS | {"folder", "watch", "poll"},
    "git": _COMMON_KEYS | {"git", "branch", "include", "web_url", "timeout"},
    "sitemap": _COMMON_KEYS
    | {"sitemap", "max_pages", "max_page_bytes", "max_redirects", "rate", "timeout", "allow_hosts"},
}
_KEYS["urls"] = (_KEYS["sitemap"] - {"sitemap"}) | {"urls"}


def parse_period(value, where: str) -> float:
    """Seconds from `"15m"`, `"6h"`, `"1h30m"`, `"2d"`, `"90s"` or a number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(f'{where}: refresh must be a period such as "15m" or "6h", not {value!r}')
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ConfigError(f"{where}: refresh {value!r} is not a period; write it like 30s, 15m, 6h or 1d")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds < MIN_REFRESH_S:
        raise ConfigError(f"{where}: refresh {value!r} is shorter than the minimum of {MIN_REFRESH_S:g} s")
    return seconds


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _web_url(value: str, where: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: {value!r} is not an http(s) URL")
    return value


@dataclass(frozen=True)
class SourceSpec:
    """One source of documents. `location` is the folder, the repository (URL or path), the sitemap URL,
    or for `urls` the first URL (all of them are in `urls`)."""

    kind: str
    name: str
    location: str
    refresh: float = 0.0  # seconds between syncs; 0 = only when watched changes or `qabot index` ask
    watch: bool = False  # folder: rebuild when its files change (qabot serve)
    poll: bool = False  # folder: poll instead of inotify (network file systems)
    branch: str = ""  # git: "" = the remote's default branch
    include: tuple[str, ...] = ()  # git: subfolders or glob patterns; () = every supported file
    web_url: str = ""  # git: link template; "" = derived for GitHub and GitLab
    urls: tuple[str, ...] = ()
    max_pages: int = MAX_PAGES
    max_page_bytes: int = MAX_PAGE_BYTES
    max_redirects: int = MAX_REDIRECTS
    rate: float = RATE_PER_S
    timeout: float = WEB_TIMEOUT_S
    allow_hosts: tuple[str, ...] = ()  # web: hosts besides the sitemap's (or the first URL's) own
    sets: tuple[str, ...] = ()  # document sets its documents are in besides `all` (index/sets.py)

    @property
    def all_sets(self) -> tuple[str, ...]:
        """Every set its documents are in: `all`, then the ones its table names."""
        return (ALL, *(s for s in self.sets if s != ALL))

    @property
    def remote(self) -> bool:
        """Synced by fetching (git, web) rather than read in place (folder)."""
        return self.kind != "folder"

    @property
    def hosts(self) -> frozenset[str]:
        """The hosts a web source may fetch from."""
        own = {_host(u) for u in ((self.location,) if self.kind == "sitemap" else self.urls)}
        return frozenset(own | {h.lower() for h in self.allow_hosts})

    @classmethod
    def parse(cls, table, where: str) -> SourceSpec:
        """A spec from one `[[source]]` table; ConfigError says what is wrong with it."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where} must be a table of keys (folder, git, sitemap or urls), not {table!r}")
        kinds = [k for k in KINDS if k in table]
        if len(kinds) != 1:
            found = " and ".join(kinds) if kinds else "none of them"
            raise ConfigError(f"{where} needs exactly one of folder, git, sitemap or urls (it has {found})")
        kind = kinds[0]
        where = f"{where} ({kind} = {table[kind]!r})"
        unknown = sorted(set(table) - _KEYS[kind])
        if unknown:
            known = ", ".join(sorted(_KEYS[kind]))
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; a {kind} source takes {known}")

        def text(key: str, default: str = "") -> str:
            value = table.get(key, default)
            if not isinstance(value, str):
                raise ConfigError(f"{where}: {key} must be text, not {value!r}")
            return value.strip()

        def texts(key: str) -> tuple[str, ...]:
            value = table.get(key, ())
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ConfigError(f"{where}: {key} must be a list of text, not {value!r}")
            return tuple(v.strip() for v in value)

        def number(key: str, default, least: float, kind_=float):
            value = table.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < least:
                raise ConfigError(f"{where}: {key} must be a number of at least {least:g}, not {value!r}")
            return kind_(value)

        def flag(key: str, default: bool) -> bool:
            value = table.get(key, default)
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {key} must be true or false, not {value!r}")
            return value

        values: dict = {"kind": kind}
        if kind == "urls":
            urls = tuple(_web_url(u, where) for u in texts("urls"))
            if not urls:
                raise ConfigError(f"{where}: urls must list at least one URL")
            values |= {"urls": urls, "location": urls[0]}
        else:
            location = text(kind)
            if not location:
                raise ConfigError(f"{where}: {kind} must not be empty")
            values["location"] = _web_url(location, where) if kind == "sitemap" else location
        refresh = table.get("refresh")
        values["refresh"] = DEFAULT_REFRESH_S[kind] if refresh is None else parse_period(refresh, where)
        if kind == "folder":
            values |= {"watch": flag("watch", True), "poll": flag("poll", False)}
        elif kind == "git":
            values |= {
                "branch": text("branch"),
                "include": texts("include"),
                "web_url": text("web_url"),
                "timeout": number("timeout", GIT_TIMEOUT_S, 1.0),
            }
            if values["web_url"] and "{commit}" not in values["web_url"] and "{path}" not in values["web_url"]:
                raise ConfigError(f"{where}: web_url must contain {{commit}} and {{path}}, e.g. {EXAMPLE_WEB_URL}")
        else:
            values |= {
                "max_pages": number("max_pages", MAX_PAGES, 1, int),
                "max_page_bytes": number("max_page_bytes", MAX_PAGE_BYTES, 1024, int),
                "max_redirects": number("max_redirects", MAX_REDIRECTS, 0, int),
                "rate": number("rate", RATE_PER_S, 0.0),
                "timeout": number("timeout", WEB_TIMEOUT_S, 0.1),
                "allow_hosts": texts("allow_hosts"),
            }
        values["sets"] = _set_names(texts("sets"), where)
        values["name"] = text("name") or default_name(kind, values["location"])
        return cls(**values)

    @classmethod
    def parse_all(cls, tables) -> tuple[SourceSpec, ...]:
        """Every `[[source]]` table, numbered from 1 in messages; names must be unique."""
        if isinstance(tables, Mapping):
            tables = [tables]
        if not isinstance(tables, list | tuple):
            raise ConfigError(f"source must be a list of [[source]] tables, not {tables!r}")
        specs = tuple(cls.parse(t, f"[[source]] #{i}") for i, t in enumerate(tables, start=1))
        seen: set[str] = set()
        for spec in specs:
            if spec.name in seen:
                raise ConfigError(f'two sources are named {spec.name!r}; give one of them another `name = "…"`')
            seen.add(spec.name)
        return specs


def _set_names(names: tuple[str, ...], where: str) -> tuple[str, ...]:
    """A table's `sets`, checked: letters, digits, `_ . -`, up to 64 characters; `saved:` is reserved."""
    for n in names:
        if not SET_NAME.fullmatch(n):
            raise ConfigError(
                f"{where}: set name {n!r} must be letters, digits, '_', '.' or '-' (up to 64 characters, "
                'e.g. sets = ["billing"]); `saved:…` sets are made by saving answers from Discord'
            )
    return tuple(dict.fromkeys(names))


EXAMPLE_WEB_URL = "https://git.example.org/handbook/blob/{commit}/{path}#L{first}-L{last}"


def default_name(kind: str, location: str) -> str:
    """A source's name when none is given: the folder, the repository's name, or the site's host."""
    if kind == "folder":
        return location
    if kind == "git":
        tail = re.split(r"[/:\\]", location.rstrip("/\\"))[-1]
        return tail.removesuffix(".git") or location
    return _host(location) or location


def legacy_folders(folders: tuple[str, ...]) -> tuple[SourceSpec, ...]:
    """The `sources = [...]` list as folder specs: read by every build, never watched (as before)."""
    return tuple(SourceSpec(kind="folder", name=f, location=f) for f in folders)
