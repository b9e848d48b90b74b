"""Helpers shared by the SimCord bot tests (their fixtures live in conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.checks import Refusal
from bot.settings import load_bot_settings
from index.engine import Engine
from index.store import IndexStore

PROJECT = Path(__file__).resolve().parent.parent
CORPUS = PROJECT / "docs_corpus"
BANKS = "Which North Korean banks did Treasury sanction?"  # one the reader is sure of: the card shows an answer
REINDEX_ROLE = "Librarians"
REFUSAL = "Sorry, only administrators and members with the reindex role can reindex the documents."
TOKEN = "MTQ0NDQ0NDQ0NDQ0NDQ0NDQ0.QaBoT.fake-reliability-token-Zx9Qv7Lm3Kp"


def settings_for(root: Path, sources=("docs_corpus",), **changes):
    """Bot settings for a private project root, ignoring the environment and any qabot.toml."""
    return load_bot_settings(env={}, root=root, sources=tuple(sources), **changes)


def built_corpus(tmp_path_factory) -> Path:
    """A copy of docs_corpus with its index, built once per test session and shared on disk by the bot tests."""
    base = tmp_path_factory.getbasetemp() / "bot-built-corpus"
    if not (base / "built.ok").exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir()
        shutil.copytree(CORPUS, base / "docs_corpus")
        Engine(settings_for(base).engine_settings).ensure_index()
        (base / "built.ok").write_text("ok")
    return base


def document_count(root: Path) -> int:
    """How many documents the bot tests' corpus holds: one per file in its docs_corpus/."""
    return sum(1 for p in (root / "docs_corpus").iterdir() if p.is_file())


def deferred_with_thinking(env, result) -> bool:
    """The interaction was first answered with "thinking…" (type 5), before any followup."""
    token = result._interaction.token
    callbacks = [r for r in env.http_requests if r.method == "POST" and r.path.endswith(f"/{token}/callback")]
    return bool(callbacks) and (callbacks[0].json or {}).get("type") == 5


def refusals(env) -> list[str]:
    """What the bot's checks refused so far, in order; reading them tells SimCord they were expected.
    Fails if anything else went wrong."""
    errors = env.errors
    assert all(isinstance(e, Refusal) for e in errors), errors
    return [str(e) for e in errors]


def custom_ids(components) -> list[str]:
    return [c["custom_id"] for row in components for c in row.get("components", []) if c.get("custom_id")]


def answer_id_of(message) -> int:
    """The answer id carried by the card's 👍 button."""
    ids = [c for c in custom_ids(message.components) if c.startswith("qa:fb:up:")]
    assert ids, message.components
    return int(ids[0].rsplit(":", 1)[1])


async def ask(world, question=BANKS, who=None):
    """/ask (by alice unless `who`), asserting it was deferred and answered with a card; returns
    (result, card, the id of the build that answered)."""
    result = await (who or world.alice).slash(world.channel, "ask", question=question)
    assert deferred_with_thinking(world.env, result)
    assert result.response is not None and result.response.embeds, result.response
    card = result.response.embeds[0]
    record = world.bot.engine.activity.get_answer(answer_id_of(result.response))
    return result, card, record["build_id"]


def current_build(root: Path) -> str:
    """The build the index folder's pointer names."""
    return IndexStore(settings_for(root).index_path).pointer()[0]
