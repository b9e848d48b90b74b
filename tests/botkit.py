"""Helpers shared by the SimCord bot tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from index.config import load_settings
from index.engine import Engine

PROJECT = Path(__file__).resolve().parent.parent
CORPUS = PROJECT / "docs_corpus"


def settings_for(root: Path, sources=("docs_corpus",), **changes):
    """Settings for a private project root, ignoring the environment and any qabot.toml."""
    return load_settings(env={}, root=root, sources=tuple(sources), **changes)


def built_corpus(tmp_path_factory) -> Path:
    """A copy of docs_corpus with its index, built once per test session and shared on disk by the bot tests."""
    base = tmp_path_factory.getbasetemp() / "bot-built-corpus"
    if not (base / "built.ok").exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir()
        shutil.copytree(CORPUS, base / "docs_corpus")
        Engine(settings_for(base)).ensure_index()
        (base / "built.ok").write_text("ok")
    return base


def deferred_with_thinking(env, result) -> bool:
    """The interaction was first answered with "thinking…" (type 5), before any followup."""
    token = result._interaction.token
    callbacks = [r for r in env.http_requests if r.method == "POST" and r.path.endswith(f"/{token}/callback")]
    return bool(callbacks) and (callbacks[0].json or {}).get("type") == 5


def custom_ids(components) -> list[str]:
    return [c["custom_id"] for row in components for c in row.get("components", []) if c.get("custom_id")]


def answer_id_of(message) -> int:
    """The answer id carried by the card's 👍 button."""
    ids = [c for c in custom_ids(message.components) if c.startswith("qa:fb:up:")]
    assert ids, message.components
    return int(ids[0].rsplit(":", 1)[1])
