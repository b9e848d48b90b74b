"""Property: whatever a document says, its card shows it exactly and forges nothing (issue 10, items 2, 9).

Cards are parsed as Discord markdown (SimCord's parser, see `discord_markdown`). The only markup allowed
is ours: the abstention's bold and italic lines, the `> ` quotes, one title link (to a URL made from the
quote's own, by `safe_url`) or bold title per source line. Everything the document supplied (quote, title,
date, URL) must read back exactly as written, or as a start of it followed by an ellipsis where trimmed.

The example budget is `QABOT_HYPOTHESIS_EXAMPLES` (default 300); the issue's checker runs it larger.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.common.utils import unescapeAll

from bot import render
from index.types import Answer, Quote

from discord_markdown import Mark, faithful, forgeries, parse

_MD = MarkdownIt()
EXAMPLES = int(os.environ.get("QABOT_HYPOTHESIS_EXAMPLES", "300"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of Discord and CommonMark syntax, and the payloads of issue 10.
PIECES = [
    "[",
    "]",
    "(",
    ")",
    "\\",
    "\\\\",
    "*",
    "**",
    "***",
    "_",
    "__",
    "~",
    "~~",
    "|",
    "||",
    "`",
    "``",
    "```",
    ">",
    "> ",
    ">>> ",
    "#",
    "# ",
    "## ",
    "-# ",
    "-",
    "- ",
    "+ ",
    "* ",
    "1. ",
    "2) ",
    "=",
    "===",
    "---",
    "___",
    "\n",
    "\n\n",
    " ",
    "  ",
    "\t",
    "\r\n",
    "\u2028",
    "\x0c",
    "<",
    "<@123>",
    "<@!123>",
    "<@&456>",
    "<#789>",
    "@everyone",
    "@here",
    "@Everyone",
    "<t:1:R>",
    "<t:1700000000>",
    "<:blob:123>",
    "<a:blob:123>",
    "</reindex:123>",
    "</ask question:42>",
    "<id:customize>",
    "https://phish.example/x",
    "http://evil.example",
    "<https://evil.example>",
    "www.evil.example",
    "mailto:a@b.example",
    "[a](https://phish.example)",
    "[a] \\\\[Treasury SDN list\\\\](https://phish.example)",
    "\\[x\\](https://phish.example)",
    "](",
    "![i](",
    "[r]: https://ref.example",
    ":smile:",
    ":",
    "&amp;",
    "&#42;",
    "&lt;",
    "%",
    "%zz",
    ".",
    "!",
    "'",
    '"',
    "| a | b |\n|---|---|\n",
    "\u200b",
    "\u00a0",
    "é",
    "漢字の文",
    "…",
    "a",
    "Bank",
    "1",
    "   x",
]
_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
hostile = st.lists(st.one_of(st.sampled_from(PIECES), st.text(_CHARS, max_size=4)), max_size=24).map("".join)
long_hostile = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(_CHARS, max_size=12)), min_size=60, max_size=400
).map("".join)
urls = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "https://home.treasury.gov/news/press-releases/sb0302",
            "javascript:alert(1)",
            "https://example.org/page_(x)#:~:text=a) [b](http://evil",
            "ftp://x.example/f",
            "https://x.example/" + "a" * 600,
            "https://x.example/p#:~:text=" + "%E6%BC%A2" * 80,
        ]
    ),
    hostile.map(lambda t: "https://example.org/" + t),
)
quotes = st.builds(
    Quote, text=hostile, doc=hostile, title=hostile, url=urls, date=st.one_of(st.none(), hostile), score=st.just(0.5)
)
long_quotes = st.builds(
    Quote,
    text=long_hostile,
    doc=hostile,
    title=st.one_of(hostile, long_hostile),
    url=urls,
    date=st.one_of(st.none(), hostile, long_hostile),
    score=st.just(0.5),
)
rows = st.fixed_dictionaries({"title": hostile, "path": hostile, "url": urls, "date": st.one_of(st.none(), hostile)})


def as_parsed_href(url: str) -> str:
    """`url` as CommonMark reads a link destination (it decodes `&amp;`; Discord takes it literally)."""
    return _MD.normalizeLink(unescapeAll(url))


def assert_within_limits(embed) -> None:
    assert len(embed.title or "") <= render.TITLE_LIMIT
    assert len(embed.description or "") <= render.DESCRIPTION_LIMIT
    assert render.embed_size([embed]) <= render.TOTAL_EMBED_LIMIT


def assert_plain_title(title: str, source: str) -> None:
    assert forgeries(title, "embed_title") == [], title
    [line] = parse(title, "embed_title").lines
    assert faithful(line.text, source), (line.text, source)


def assert_source_line(line, bullet: str, title: str, url: str | None, date: str | None) -> None:
    """`• [Title](url) · date`: one link to a URL of our making (or bold), the title and date exact."""
    assert not line.quoted and line.others == [], line
    [mark] = line.marks
    if mark.kind == "link":
        assert mark.href in [as_parsed_href(u) for u in render.link_urls(url)], (mark.href, url)
    else:
        assert mark.kind == "strong" and mark.href is None, mark
    assert faithful(mark.text, title) if title.split() else mark.text == "Source", (mark.text, title)
    head = f"{bullet} {mark.text}"
    assert line.text.startswith(head), (line.text, head)
    rest = line.text[len(head) :]
    if date and date.split():
        assert rest.startswith(" · ") and faithful(rest[3:], date), (rest, date)
    else:
        assert rest == "", rest


def assert_quote_blocks(lines, shown: list[Quote], label: str = "") -> None:
    """Each quote's `> ` lines read as its text and hold no markup; its source line follows."""
    at = 0
    for q in shown:
        if label:
            assert lines[at].text == label and lines[at].marks == [Mark("em", label)], lines[at]
            at += 1
        body = []
        while lines[at].quoted:
            assert lines[at].marks == [] and lines[at].others == [], lines[at]
            body.append(lines[at].text)
            at += 1
        assert faithful("\n".join(body), q.text), (body, q.text)
        assert_source_line(lines[at], "—", q.title or q.doc, q.url, q.date)
        at += 1
    assert at == len(lines)


def assert_nothing_forged(text: str) -> None:
    parsed = parse(text)
    assert parsed.lines_lost == 0, text
    assert parsed.blocks <= {"blockquote", "paragraph", "inline"}, parsed.blocks
    assert parsed.references == [] and parsed.subtext_lines == [], (parsed.references, parsed.subtext_lines)


@PROPERTY
@given(st.lists(quotes, min_size=1, max_size=4), hostile, st.booleans())
def test_answer_cards_forge_nothing_and_read_exactly(qs, question, abstained):
    answer = Answer(question=question, abstained=abstained, quotes=qs, built_at="2026-01-02T03:04:05+00:00")
    embed = render.answer_card(answer).embeds[0]
    assert_within_limits(embed)
    assert_plain_title(embed.title, " ".join(question.split()) or "Question")
    assert_nothing_forged(embed.description)
    lines = parse(embed.description).lines
    if abstained:
        shown = qs[: render.MAX_CLOSEST]
        head = "The documents do not answer this question."
        assert lines[0].text == head and lines[0].marks == [Mark("strong", head)], lines[0]
        assert lines[1].text == "The closest passages are below; they are not an answer.", lines[1]
        assert lines[1].marks == [Mark("em", "not")]
        assert_quote_blocks(lines[2:], shown, label="Closest passage (does not answer):")
    else:
        assert_quote_blocks(lines, qs)


@PROPERTY
@given(st.lists(long_quotes, min_size=1, max_size=8), long_hostile)
def test_trimmed_cards_forge_nothing_and_read_as_a_start_of_the_text(qs, question):
    """Long quotes, titles, dates and questions are trimmed: never into markup, never to nothing."""
    embed = render.answer_card(Answer(question=question, abstained=False, quotes=qs)).embeds[0]
    assert_within_limits(embed)
    assert_plain_title(embed.title, " ".join(question.split()) or "Question")
    assert_nothing_forged(embed.description)
    assert_quote_blocks(parse(embed.description).lines, qs)


@PROPERTY
@given(st.lists(quotes, min_size=1, max_size=6), hostile)
def test_more_cards_forge_nothing_and_read_exactly(qs, question):
    embed = render.more_card(question, qs)
    assert_within_limits(embed)
    assert_plain_title(embed.title, " ".join(f"More passages: {question}".split()))
    assert_nothing_forged(embed.description)
    assert_quote_blocks(parse(embed.description).lines, qs)


@PROPERTY
@given(st.lists(rows, min_size=1, max_size=10), hostile)
def test_sources_pages_forge_nothing_and_read_exactly(page_rows, filter):
    embed = render.sources_page(page_rows, 0, 10, filter)
    assert_within_limits(embed)
    assert forgeries(embed.title, "embed_title") == [], embed.title
    assert_nothing_forged(embed.description)
    lines = parse(embed.description).lines
    assert len(lines) == len(page_rows)
    for line, row in zip(lines, page_rows):
        assert_source_line(line, "•", str(row["title"] or row["path"] or "?"), row["url"], row["date"])


def test_the_parser_is_live():
    """The checks above mean something only if the parser sees Discord markup: it must see all of this."""
    found = forgeries(
        "[a](https://x.example) **b** <@1> <t:1:R> <a:blob:12> </reindex:5> @everyone `c` ||d||"
        " ~~e~~ __f__ https://bare.example\n-# sub\n# h\n---\n1. x"
    )
    for kind in (
        "link 'a'",
        "strong",
        "code",
        "spoiler",
        "s 'e'",
        "u 'f'",
        "link 'https://bare.example'",
        "reference mention",
        "reference timestamp",
        "reference emoji",
        "reference command",
        "subtext",
        "block heading",
        "block ordered_list",
        "line(s) became something else",
    ):
        assert any(f.startswith(kind) or kind in f for f in found), (kind, found)
