"""The answer card: Discord's limits, escaping, no mentions. Plain data in, embeds out.

Cards are read back with a real Discord-markdown parse (`discord_markdown`, SimCord's parser): a regex
that skips `\\[` cannot tell an escaped bracket from an escaped backslash, and missed issue 10's links.
"""

from __future__ import annotations

import re

import discord

from bot import render
from bot.views import answer_view
from index.present import text_fragment_link
from index.types import Answer, Quote

from discord_markdown import Mark, faithful, forgeries, parse

TREASURY = "https://home.treasury.gov/news/press-releases/sb0302"
# Issue 10, item 2: escape_markdown left this a working masked link, with bold, spoiler and code after it.
PLANTED = "[a] \\\\[Treasury SDN list\\\\](https://phish.example) [x](https://phish.example) **b** ||c|| `d`"


def quote(text, **kw) -> Quote:
    values = dict(doc="docs_corpus/x.md", title="Treasury press release", url=TREASURY, date="2025-11-04", score=0.9)
    values.update(kw)
    return Quote(text=text, **values)


def answer(quotes, **kw) -> Answer:
    values = dict(
        question="Which banks were sanctioned?",
        abstained=False,
        built_at="2026-01-02T03:04:05+00:00",
        build_id="20260102T030405-abc",
    )
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
    assert f"[Treasury press release]({TREASURY}) · 2025-11-04" in e.description
    assert e.footer.text.startswith("Index built 2026-01-02 03:04 UTC")
    assert card.links == [("Treasury press release", "https://home.treasury.gov/news/press-releases/sb0302")]


def links_of(text: str) -> list[Mark]:
    return [m for line in parse(text).lines for m in line.marks if m.kind == "link"]


def quoted_lines(text: str):
    return [line for line in parse(text).lines if line.quoted]


def test_source_text_cannot_ping_or_forge_links_or_formatting():
    evil = "Hello @everyone and @here <@123> <@&456> <#789>, see [click me](http://evil.example) **now** `x`"
    card = render.answer_card(
        answer(
            [quote(evil, title="[Official](http://evil.example) @everyone")],
            question="@everyone [q](http://evil.example)?",
        )
    )
    e = card.embeds[0]
    text = e.title + "\n" + e.description

    assert "@everyone" not in text and "@here" not in text
    assert not re.search(r"<@!?&?\d+>|<#\d+>", text)
    assert forgeries(e.title, "embed_title") == []
    assert "**now**" not in text and "\\*\\*now\\*\\*" in text
    [body] = quoted_lines(e.description)
    assert body.marks == [] and faithful(body.text, evil)
    # the only link is the legitimate source link, and its text is the planted title, shown as text
    [link] = links_of(e.description)
    assert link == Mark("link", "[Official](http://evil.example) @\u200beveryone", TREASURY)


def test_url_with_parentheses_cannot_break_out_of_the_link():
    url = "https://example.org/page_(x)#:~:text=a) [b](http://evil"
    line = render.source_line(quote("x", url=url))
    [parsed] = parse(line).lines
    [link] = parsed.marks
    assert link.kind == "link" and link.text == "Treasury press release"
    assert link.href == "https://example.org/page_%28x%29#:~:text=a%29%20%5Bb%5D%28http://evil"
    assert parsed.text == "— Treasury press release · 2025-11-04"


def test_planted_masked_link_renders_as_text_in_quotes_titles_and_sources():
    """Issue 10, item 2: `\\\\[label\\\\](url)` in a body or title was a working link to phish.example."""
    for planted in (PLANTED, "\\[Treasury SDN list\\](https://phish.example) **b**"):
        card = render.answer_card(answer([quote(planted, title=planted, date=planted)], question=planted))
        e = card.embeds[0]
        assert forgeries(e.title, "embed_title") == []
        assert [m.href for m in links_of(e.description)] == [TREASURY]
        [body] = quoted_lines(e.description)
        assert body.marks == [] and faithful(body.text, planted), body
        [link] = links_of(e.description)
        assert faithful(link.text, planted)

        page = render.sources_page([{"title": planted, "url": TREASURY, "date": planted}], 0, 10, planted)
        [row] = parse(page.description).lines
        assert [m.kind for m in row.marks] == ["link"] and row.marks[0].href == TREASURY
        assert faithful(row.marks[0].text, planted) and row.text.startswith("• ")
        assert forgeries(page.title, "embed_title") == []


def test_escaped_text_reads_exactly_as_written():
    text = (
        "C:\\path\\ ends in \\ and [x] (y) *a* _b_ ~c~ |d| <e> #f &amp; 1. g\n"
        "# not a header\n- not a list\n-# not subtext\n> not a quote\n>>> nor this\n2) no\n+ no\n=== no"
    )
    e = render.answer_card(answer([quote(text)])).embeds[0]
    lines = quoted_lines(e.description)
    assert len(lines) == 9 and all(line.marks == [] and line.others == [] for line in lines)
    assert [line.text.replace("\u200b", "") for line in lines] == [ln.strip() for ln in text.splitlines()]
    assert forgeries(e.description.split("\n— ")[0]) == []


def test_timestamps_custom_emoji_and_command_mentions_stay_text():
    """Issue 10, item 9: these rendered live in quotes; each must read as typed and draw nothing."""
    text = "at <t:1:R> or <t:1700000000:F> :smile: <:blob:123> <a:blob:123> </reindex:1> </ask question:2> <id:home>"
    e = render.answer_card(answer([quote(text, title=text)], question=text)).embeds[0]
    parsed = parse(e.description)
    assert parsed.references == []
    assert parse(e.title, "embed_title").references == []
    [body] = [line for line in parsed.lines if line.quoted]
    assert faithful(body.text, text) and body.marks == []


def test_bare_urls_in_quotes_are_text_not_links():
    """Decision: a quote's bare URL stays readable but is not clickable; only our source links are."""
    text = "Apply at https://phish.example/login or <https://phish.example/x> or www.phish.example today."
    e = render.answer_card(answer([quote(text)])).embeds[0]
    assert [m.href for m in links_of(e.description)] == [TREASURY]
    [body] = quoted_lines(e.description)
    assert faithful(body.text, text)


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


def bodies_and_sources(description: str) -> tuple[list[str], list]:
    """The text of each quote (its `> ` lines) and the source line after it."""
    bodies, sources, current = [], [], []
    for line in parse(description).lines:
        if line.quoted:
            current.append(line.text)
        else:
            bodies.append(" ".join(current))
            sources.append(line)
            current = []
    return bodies, sources


def assert_every_quote_shown(embed: discord.Embed, quotes: list[Quote], at_least: int = 40) -> list:
    assert_within_limits([embed])
    assert "No passages." not in embed.description
    bodies, sources = bodies_and_sources(embed.description)
    assert len(bodies) == len(quotes)
    for body, q in zip(bodies, quotes):
        assert faithful(body, q.text) and len(body) >= min(at_least, len(q.text)), (body, q.text[:80])
    return sources


def test_a_4200_character_url_does_not_blank_the_card():
    """Issue 10, item 5: one front-matter URL this long made every quote drop ("No passages.", in green)."""
    long_url = "https://wiki.example.org/" + "a" * 4200
    quotes = [
        quote("The bank moved funds through front companies.", url=long_url, title="Long link"),
        quote("Ryujong Credit Bank was designated today.", doc="docs_corpus/y.md"),
        quote("The network used shell firms in three countries.", url="https://www.justice.gov/opa/pr/x"),
    ]
    e = render.answer_card(answer(quotes)).embeds[0]
    assert e.colour == render.ANSWER_COLOUR
    sources = assert_every_quote_shown(e, quotes)
    assert sources[0].marks == [Mark("strong", "Long link")]  # too long to link: the title stays, in bold
    assert [m.href for m in sources[1].marks + sources[2].marks] == [TREASURY, "https://www.justice.gov/opa/pr/x"]


def test_long_cjk_sentences_keep_their_links_without_the_text_fragment():
    """Percent-encoded CJK grows ninefold: the `#:~:text=` fragment goes before the link or the quote."""
    sentence = "北朝鮮の金融ネットワークは複数の国にまたがるフロント企業を通じて資金を移動させた。" * 4
    quotes = []
    for i in range(3):
        url = text_fragment_link(f"https://example{i}.jp/news/sanctions", sentence, "markdown", None)
        assert len(url) > 1400
        quotes.append(quote(sentence, url=url, title=f"制裁の発表 {i}", doc=f"docs_corpus/jp{i}.md"))
    e = render.answer_card(answer(quotes)).embeds[0]
    sources = assert_every_quote_shown(e, quotes)
    for i, source in enumerate(sources):
        assert source.marks == [Mark("link", f"制裁の発表 {i}", f"https://example{i}.jp/news/sanctions")]


def test_many_quotes_from_different_docs_with_long_links_all_appear():
    """Eight list quotes with 525-character links: links are shortened before any quote is dropped."""
    words = "The network moved funds through front companies registered in several countries. "
    quotes = [
        quote(
            f"Passage {i}. " + words * 12,
            doc=f"docs_corpus/d{i}.md",
            title=f"Document {i}",
            url=f"https://site{i}.example.org/" + "p" * 400 + "#:~:text=" + "w" * 90,
        )
        for i in range(8)
    ]
    for embed in (render.answer_card(answer(quotes)).embeds[0], render.more_card("Which banks?", quotes)):
        sources = assert_every_quote_shown(embed, quotes)
        assert all(len(s.marks) == 1 and s.marks[0].text.startswith("Document") for s in sources)
        assert all(len(m.href or "") <= render.LINK_URL_LIMIT for s in sources for m in s.marks)
        # the best quotes keep their links (without the fragment); the last lose theirs first
        assert sources[0].marks[0] == Mark("link", "Document 0", "https://site0.example.org/" + "p" * 400)
        assert sources[-1].marks[0] == Mark("strong", "Document 7")


def test_no_passages_never_shows_in_an_answer_card():
    huge = [quote(f"Passage {i} is quoted.", url="https://x.example/" + "a" * 4200, doc=f"d{i}") for i in range(8)]
    for a in (answer(huge), answer([], abstained=False)):
        e = render.answer_card(a).embeds[0]
        assert_within_limits([e])
        assert "No passages." not in e.description
    assert "Passage 7 is quoted." in render.answer_card(answer(huge)).embeds[0].description
    # Far more quotes than fit: the last are dropped, never the first, and never all of them.
    crowd = [quote(f"Crowded passage {i} is quoted here.", title="T" * 200, doc=f"d{i}") for i in range(60)]
    e = render.answer_card(answer(crowd)).embeds[0]
    assert_within_limits([e])
    assert "> Crowded passage 0 is quoted here." in e.description and "Crowded passage 59" not in e.description
    empty = render.answer_card(answer([])).embeds[0]
    assert empty.colour == render.ABSTAIN_COLOUR and "documents do not answer" in empty.description


def test_sources_page_with_long_links_lists_every_document():
    rows = [
        {"title": f"Document {i}", "url": "https://x.example/" + "a" * (4200 if i % 2 else 450), "date": "2025-11-04"}
        for i in range(10)
    ]
    e = render.sources_page(rows, 0, 10)
    assert_within_limits([e])
    lines = parse(e.description).lines
    assert len(lines) == 10 and e.description.count("\n") == 9
    for i, line in enumerate(lines):
        [mark] = line.marks
        assert mark.text == f"Document {i}" and line.text == f"• Document {i} · 2025-11-04"
        assert (mark.kind, mark.href is None) == (("strong", True) if i % 2 else ("link", False))


def test_the_answer_span_is_bold_in_the_card_and_nothing_else_is_markup():
    text = "They moved *$81 million* to [x](https://evil.example) accounts."
    a = text.index("$81 million")
    card = render.answer_card(answer([quote(text, marks=[(a, a + len("$81 million"))])]))
    lines = [ln for ln in parse(card.embeds[0].description).lines if ln.quoted]
    assert [(m.kind, m.text) for ln in lines for m in ln.marks] == [("strong", "$81 million")]
    assert faithful(lines[0].text, text)  # the quote still reads exactly as the source
    closest = render.answer_card(answer([quote(text, marks=[(a, a + 11)], closest=True)], abstained=True))
    assert "**" not in closest.embeds[0].description.replace("**The documents do not answer this question.**", "")
