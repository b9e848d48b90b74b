"""50 questions at once through the bot's answering path, while the event loop keeps ticking."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from bot import create_bot
from index.config import load_settings
from index.engine import Engine

pytestmark = pytest.mark.asyncio(loop_scope="session")

CORPUS = Path(__file__).resolve().parent.parent / "docs_corpus"
TOPICS = ["banks", "mixers", "laptop farms", "IT workers", "ransomware", "Bybit", "DMM Bitcoin", "Lazarus Group",
          "Kimsuky", "ChipMixer"]


def settings_for(root: Path, **changes):
    return load_settings(env={}, root=root, sources=("docs_corpus",), **changes)


def built_corpus(tmp_path_factory) -> Path:
    """The bundled corpus with its index, built once per session and shared on disk with test_bot.py."""
    base = tmp_path_factory.getbasetemp() / "bot-built-corpus"
    if not (base / "built.ok").exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir()
        shutil.copytree(CORPUS, base / "docs_corpus")
        Engine(settings_for(base)).ensure_index()
        (base / "built.ok").write_text("ok")
    return base


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    target = tmp_path_factory.mktemp("bot-concurrency-root")
    shutil.copytree(built_corpus(tmp_path_factory), target, dirs_exist_ok=True)
    return Engine(settings_for(target))


async def test_fifty_questions_at_once_never_stall_the_loop(engine):
    bot = create_bot(settings_for(engine.settings.root, rate_limit_count=1000), engine)
    await bot.answer("warm up the model")  # load the model before measuring
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker():
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    questions = [f"What did the documents say about {TOPICS[i % 10]} in case {i}?" for i in range(50)]
    try:
        results = await asyncio.gather(*(bot.answer(q, channel="load") for q in questions))
    finally:
        stop.set()
        await tick

    assert len(results) == 50
    assert all(answer.question == q for (answer, _), q in zip(results, questions))
    assert len({answer_id for _, answer_id in results}) == 50  # every question logged once
    assert gaps and max(gaps) < 0.100, f"the event loop stalled for {max(gaps) * 1000:.0f} ms"
    assert engine.activity.stats()["questions"] >= 50
