"""The answer card: Discord's limits, escaping, no mentions. Plain data in, embeds out."""

from __future__ import annotations

import re

import discord

from bot import render
from bot.views import answer_view
from index.types import Answer, Quote

FORGED_LINK = re.compile(r"(?<!\\)\[[^\]\n]*(?<!\\)\]\(")


def quote(text, **kw) -> Quote:
    values = dict(doc="docs_corpus/x.md", title="Treasury press release", url="https://home.treasury.gov/news/press-releases/sb0302",
                  date="2025-11-04", score=0.9)
    values.update(kw)
    return Quote(text=text, **values)


def answer(quotes, **kw) -> Answer:
    values = dict(question="Which banks were sanctioned?", abstained=False, built_at="2026-01-02T03:04:05+00:00",
                  build_id="20260102T030405-abc")
    values.update(kw)
    return Answer(quotes=quotes, **values)


def assert_within_limits(embeds: list[discord.Embed]) -> None:
    assert 1 <= len(embeds) <= render.EMBEDS_PER_MESSAGE
    assert render.embed_size(embeds) <= render.TOTAL_EMBED_LIMIT
    for e in embeds:
        assert len(e.title or "") <= render.TITLE_LIMIT
        assert len(e.description or "") <= render.DESCRIPTION_LIMIT
        assert len(e.footer.text or "") <= render.FOOTER_LIMIT
        for f in e.fields:
            assert len(f.name) <= render.FIELD_NAME_LIMIT and len(f.value) <= render.FIELD_VALUE_LIMIT


def test_card_quotes_each_passage_with_title_date_link_and_build_time():
    card = render.answer_card(answer([quote("Ryujong Credit Bank was designated today.")]))
    e = card.embeds[0]

    assert e.title == "Which banks were sanctioned?"
    assert "> Ryujong Credit Bank was designated today." in e.description
    assert "[Treasury press release](https://home.treasury.gov/news/press-releases/sb0302) · 2025-11-04" in e.description
    assert e.footer.text.startswith("Index built 2026-01-02 03:04 UTC")
    assert card.links == [("Treasury press release", "https://home.treasury.gov/news/press-releases/sb0302")]


def test_source_text_cannot_ping_or_forge_links_or_formatting():
    evil = "Hello @everyone and @here <@123> <@&456> <#789>, see [click me](http://evil.example) **now** `x`"
    card = render.answer_card(answer([quote(evil, title="[Official](http://evil.example) @everyone")],
                                     question="@everyone [q](http://evil.example)?"))
    e = card.embeds[0]
    text = e.title + "\n" + e.description

    assert "@everyone" not in text and "@here" not in text
    assert not re.search(r"<@!?&?\d+>|<#\d+>", text)
    assert not FORGED_LINK.search(text)
    assert "**now**" not in text and "\\*\\*now\\*\\*" in text
    # the legitimate source link is still a link
    assert "](https://home.treasury.gov/news/press-releases/sb0302)" in e.description


def test_url_with_parentheses_cannot_break_out_of_the_link():
    url = "https://example.org/page_(x)#:~:text=a) [b](http://evil"
    line = render.source_line(quote("x", url=url))
    assert not FORGED_LINK.search(line.split("](", 1)[1])
    assert "http://evil" not in line.split("](", 1)[1].split(")", 1)[0] or "%29" in line


def test_non_http_urls_are_not_linked():
    assert render.safe_url("javascript:alert(1)") is None
    assert render.safe_url("file:///etc/passwd") is None
    assert render.button_url("https://x.org/" + "a" * 600) is None
    assert render.button_url("https://x.org/p#:~:text=" + "a" * 600) == "https://x.org/p"


def test_huge_quotes_stay_within_every_limit_and_trim_at_sentence_ends():
    sentence = "The bank moved funds for the network through front companies in several countries. "
    quotes = [quote(sentence * 80, title="T" * 400) for _ in range(8)]
    card = render.answer_card(answer(quotes, question="why? " * 400))

    assert_within_limits(card.embeds)
    e = card.embeds[0]
    assert len(e.title) <= render.TITLE_LIMIT and e.title.endswith("…")
    assert "countries. …" in e.description  # cut after a full sentence
    assert e.description.count("> ") == 8  # every quote kept, each shortened


def test_one_giant_sentence_without_spaces_never_fails():
    card = render.answer_card(answer([quote("x" * 20000), quote("@everyone " * 3000)]))
    assert_within_limits(card.embeds)
    assert "@everyone" not in card.embeds[0].description


def test_abstention_card_says_so_and_lists_at_most_three_closest_passages():
    closest = [quote(f"Passage number {i} about something else.", closest=True) for i in range(5)]
    card = render.answer_card(answer(closest, abstained=True, question="chocolate cake?"))
    e = card.embeds[0]

    assert "The documents do not answer this question." in e.description
    assert e.description.count("Closest passage") == 3
    assert "Passage number 3" not in e.description
    assert card.links == []


def test_answer_view_has_feedback_more_and_link_buttons():
    a = answer([quote("A."), quote("B.", url="https://www.justice.gov/opa/pr/x")], more=[quote("C.")])
    card = render.answer_card(a)
    view = answer_view(a, 42, card.links)
    ids = [c.custom_id for c in view.children if getattr(c, "custom_id", None)]
    urls = [c.url for c in view.children if getattr(c, "url", None)]

    assert ids == ["qa:fb:up:42", "qa:fb:down:42", "qa:more:42"]
    assert urls == ["https://home.treasury.gov/news/press-releases/sb0302", "https://www.justice.gov/opa/pr/x"]
    assert view.timeout is None and view.is_persistent()


def test_trim_prefers_sentence_boundaries():
    text = "First sentence here. Second sentence is longer than that. Third."
    assert render.trim(text, 30) == "First sentence here. …"
    assert render.trim(text, 1000) == text
    assert len(render.trim("word " * 100, 50)) <= 50
