"""Turn an engine Answer into Discord embeds that respect every Discord limit and forge nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

import discord

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

MAX_CLOSEST = 3

ANSWER_COLOUR = discord.Colour(0x2E7D32)
ABSTAIN_COLOUR = discord.Colour(0x757575)
INFO_COLOUR = discord.Colour(0x1565C0)

NO_MENTIONS = discord.AllowedMentions.none()

ELLIPSIS = "…"
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")
_MENTION = re.compile(r"<(@[!&]?|#)(\d+)>")
_MASS_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)
_UNESCAPED_BRACKET = re.compile(r"(?<!\\)([\[\]])")
_ZWSP = "\u200b"


def escape(text: str) -> str:
    """Source or user text made inert: no markdown, no masked links, no mentions."""
    text = discord.utils.escape_markdown(text)
    # A masked link needs `[label](url)`: escaping every bracket leaves nothing to forge one with.
    text = _UNESCAPED_BRACKET.sub(r"\\\1", text)
    text = _MENTION.sub(lambda m: f"<{_ZWSP}{m.group(1)}{m.group(2)}>", text)
    text = _MASS_MENTION.sub(lambda m: f"@{_ZWSP}{m.group(1)}", text)
    return text


def trim(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a sentence end if one is near, else at a word."""
    if len(text) <= limit:
        return text
    if limit <= 2:
        return text[:limit]
    room = limit - 2  # for " …"
    ends = [m.end() for m in _SENTENCE_END.finditer(text[: room + 1]) if m.end() <= room]
    if ends and ends[-1] >= room // 3:
        return text[: ends[-1]].rstrip() + " " + ELLIPSIS
    head = text[: room + 1]
    space = head.rfind(" ")
    head = head[:space] if space >= room // 2 else head[:room]
    head = head.rstrip()
    # Never leave a dangling escape backslash that would swallow the ellipsis.
    while head.endswith("\\"):
        head = head[:-1]
    return head + ELLIPSIS


def escaped_trimmed(text: str, limit: int) -> str:
    """Escape `text`, trimming the source (not the escaped form) so the result fits in `limit`."""
    room = limit
    out = escape(trim(text, room))
    while len(out) > limit and room > 0:
        room -= max(len(out) - limit, 1)
        out = escape(trim(text, max(room, 0)))
    return out[:limit]


def safe_url(url: str | None) -> str | None:
    """An http(s) URL safe to put inside `(...)` of a markdown link, or None."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe=":/?#[]@!$&'*+,;=%~-._").replace("(", "%28").replace(")", "%29")


def button_url(url: str | None) -> str | None:
    """A URL usable on a link button (Discord caps them at 512 characters)."""
    url = safe_url(url)
    if url and len(url) > BUTTON_URL_LIMIT:
        url = url.split("#", 1)[0]
    if url and len(url) > BUTTON_URL_LIMIT:
        return None
    return url


def format_built_at(built_at: str) -> str:
    """`2025-11-04T10:20:00+00:00` as `2025-11-04 10:20 UTC`; other strings unchanged."""
    if not built_at:
        return "unknown"
    try:
        when = datetime.fromisoformat(built_at.replace("Z", "+00:00"))
    except ValueError:
        return built_at
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def source_line(q: Quote) -> str:
    """`— [Title](url) · 2025-11-04` with the title escaped and the URL made safe."""
    title = escaped_trimmed(q.title or q.doc, 120)
    url = safe_url(q.url)
    line = f"[{title}]({url})" if url else f"**{title}**"
    if q.date:
        line += f" · {escape(q.date)}"
    return "— " + line


def block_quote(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines()]
    return "\n".join(f"> {ln}" if ln else ">" for ln in lines)


def _quote_blocks(quotes: list[Quote], budget: int, label: str = "") -> str:
    """Quotes as block quotes with their source lines, sharing `budget` characters fairly."""
    if not quotes:
        return ""
    fixed = [source_line(q) + "\n" for q in quotes]
    prefix = f"{label}\n" if label else ""
    overhead = sum(len(f) for f in fixed) + len(prefix) * len(quotes) + 2 * len(quotes)
    room = max(budget - overhead, 0)
    # Line prefixes ("> ") grow the text; reserve for them, then share what is left.
    escaped_len = {i: len(block_quote(escape(q.text))) for i, q in enumerate(quotes)}
    allowance: dict[int, int] = {}
    remaining = room
    order = sorted(range(len(quotes)), key=lambda i: escaped_len[i])
    for n, i in enumerate(order):
        share = remaining // (len(order) - n)
        allowance[i] = min(escaped_len[i], share)
        remaining -= allowance[i]
    parts = []
    for i, q in enumerate(quotes):
        body = _fit_block(q.text, allowance[i])
        if not body:
            continue
        parts.append(f"{prefix}{body}\n{fixed[i]}")
    return "\n".join(parts).strip()


def _fit_block(text: str, limit: int) -> str:
    if limit < 8:
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


def footer_text(answer: Answer) -> str:
    parts = [f"Index built {format_built_at(answer.built_at)}"]
    if answer.build_id:
        parts.append(f"build {answer.build_id[:12]}")
    if answer.took_ms:
        parts.append(f"{answer.took_ms:.0f} ms")
    return trim(" · ".join(parts), FOOTER_LIMIT)


def answer_card(answer: Answer) -> Card:
    """The answer card: the question as title, quotes as block quotes, build time in the footer."""
    title = escaped_trimmed(answer.question.strip() or "Question", TITLE_LIMIT)
    footer = footer_text(answer)
    budget = min(DESCRIPTION_LIMIT, TOTAL_EMBED_LIMIT - len(title) - len(footer))
    if answer.abstained:
        closest = answer.quotes[:MAX_CLOSEST]
        head = "**The documents do not answer this question.**"
        if closest:
            head += "\nThe closest passages are below; they are *not* an answer."
        body = _quote_blocks(closest, budget - len(head) - 2, label="*Closest passage (does not answer):*")
        description = head + ("\n\n" + body if body else "")
        colour = ABSTAIN_COLOUR
    else:
        description = _quote_blocks(answer.quotes, budget) or "No passages."
        colour = ANSWER_COLOUR
    embed = discord.Embed(title=title, description=description[:DESCRIPTION_LIMIT], colour=colour)
    embed.set_footer(text=footer)
    return Card(embeds=[embed], links=top_links(answer.quotes if not answer.abstained else []))


def top_links(quotes: list[Quote], limit: int = 3) -> list[tuple[str, str]]:
    """Up to `limit` distinct (label, url) pairs for link buttons, best quote first."""
    seen: set[str] = set()
    links = []
    for q in quotes:
        url = button_url(q.url)
        if not url:
            continue
        base = url.split("#", 1)[0]
        if base in seen:
            continue
        seen.add(base)
        label = trim(q.title or q.doc, BUTTON_LABEL_LIMIT) or "Source"
        links.append((label, url))
        if len(links) >= limit:
            break
    return links


def more_card(question: str, quotes: list[Quote]) -> discord.Embed:
    """Further passages for the "More passages" button."""
    title = escaped_trimmed(f"More passages: {question}", TITLE_LIMIT)
    budget = min(DESCRIPTION_LIMIT, TOTAL_EMBED_LIMIT - len(title) - 10)
    body = _quote_blocks(quotes, budget) if quotes else "There are no further passages."
    return discord.Embed(title=title, description=body[:DESCRIPTION_LIMIT], colour=INFO_COLOUR)


def sources_page(rows: list[dict], page: int, per_page: int, filter: str = "") -> discord.Embed:
    """One page of the indexed documents, each with its link."""
    pages = max(1, -(-len(rows) // per_page))
    page = min(max(page, 0), pages - 1)
    lines = []
    for row in rows[page * per_page : (page + 1) * per_page]:
        title = escaped_trimmed(row.get("title") or row.get("path") or "?", 150)
        url = safe_url(row.get("url"))
        line = f"[{title}]({url})" if url else f"**{title}**"
        if row.get("date"):
            line += f" · {escape(str(row['date']))}"
        lines.append("• " + line)
    heading = f"Indexed documents ({len(rows)})"
    if filter:
        heading += f" matching “{escaped_trimmed(filter, 60)}”"
    description = "\n".join(lines) if lines else "No documents match."
    embed = discord.Embed(
        title=trim(heading, TITLE_LIMIT), description=trim(description, DESCRIPTION_LIMIT), colour=INFO_COLOUR
    )
    embed.set_footer(text=f"Page {page + 1} of {pages}")
    return embed


def embed_size(embeds: list[discord.Embed]) -> int:
    """Characters Discord counts toward the 6,000 limit over all embeds of one message."""
    return sum(len(e) for e in embeds)
