"""The local preview page in a real browser: /ask on the bundled corpus, saved as a PNG to look at.

Playwright drives Debian's `chromium` through `executable_path` (`playwright install` cannot download
browsers here). Set QABOT_SCREENSHOT=path.png to keep the picture.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import simcord

from bot import create_bot
from bot.run import start_preview_world

from botkit import BANKS

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
async def test_preview_page_shows_an_answer_card(bot_settings, bot_engine, tmp_path):
    playwright_api = pytest.importorskip("playwright.async_api", reason="needs simcord[screenshot]")
    bot = create_bot(bot_settings, bot_engine)
    png = Path(os.environ.get("QABOT_SCREENSHOT") or tmp_path / "answer-card.png")

    async with simcord.run(bot, settle_timeout=120) as env:
        channel, you = await start_preview_world(env)
        result = await you.slash(channel, "ask", question=BANKS)
        assert "Ryujong Credit Bank" in result.response.embeds[0].description
        assert "do not answer" not in result.response.embeds[0].description
        async with env.preview(
            channel, viewers=[you], layout="channel", display="fixed", width=1000, height=900
        ) as preview:
            async with playwright_api.async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                try:
                    page = await browser.new_page(viewport={"width": 1000, "height": 900})
                    await page.goto(preview.url)
                    await page.get_by_text("Ryujong Credit Bank").first.wait_for(timeout=30_000)
                    await page.wait_for_timeout(500)  # fonts and layout settle
                    png.parent.mkdir(parents=True, exist_ok=True)
                    await page.screenshot(path=str(png), full_page=True)
                    body = await page.inner_text("body")
                finally:
                    await browser.close()

    assert png.stat().st_size > 10_000
    assert BANKS in body
    assert "Index built" in body
    print(f"answer card screenshot: {png}")
