"""Settings, read in one place: environment variables over an optional TOML file over defaults.

`Settings` holds what the engine needs. `load_into` reads any subclass of it the same way, so an edge
(the Discord bot, in bot/settings.py) adds its own fields without the engine knowing about them, and
every setting still comes from the same `qabot.toml` and `QABOT_*` variables.
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Self, TypeVar

from .sourcespec import SourceSpec, legacy_folders

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "QABOT_"
CONFIG_VARIABLE = "QABOT_CONFIG"
CONFIG_FILE = "qabot.toml"
TOML_TABLE = "qabot"  # the settings may sit at the top of the file or under [qabot]
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def _default_root() -> Path:
    cwd = Path.cwd()
    if (cwd / "docs_corpus").is_dir() or (cwd / CONFIG_FILE).is_file():
        return cwd
    return PACKAGE_ROOT


@dataclass(frozen=True)
class Settings:
    """Everything the engine can be told. Paths in `sources` and `index_dir` are relative to `root`."""

    root: Path = field(default_factory=_default_root)
    sources: tuple[str, ...] = ("docs_corpus", "seeds")  # folders, as before [[source]] existed
    source: tuple[SourceSpec, ...] = ()  # the [[source]] tables of qabot.toml (sourcespec.py)
    index_dir: str = ".qabot"
    base_url: str = ""  # link for documents without a URL: base_url + relative path; "" = no link
    calibration: str = ""  # this corpus's calibration file (`qabot train` or `qabot calibrate` output); "" = none
    encoder: str = "minilm"  # "minilm" (the bundled model) or "hash" (a fast fake, for tests of mechanics only)
    # answering
    max_quotes: int = 3
    max_list_quotes: int = 8
    max_question_chars: int = 1000

    @property
    def index_path(self) -> Path:
        return (self.root / self.index_dir).resolve()

    @property
    def source_paths(self) -> list[Path]:
        return [(self.root / s).resolve() for s in self.sources]

    @property
    def all_sources(self) -> tuple[SourceSpec, ...]:
        """Every source: the `sources` folders (not watched, as before), then the [[source]] tables; a
        legacy folder that a [[source]] table also names is listed once, as the table says."""
        tabled = {(self.root / s.location).resolve() for s in self.source if s.kind == "folder"}
        legacy = [s for s in legacy_folders(self.sources) if (self.root / s.location).resolve() not in tabled]
        return (*legacy, *self.source)

    def with_(self, **changes) -> Self:
        """A copy with some fields changed."""
        return replace(self, **changes)


S = TypeVar("S", bound=Settings)


def _coerce(value, hint):
    """A TOML or environment value as the field's declared type (lists may be comma-separated text)."""
    if hint is Path:
        return Path(value).expanduser()
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # `int | None`: empty text is None
        if not str(value).strip():
            return None
        return _coerce(value, next(a for a in typing.get_args(hint) if a is not type(None)))
    if typing.get_origin(hint) is tuple:
        item_type = typing.get_args(hint)[0]
        if hasattr(item_type, "parse_all"):  # tables (SourceSpec): the type checks them itself
            return item_type.parse_all(value)
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(_coerce(i, item_type) for i in (str(i).strip() for i in items) if i)
    if hint is bool:
        return value.strip().lower() in TRUE_WORDS if isinstance(value, str) else bool(value)
    return hint(value)


def load_into(
    cls: type[S],
    config_file: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    *,
    aliases: Mapping[str, str] | None = None,
    overrides: Mapping | None = None,
) -> S:
    """`cls` from its defaults, then `qabot.toml` (or $QABOT_CONFIG), then QABOT_<FIELD> variables, then
    `aliases` (variable name -> field, used when set and not empty), then `overrides`.

    The one reader of the process environment for settings; `env` replaces it (tests pass `{}`)."""
    env = dict(os.environ if env is None else env)
    base = cls()
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    values: dict = {}
    path = config_file or env.get(CONFIG_VARIABLE)
    if path is None and (base.root / CONFIG_FILE).is_file():
        path = base.root / CONFIG_FILE
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        data = data.get(TOML_TABLE, data)
        values |= {name: _coerce(data[name], hints[name]) for name in names if name in data}
        if "source" in data and "sources" not in data:  # [[source]] tables replace the default folders
            values["sources"] = ()
        if "root" not in data:
            values["root"] = Path(path).resolve().parent
    values |= {
        name: _coerce(env[ENV_PREFIX + name.upper()], hints[name]) for name in names if ENV_PREFIX + name.upper() in env
    }
    values |= {name: _coerce(env[var], hints[name]) for var, name in (aliases or {}).items() if env.get(var)}
    values |= dict(overrides or {})
    return replace(base, **values)


def load_settings(
    config_file: str | os.PathLike | None = None, env: Mapping[str, str] | None = None, **overrides
) -> Settings:
    """The engine's settings, read as `load_into` says."""
    return load_into(Settings, config_file, env, overrides=overrides)
