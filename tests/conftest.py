"""Shared fixtures: the real corpus indexed once per test session with the real bundled model, and the
bot tests' world (a private copy of the built corpus, its engine, the bot's settings, a SimCord server)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_asyncio

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DEV_SET = SHARED / "eval" / "dev.jsonl"


# The four kinds of unanswerable question every labelled set over the bundled corpus covers (issue 12).
UNANSWERABLE_KINDS = {"kind:attribute", "kind:false-premise", "kind:never-mentioned", "kind:near-miss"}


def assert_labels_verbatim(rows: list[dict], answers_within: str = "document") -> None:
    """Every answerable row's evidence is verbatim (whitespace folded) in its document, and every
    answer in its document or, with `answers_within="evidence"`, in its evidence; yes-no answers are
    "yes" or "no"."""
    from bench.evaluate import norm

    by_name = {p.name: p for d in ("docs_corpus", "seeds") for p in (ROOT / d).rglob("*") if p.is_file()}
    for r in rows:
        if r["type"] == "unanswerable":
            continue
        docs = r["doc"] if isinstance(r["doc"], list) else [r["doc"]]
        text = " ".join(norm(by_name[d].read_text(encoding="utf-8-sig")) for d in docs)
        evidence = r["evidence"] if isinstance(r["evidence"], list) else [r["evidence"]]
        for ev in evidence:
            assert norm(ev) in text, (r["id"], ev)
        if r["type"] == "yes-no":
            assert r["answers"] in (["yes"], ["no"]), r["id"]
            continue
        within = norm(" ".join(evidence)) if answers_within == "evidence" else text
        for ans in r["answers"]:
            assert norm(ans) in within, (r["id"], ans)


@pytest.fixture(scope="session")
def corpus_settings(tmp_path_factory):
    """Settings whose index lives in a temp folder and whose sources are the project's corpus (read only)."""
    from index.config import Settings

    index_dir = tmp_path_factory.mktemp("index")
    return Settings(root=ROOT, index_dir=str(index_dir))


@pytest.fixture(scope="session")
def engine(corpus_settings):
    """An Engine over the bundled corpus, built with the real model (once per session)."""
    from index.engine import Engine

    eng = Engine(corpus_settings)
    eng.rebuild(full=True)
    return eng


@pytest.fixture()
def corpus_copy(tmp_path):
    """A writable copy of the corpus (both source folders) with Settings pointing at it."""
    from index.config import Settings

    for folder in ("docs_corpus", "seeds"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return Settings(root=tmp_path, index_dir=".qabot")


@pytest.fixture()
def hash_encoder():
    """A deterministic stand-in encoder for tests about store mechanics, not retrieval quality."""
    from index.embedding import HashEncoder

    return HashEncoder()


def require_shared(path: Path = DEV_SET):
    if not path.exists():
        pytest.skip(f"{path} is not present (../shared is only beside a development checkout)")
    return path


# ---- the bot's world, for tests/test_bot*.py ------------------------------------------------------
# A module may override `bot_root`, `bot_engine` or `bot_settings` (tests/test_bot_live_swap.py does).


@pytest.fixture(scope="module")
def bot_root(tmp_path_factory) -> Path:
    """This module's own copy of docs_corpus/ and its index (built once per session): its activity log
    starts empty, and its tests may add documents and reindex."""
    from botkit import built_corpus

    target = tmp_path_factory.mktemp("bot-root")
    shutil.copytree(built_corpus(tmp_path_factory), target, dirs_exist_ok=True)
    return target


@pytest.fixture(scope="module")
def bot_engine(bot_root):
    from index.engine import Engine

    from botkit import settings_for

    return Engine(settings_for(bot_root).engine_settings)


@pytest.fixture
def bot_settings(bot_root):
    """The "Librarians" role may reindex; a token that must never be shown; a rate limit no test reaches
    by accident (the rate-limit tests set their own)."""
    from botkit import REINDEX_ROLE, TOKEN, settings_for

    return settings_for(bot_root, reindex_role=REINDEX_ROLE, discord_token=TOKEN, rate_limit_count=500)


@pytest.fixture
def simcord_bot(bot_settings, bot_engine):
    """The bot SimCord's `simcord_env` runs."""
    from bot import create_bot

    return create_bot(bot_settings, bot_engine)


@pytest_asyncio.fixture
async def world(simcord_env):
    """A server with #general, its commands synced, and one member of each kind: plain members alice and
    bob, an administrator, a librarian (the reindex role), a keeper (a role configured by id in some
    tests) and a mod (may manage the server, but is no administrator)."""
    import discord

    from botkit import REINDEX_ROLE

    env = simcord_env
    guild = env.create_guild("Team")
    admins = guild.create_role("Admins", permissions=discord.Permissions(administrator=True))
    librarians = guild.create_role(REINDEX_ROLE)
    keepers = guild.create_role("Keepers")
    mods = guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True, manage_messages=True))
    world = SimpleNamespace(
        env=env,
        bot=env.bot,
        guild=guild,
        channel=guild.create_text_channel("general"),
        keepers=keepers,
        alice=guild.add_member(env.create_user("alice")),
        bob=guild.add_member(env.create_user("bob")),
        admin=guild.add_member(env.create_user("admin"), roles=[admins]),
        librarian=guild.add_member(env.create_user("librarian"), roles=[librarians]),
        keeper=guild.add_member(env.create_user("keeper"), roles=[keepers]),
        mod=guild.add_member(env.create_user("mod"), roles=[mods]),
    )
    await env.bot.tree.sync()
    return world
