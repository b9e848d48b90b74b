"""Helpers shared by the SimCord bot tests (their fixtures live in conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

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


CALIBRATION = PROJECT / "calibration-bundled.json"  # the bundled corpus's own threshold (qabot.toml names it)


def settings_for(root: Path, sources=("docs_corpus",), **changes):
    """Bot settings for a private project root holding a copy of the bundled corpus, with that corpus's
    calibration, ignoring the environment and any qabot.toml."""
    changes = {"calibration": str(CALIBRATION)} | changes
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


# ---- a small community corpus: two document sets, for the per-server and per-channel tests ---------------

COMMUNITY_TOML = """\
[[source]]
folder = "billing"
sets = ["billing"]
watch = false

[[source]]
folder = "eng"
sets = ["eng"]
watch = false
"""
COMMUNITY_DOCS = {
    "billing/refunds.md": """---
title: "Billing handbook: refunds"
url: "https://example.org/billing/refunds"
date: "2026-03-01"
---

# Refunds

The Refund Desk approves refund requests over 500 euros within five working days.
Refunds under 500 euros are paid back automatically by the Billing Portal.
Marta Ruiz leads the Refund Desk from the Lisbon office.
""",
    "billing/invoices.md": """---
title: "Billing handbook: invoices"
url: "https://example.org/billing/invoices"
date: "2026-03-02"
---

# Invoices

Invoices are sent on the first working day of each month by the Billing Portal.
A corrected invoice replaces the wrong one within three days of a complaint.
""",
    "eng/deploys.md": """---
title: "Engineering docs: deploys"
url: "https://example.org/eng/deploys"
date: "2026-04-01"
---

# Deploys

The Release Council approves production deploy requests within two hours.
Hotfixes may skip the Release Council when the on-call engineer signs them off.
Kenji Sato leads the Release Council from the Osaka office.
""",
    "eng/oncall.md": """---
title: "Engineering docs: on-call"
url: "https://example.org/eng/oncall"
date: "2026-04-02"
---

# On-call

The on-call engineer answers pages within fifteen minutes, day and night.
The on-call rota changes every Monday at nine in the morning.
""",
}
BILLING_MARK, ENG_MARK = "Refund Desk", "Release Council"  # a phrase only each set's documents hold
APPROVALS = "Who approves requests, and how fast?"  # each set answers it from its own documents


def community_settings(root: Path, **changes):
    """Bot settings for the community corpus at `root` (its qabot.toml), ignoring the environment."""
    return load_bot_settings(root / "qabot.toml", env={}, **{"rate_limit_count": 500, "discord_token": TOKEN} | changes)


def community_corpus(tmp_path_factory) -> Path:
    """The two-set corpus with its index (real model), built once per test session."""
    base = tmp_path_factory.getbasetemp() / "bot-community-corpus"
    if not (base / "built.ok").exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir()
        (base / "qabot.toml").write_text(COMMUNITY_TOML)
        for name, text in COMMUNITY_DOCS.items():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            (base / name).write_text(text)
        Engine(community_settings(base).engine_settings).ensure_index()
        (base / "built.ok").write_text("ok")
    return base


def community_copy(tmp_path_factory, name: str) -> Path:
    """A test module's own copy of the built community corpus (its settings and saved answers stay its own)."""
    target = tmp_path_factory.mktemp(name)
    shutil.copytree(community_corpus(tmp_path_factory), target, dirs_exist_ok=True)
    return target


def fresh_community_settings(root: Path, **changes):
    """community_settings with no server settings stored: SimCord's ids repeat from test to test."""
    for stale in root.glob(".qabot/guilds.sqlite*"):
        stale.unlink()
    return community_settings(root, **changes)


def card_text(result_or_message) -> str:
    """An answer card's description (from an interaction result or a message)."""
    message = getattr(result_or_message, "response", None) or result_or_message
    assert message is not None and message.embeds, message
    return message.embeds[0].description or ""


def second_guild(env, name: str = "Other"):
    """Another server beside the world's, with #general, an administrator and a plain member carol."""
    import discord

    guild = env.create_guild(name)
    admins = guild.create_role("Admins", permissions=discord.Permissions(administrator=True))
    return SimpleNamespace(
        guild=guild,
        channel=guild.create_text_channel("general"),
        admin=guild.add_member(env.create_user(f"{name.lower()}-admin"), roles=[admins]),
        carol=guild.add_member(env.create_user(f"{name.lower()}-carol")),
    )
