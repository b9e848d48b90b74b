"""Turn an engine Answer into Discord embeds that respect every Discord limit and forge nothing.

Documents are written by whoever can write to a source folder, so every character of a title, a
quote or a date is treated as hostile. `escape()` is our own: `discord.utils.escape_markdown` leaves a
`[label](url)` span with one backslash in front and its contents unescaped, which let a planted
document render a working masked link (issue 10, item 2). Here every character that Discord's markdown
gives a meaning is escaped with a backslash, backslashes first, so the reader sees the source text
exactly and nothing in it is markup. The only markup in a card is ours: the block quotes, the bold
labels and the title links, whose URLs `safe_url()` percent-encodes.

Bare URLs in a quote stay readable text but are not clickable: their `:` is escaped, which stops
auto-linking. The only clickable links are the source-title links and the link buttons.

A quote from the server's saved answers (a teammate's Discord message saved with "Save as answer") is
marked as such on its source line, and its link is the message's jump link; its text is escaped like
every other quote, so a saved `@everyone` or `[link](…)` stays text. A follow-up's card says which
earlier question it followed up on, escaped the same way.

Links are capped (issue 10, item 5): a URL longer than `LINK_URL_LIMIT` loses its fragment (the
`#:~:text=` highlight), then the link itself (the title stays, in bold), and when the source lines
of a card take more than their share of the description, the longest is shortened the same way
first. Quotes are dropped only after that, from the last, and never the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import discord

from index.terminal import marked, placeholders_to
from index.types import Answer, Quote

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
TOTAL_EMBED_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
BUTTON_LABEL_LIMIT = 80
BUTTON_URL_LIMIT = 512

# Our own caps on what a card shows.
MAX_CLOSEST = 3
LINK_URL_LIMIT = 512  # longest URL put in a masked link; longer ones lose their fragment, then the link
SOURCE_TITLE_LIMIT = 120  # escaped characters of a title on a quote's source line
SOURCES_TITLE_LIMIT = 150  # escaped characters of a title on a /sources row
DATE_LIMIT = 40  # escaped characters of a document's date
FILTER_LIMIT = 60  # escaped characters of the /sources filter echoed in the heading
FOLLOW_UP_LIMIT = 200  # escaped characters of the earlier question a follow-up's card names
NOTE_LIMIT = 300  # escaped characters of the engine's note on an abstention (why nothing was searched)
SETS_LIMIT = 200  # characters of a list of document sets on a footer or a /sources row
SOURCE_LINES_SHARE = 2  # source lines may take at most 1/SOURCE_LINES_SHARE of a card's description
MIN_QUOTE_ROOM = 80  # characters a quote needs (escaped, with "> ") before another quote is dropped
MIN_TRIMMED_QUOTE = 8  # below this a trimmed quote would be only an ellipsis

ANSWER_COLOUR = discord.Colour(0x2E7D32)
ABSTAIN_COLOUR = discord.Colour(0x757575)
INFO_COLOUR = discord.Colour(0x1565C0)

NO_MENTIONS = discord.AllowedMentions.none()

ABSTAIN_HEAD = "**The documents do not answer this question.**"
ABSTAIN_CLOSEST = "\nThe closest passages are below; they are *not* an answer."
CLOSEST_LABEL = "*Closest passage (does not answer):*"
FOLLOW_UP_LABEL = "↪ *following up on:* "
SAVED_LABEL = "📌 from this server's saved answers: "
SAVED_BUTTON = "Saved answer"
SAVED_PREFIX = "saved:"  # the engine names a server's saved answers `saved:<guild id>`
ELLIPSIS = "…"
_ZWSP = "\u200b"

# Escaped wherever they stand: emphasis, underline, strike, spoiler, code, links, block quotes,
# headers, emoji shortcodes and URL schemes (`:`), HTML entities (`&`), and `<…>` references.
_ALWAYS_ESCAPED = frozenset("\\`*_~|[]()<>#:&")
# Escaped only as the first character of a line: list items, subtext `-#`, setext underlines.
_LINE_START_ESCAPED = frozenset("-+=")
_NUMBERED_ITEM = re.compile(r"\s*\d+\.")  # `1. item`: its dot is escaped
_MASS_MENTION = re.compile(r"(everyone|here)", re.IGNORECASE)  # after an `@`
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")  # a `%` that does not start an escape
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")


def escape(text: str) -> str:
    """Source or user text made inert: shown exactly as written, with no markup, link or mention.

    Every character Discord's markdown gives a meaning gets a backslash (a backslash too, so a literal
    one cannot escape ours). Every `<` also gets a zero-width space after it, so no `<@id>`, `<#id>`,
    `<t:…>`, `<:emoji:id>`, `</command:id>` or `<https://…>` can form, and `@everyone` / `@here` get
    one after the `@`. Lines are split as `str.splitlines` splits them, as `block_quote` does.
    """
    return "".join(_escape_line(line) for line in text.splitlines(keepends=True))


def _escape_line(line: str) -> str:
    first = len(line) - len(line.lstrip())
    numbered = _NUMBERED_ITEM.match(line)
    number_dot = numbered.end() - 1 if numbered else -1
    out = []
    for i, ch in enumerate(line):
        if ch in _ALWAYS_ESCAPED or i == number_dot or (i == first and ch in _LINE_START_ESCAPED):
            out.append("\\")
        out.append(ch)
        if ch == "<" or (ch == "@" and _MASS_MENTION.match(line, i + 1)):
            out.append(_ZWSP)
    return "".join(out)


def one_line(text: str) -> str:
    """`text` with every run of whitespace, line breaks included, as one space."""
    return " ".join(text.split())


def trim(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a sentence end if one is near, else at a word."""
    if len(text) <= limit:
        return text
    if limit <= 2:
        return text[: max(limit, 0)]
    room = limit - 2  # for " …"
    ends = [m.end() for m in _SENTENCE_END.finditer(text[: room + 1]) if m.end() <= room]
    if ends and ends[-1] >= room // 3:
        return text[: ends[-1]].rstrip() + " " + ELLIPSIS
    head = text[: room + 1]
    space = head.rfind(" ")
    head = head[:space] if space >= room // 2 else head[:room]
    head = head.rstrip()
    # Never leave a dangling backslash before the ellipsis: some callers trim text already escaped.
    while head.endswith("\\"):
        head = head[:-1]
    return head + ELLIPSIS


def escaped_trimmed(text: str, limit: int) -> str:
    """Escape `text`, trimming the source (never the escaped form) so that the result fits in `limit`."""
    room = limit
    out = escape(trim(text, room))
    while len(out) > limit and room > 0:
        room = max(room - max(len(out) - limit, 1), 0)
        out = escape(trim(text, room))
    return out if len(out) <= limit else ""


def safe_url(url: str | None) -> str | None:
    """An http(s) URL safe to put inside `(...)` of a markdown link, or None.

    Everything but plain URL characters is percent-encoded, brackets and parentheses included, so
    the URL cannot end the link early, open another one, or carry whitespace or backslashes; a `%`
    that starts no escape becomes `%25`.
    """
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    url = quote(url, safe=":/?#@!$&'*+,;=%~-._").replace("(", "%28").replace(")", "%29")
    return _STRAY_PERCENT.sub("%25", url)


def link_urls(url: str | None, limit: int = LINK_URL_LIMIT) -> list[str]:
    """The safe forms of `url` that fit in `limit`, richest first: as given, then without its fragment."""
    url = safe_url(url)
    if not url:
        return []
    forms = [url, url.split("#", 1)[0]]
    return [u for n, u in enumerate(forms) if len(u) <= limit and u not in forms[:n]]


def button_url(url: str | None) -> str | None:
    """A URL usable on a link button (Discord caps them at 512 characters)."""
    urls = link_urls(url, BUTTON_URL_LIMIT)
    return urls[0] if urls else None


def format_built_at(built_at: str) -> str:
    """`2025-11-04T10:20:00+00:00` as `2025-11-04 10:20 UTC`; other strings unchanged."""
    if not built_at:
        return "unknown"
    try:
        when = datetime.fromisoformat(built_at.replace("Z", "+00:00"))
    except ValueError:
        return built_at
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _titled_line_forms(title: str, url: str | None, date: str | None, title_limit: int) -> list[str]:
    """`[Title](url) · date` in every allowed form, longest first; the last has no link at all."""
    shown = escaped_trimmed(one_line(title), title_limit) or "Source"
    date = escaped_trimmed(one_line(str(date or "")), DATE_LIMIT)
    suffix = f" · {date}" if date else ""
    return [f"[{shown}]({u}){suffix}" for u in link_urls(url)] + [f"**{shown}**{suffix}"]


def quote_url(q: Quote) -> str | None:
    """Where a quote links: its source, or for a saved answer the message's jump link as it is (Discord
    highlights no `#:~:text=` fragment in a message, so one would only lengthen the link)."""
    return q.url.split("#", 1)[0] if q.saved and q.url else q.url


def _source_line_forms(q: Quote) -> list[str]:
    head = "— " + (SAVED_LABEL if q.saved else "")
    return [head + form for form in _titled_line_forms(q.title or q.doc, quote_url(q), q.date, SOURCE_TITLE_LIMIT)]


def source_line(q: Quote) -> str:
    """`— [Title](url) · 2025-11-04` with the title escaped and the URL made safe and capped."""
    return _source_line_forms(q)[0]


def _fit_lines(forms: list[list[str]], limit: int) -> list[str]:
    """One form per line, richest first; while the lines exceed `limit`, the longest is shortened
    (of equals, the later one: quotes come best first)."""
    level = [0] * len(forms)
    lines = [f[0] for f in forms]
    while sum(len(line) for line in lines) > limit:
        shorter = [i for i, f in enumerate(forms) if level[i] < len(f) - 1]
        if not shorter:
            break
        i = max(shorter, key=lambda i: (len(lines[i]), i))
        level[i] += 1
        lines[i] = forms[i][level[i]]
    return lines


def bold_marks(text: str, marks) -> str:
    """`text` escaped, with the spans `marks` as **bold**. Escaping the whole text once keeps its line
    starts escaped as `escape` escapes them; the placeholders it passes through become the only `**`.
    A span that holds a line break is not marked (Discord's bold ends at a line)."""
    spans = [(a, b) for a, b in marks if "\n" not in text[a:b] and text[a:b].strip() == text[a:b]]
    return placeholders_to(escape(marked(text, spans, each=str)), "**", "**")


def block_quote(text: str) -> str:
    """Every non-blank line of `text` as a `> ` line (Discord quotes only lines that start with `> `)."""
    return "\n".join(f"> {ln}" for ln in (ln.strip() for ln in text.splitlines()) if ln)


def _quote_blocks(quotes: list[Quote], budget: int, label: str = "") -> str:
    """Quotes as block quotes with their source lines, sharing `budget` characters fairly.

    Source lines are shortened (fragment, then link) before any quote is dropped, quotes are dropped
    from the last, and the first quote is always shown, trimmed if need be.
    """
    if not quotes:
        return ""
    prefix = f"{label}\n" if label else ""
    forms = [_source_line_forms(q) for q in quotes]
    for keep in range(len(quotes), 0, -1):
        lines = _fit_lines(forms[:keep], budget // SOURCE_LINES_SHARE)
        # Each part is "{prefix}{body}\n{line}"; parts are joined by blank lines.
        overhead = sum(len(line) for line in lines) + keep * (len(prefix) + 1) + 2 * (keep - 1)
        room = max(budget - overhead, 0)
        if room >= keep * MIN_QUOTE_ROOM:
            break
    kept = quotes[: len(lines)]
    marks = [() if q.closest else q.marks for q in kept]  # a closest passage is not an answer: nothing in bold
    escaped_len = {
        i: len(block_quote(bold_marks(q.text, marks[i]) if marks[i] else escape(q.text))) for i, q in enumerate(kept)
    }
    allowance: dict[int, int] = {}
    remaining = room
    order = sorted(range(len(kept)), key=lambda i: escaped_len[i])
    for n, i in enumerate(order):
        share = remaining // (len(order) - n)
        allowance[i] = min(escaped_len[i], share)
        remaining -= allowance[i]
    parts = []
    for i, q in enumerate(kept):
        body = _fit_block(q.text, allowance[i], marks[i])
        parts.append(f"{prefix}{body}\n{lines[i]}" if body else f"{prefix}{lines[i]}")
    return "\n\n".join(parts)


def _fit_block(text: str, limit: int, marks=()) -> str:
    """`text` escaped as a block quote of at most `limit` characters, trimmed if need be; the spans
    `marks` (the answer, index/spans.py) in bold when they fit, escaped like the rest."""
    if marks:
        bolded = block_quote(bold_marks(text, marks))
        if len(bolded) <= limit:
            return bolded
    body = block_quote(escape(text))
    if len(body) <= limit:
        return body
    if limit < MIN_TRIMMED_QUOTE:
        return ""
    raw_limit = limit
    while raw_limit > 0:
        body = block_quote(escape(trim(text, raw_limit)))
        if len(body) <= limit:
            return body
        raw_limit -= max(len(body) - limit, 1)
    return ""


@dataclass
class Card:
    """What to send: embeds and the top sources for link buttons."""

    embeds: list[discord.Embed]
    links: list[tuple[str, str]]  # (label, url)


def shown_sets(sets) -> list[str]:
    """Document-set names worth showing: not the saved answers' own set (every server's is searched)."""
    return [s for s in sets or () if not str(s).startswith(SAVED_PREFIX)]


def footer_text(answer: Answer) -> str:
    parts = [f"Index built {format_built_at(answer.built_at)}"]
    searched = shown_sets(answer.sets)
    if searched and searched != ["all"]:  # a channel scoped to some sets: say which
        parts.insert(0, trim("Searched: " + ", ".join(searched), SETS_LIMIT))
    if answer.build_id:
        parts.append(f"build {answer.build_id[:12]}")
    if answer.took_ms:
        parts.append(f"{answer.took_ms:.0f} ms")
    return trim(" · ".join(parts), FOOTER_LIMIT)


def answer_card(answer: Answer) -> Card:
    """The answer card: the question as title, quotes as block quotes, build time in the footer.

    An answer without quotes is shown as an abstention: a green card always quotes something.
    """
    title = escaped_trimmed(one_line(answer.question) or "Question", TITLE_LIMIT)
    footer = footer_text(answer)
    budget = min(DESCRIPTION_LIMIT, TOTAL_EMBED_LIMIT - len(title) - len(footer))
    understood = follow_up_line(answer)
    if understood:
        budget -= len(understood) + 2
    if answer.abstained or not answer.quotes:
        closest = answer.quotes[:MAX_CLOSEST]
        note = escaped_trimmed(one_line(answer.note or ""), NOTE_LIMIT)  # e.g. an unknown set
        head = ABSTAIN_HEAD + (f"\n{note}" if note else "") + (ABSTAIN_CLOSEST if closest else "")
        body = _quote_blocks(closest, budget - len(head) - 2, label=CLOSEST_LABEL)
        description = head + ("\n\n" + body if body else "")
        colour = ABSTAIN_COLOUR
        links = []
    else:
        description = _quote_blocks(answer.quotes, budget)
        colour = ANSWER_COLOUR
        links = top_links(answer.quotes)
    if understood:
        description = f"{understood}\n\n{description}"
    embed = discord.Embed(title=title, description=description[:DESCRIPTION_LIMIT], colour=colour)
    embed.set_footer(text=footer)
    return Card(embeds=[embed], links=links)


def follow_up_line(answer: Answer) -> str:
    """`↪ following up on: <the earlier question>` (escaped) when the engine used it, else ""."""
    earlier = answer.follow_up
    if not earlier:
        return ""
    return FOLLOW_UP_LABEL + (escaped_trimmed(one_line(earlier), FOLLOW_UP_LIMIT) or "an earlier question")


def top_links(quotes: list[Quote], limit: int = 3) -> list[tuple[str, str]]:
    """Up to `limit` distinct (label, url) pairs for link buttons, best quote first."""
    seen: set[str] = set()
    links = []
    for q in quotes:
        url = button_url(quote_url(q))
        if not url:
            continue
        base = url.split("#", 1)[0]
        if base in seen:
            continue
        seen.add(base)
        label = SAVED_BUTTON if q.saved else trim(one_line(q.title or q.doc), BUTTON_LABEL_LIMIT)
        label = label or "Source"
        links.append((label, url))
        if len(links) >= limit:
            break
    return links


def more_card(question: str, quotes: list[Quote]) -> discord.Embed:
    """Further passages for the "More passages" button."""
    title = escaped_trimmed(one_line(f"More passages: {question}"), TITLE_LIMIT)
    budget = min(DESCRIPTION_LIMIT, TOTAL_EMBED_LIMIT - len(title) - 10)
    body = _quote_blocks(quotes, budget) if quotes else "There are no further passages."
    return discord.Embed(title=title, description=body[:DESCRIPTION_LIMIT], colour=INFO_COLOUR)


def sets_suffix(row: dict) -> str:
    """` · sets: billing, eng` for a document in sets besides `all` (a saved answer: ` · saved answer`)."""
    sets = [str(s) for s in row.get("sets") or ()]
    if any(s.startswith(SAVED_PREFIX) for s in sets):
        return " · saved answer"
    extra = [s for s in sets if s != "all"]
    return " · sets: " + escaped_trimmed(", ".join(extra), SETS_LIMIT) if extra else ""


def sources_page(rows: list[dict], page: int, per_page: int, filter: str = "", scope: str = "") -> discord.Embed:
    """One page of the indexed documents, each with its link (capped like a quote's source line) and its sets;
    `scope` (the sets the channel answers from, in words) goes in the footer."""
    pages = max(1, -(-len(rows) // per_page))
    page = min(max(page, 0), pages - 1)
    shown = rows[page * per_page : (page + 1) * per_page]
    forms = [
        [
            "• " + form + sets_suffix(row)
            for form in _titled_line_forms(
                str(row.get("title") or row.get("path") or "?"), row.get("url"), row.get("date"), SOURCES_TITLE_LIMIT
            )
        ]
        for row in shown
    ]
    lines = _fit_lines(forms, DESCRIPTION_LIMIT - max(len(forms) - 1, 0))
    while sum(len(line) + 1 for line in lines) - 1 > DESCRIPTION_LIMIT:
        lines.pop()  # only with a per_page far above what a page ever shows
    heading = f"Indexed documents ({len(rows)})"
    if filter:
        heading += f" matching “{escaped_trimmed(one_line(filter), FILTER_LIMIT)}”"
    description = "\n".join(lines) if lines else "No documents match."
    embed = discord.Embed(title=heading, description=description, colour=INFO_COLOUR)
    embed.set_footer(text=trim(f"Page {page + 1} of {pages}" + (f" · {scope}" if scope else ""), FOOTER_LIMIT))
    return embed


def embed_size(embeds: list[discord.Embed]) -> int:
    """Characters Discord counts toward the 6,000 limit over all embeds of one message."""
    return sum(len(e) for e in embeds)
