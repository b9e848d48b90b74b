"""50 questions at once through the bot's answering path, while the event loop keeps ticking."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot import create_bot

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOPICS = [
    "banks",
    "mixers",
    "laptop farms",
    "IT workers",
    "ransomware",
    "Bybit",
    "DMM Bitcoin",
    "Lazarus Group",
    "Kimsuky",
    "ChipMixer",
]


async def test_fifty_questions_at_once_never_stall_the_loop(bot_settings, bot_engine):
    bot = create_bot(bot_settings, bot_engine)
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
    assert all(answer.question == q for (answer, _), q in zip(results, questions, strict=True))
    assert len({answer_id for _, answer_id in results}) == 50  # every question logged once
    assert gaps and max(gaps) < 0.100, f"the event loop stalled for {max(gaps) * 1000:.0f} ms"
    assert bot_engine.activity.stats()["questions"] >= 50
