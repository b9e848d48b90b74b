"""Settings, read in one place: environment variables over an optional TOML file over defaults."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "QABOT_"


def _default_root() -> Path:
    cwd = Path.cwd()
    if (cwd / "docs_corpus").is_dir() or (cwd / "qabot.toml").is_file():
        return cwd
    return PACKAGE_ROOT


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Paths in `sources` and `index_dir` are relative to `root`."""

    root: Path = field(default_factory=_default_root)
    sources: tuple[str, ...] = ("docs_corpus", "seeds")
    index_dir: str = ".qabot"
    base_url: str = ""  # link for documents without a URL: base_url + relative path; "" = no link
    encoder: str = "minilm"  # "minilm" (the bundled model) or "hash" (a fast fake, for tests of mechanics only)
    # answering
    max_quotes: int = 3
    max_list_quotes: int = 8
    max_question_chars: int = 1000
    # Discord
    discord_token: str = field(default="", repr=False)
    dev_guild_id: int | None = None
    qa_channel_ids: tuple[int, ...] = ()
    reindex_role: str = ""
    private_by_default: bool = False
    answer_in_thread: bool = False
    rate_limit_count: int = 5
    rate_limit_seconds: float = 30.0

    @property
    def index_path(self) -> Path:
        return (self.root / self.index_dir).resolve()

    @property
    def source_paths(self) -> list[Path]:
        return [(self.root / s).resolve() for s in self.sources]

    def with_(self, **changes) -> "Settings":
        """A copy with some fields changed."""
        return replace(self, **changes)


def _coerce(name: str, value, current):
    if name == "root":
        return Path(value).expanduser()
    if isinstance(current, bool):
        if isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        return bool(value)
    if isinstance(current, tuple) or name in {"sources", "qa_channel_ids"}:
        items = value.split(",") if isinstance(value, str) else list(value)
        items = [str(i).strip() for i in items if str(i).strip()]
        return tuple(int(i) for i in items) if name == "qa_channel_ids" else tuple(items)
    if name == "dev_guild_id":
        return int(value) if str(value).strip() else None
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    return str(value)


def load_settings(config_file: str | os.PathLike | None = None, env: dict | None = None, **overrides) -> Settings:
    """Settings from defaults, then `qabot.toml` (or QABOT_CONFIG), then QABOT_* / DISCORD_TOKEN variables."""
    env = dict(os.environ if env is None else env)
    base = Settings()
    values: dict = {}
    path = config_file or env.get("QABOT_CONFIG")
    if path is None and (base.root / "qabot.toml").is_file():
        path = base.root / "qabot.toml"
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        data = data.get("qabot", data)
        for f in fields(Settings):
            if f.name in data:
                values[f.name] = _coerce(f.name, data[f.name], getattr(base, f.name))
        if "root" not in data:
            values.setdefault("root", Path(path).resolve().parent)
    for f in fields(Settings):
        key = ENV_PREFIX + f.name.upper()
        if key in env:
            values[f.name] = _coerce(f.name, env[key], getattr(base, f.name))
    if env.get("DISCORD_TOKEN"):
        values["discord_token"] = env["DISCORD_TOKEN"]
    values.update(overrides)
    return replace(base, **values)
