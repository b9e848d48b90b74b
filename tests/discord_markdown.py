"""Rendered Discord text, parsed as Discord would show it, so tests can see every link, mark and mention.

The parser is SimCord's preview parser (markdown-it with Discord's spoilers, mentions, timestamps, custom
emoji and command mentions), used through its public `markdown_tokens`. Where CommonMark and Discord
differ, this module follows Discord:

- Discord quotes a line only when it starts with `> `; CommonMark also pulls the next line into the quote
  ("lazy continuation"). So lines are taken one by one, and a line counts as quoted when its raw text
  starts with `> `.
- SimCord detects `-# ` subtext after joining escaped characters into text, so it reports `\\-# x`
  (which Discord shows as text) as subtext. Subtext is therefore judged on the raw line instead.
- Mentions and command mentions are drawn in embeds too (they just do not ping), but SimCord's embed
  profile leaves them as text; references are found with the message profile, in a context that
  resolves every id the text names, so any syntactic reference shows up.

A parse that dropped a raw line (CommonMark turns `---` into a rule and `===` into a heading underline)
is caught by comparing the number of raw lines with the number of parsed lines (`lines_lost`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import markdown_it  # noqa: F401  (without it SimCord silently returns plain text and every check would pass)
from simcord.preview._markdown import markdown_tokens  # the public entry point of SimCord's parser

ZWSP = "\u200b"
ALLOWED_BLOCKS = {"blockquote", "paragraph", "inline"}
REFERENCE_TOKENS = {"mention", "emoji", "timestamp", "command"}
_USERS = re.compile(r"<@!?(\d{1,20})>")
_ROLES = re.compile(r"<@&(\d{1,20})>")
_CHANNELS = re.compile(r"<#(\d{1,20})>")
_EMOJI = re.compile(r"<(a?):([A-Za-z0-9_]{2,32}):(\d{1,20})>")
_COMMANDS = re.compile(r"</([^:\n]{1,100}):(\d{1,20})>")
_SUBTEXT = re.compile(r"\s*(?:>\s+)*-#\s")


@dataclass
class Mark:
    kind: str  # strong, em, link, s, u, code, spoiler, ...
    text: str  # the visible text it wraps
    href: str | None = None


@dataclass
class Line:
    raw: str
    quoted: bool
    text: str = ""  # what the reader sees
    marks: list[Mark] = field(default_factory=list)
    others: list[str] = field(default_factory=list)  # any token that is neither text nor a mark we know


@dataclass
class Parsed:
    lines: list[Line]
    blocks: set[str]  # block types seen
    references: list[dict]  # mentions, emoji, timestamps, command mentions
    subtext_lines: list[str]
    lines_lost: int  # raw lines the parse turned into something that is not a line of text


def context_for(text: str) -> dict:
    """A context in which every reference the text spells out resolves, so SimCord draws it."""
    return {
        "users": {m.group(1): f"user{m.group(1)}" for m in _USERS.finditer(text)},
        "roles": {m.group(1): f"role{m.group(1)}" for m in _ROLES.finditer(text)},
        "channels": {m.group(1): f"channel{m.group(1)}" for m in _CHANNELS.finditer(text)},
        "emojis": {
            m.group(3): {"id": m.group(3), "name": m.group(2), "animated": bool(m.group(1))}
            for m in _EMOJI.finditer(text)
        },
        "commands": {m.group(2): m.group(1).strip().split(" ", 1)[0] for m in _COMMANDS.finditer(text)},
        "everyone": True,
    }


def _walk(tokens, visit):
    for token in tokens:
        visit(token)
        if isinstance(token.get("children"), list):
            _walk(token["children"], visit)


def _line_of(children: list[dict], line: Line) -> None:
    stack: list[tuple[str, int, str | None]] = []  # (kind, where in line.text it opened, href)
    for token in children:
        kind = token["type"]
        if kind == "text":
            line.text += token["content"]
        elif kind == "code":
            line.marks.append(Mark("code", token["content"]))
            line.text += token["content"]
        elif kind == "break":
            line.text += "\n"
        elif kind.endswith("_open"):
            stack.append((kind.removesuffix("_open"), len(line.text), token.get("href")))
        elif kind.endswith("_close") and stack:
            name, start, href = stack.pop()
            line.marks.append(Mark(name, line.text[start:], href))
        else:
            line.others.append(kind)
            line.text += str(token.get("label", ""))


def parse(text: str, profile: str = "embed_description") -> Parsed:
    """`text` as Discord shows it in a field of kind `profile` (`embed_description`, `embed_title`)."""
    blocks = markdown_tokens(text, profile, context=context_for(text))
    seen: set[str] = set()
    _walk(blocks, lambda t: seen.add(t["type"]) if "children" in t or t["type"] == "code_block" else None)
    raw_lines = [ln for ln in text.split("\n") if ln.strip(" \t")]
    lines: list[Line] = []

    def collect(items):
        for item in items:
            if item["type"] in ("inline", "subtext"):
                if item["children"] == [{"type": "break"}]:
                    continue
                raw = raw_lines[len(lines)] if len(lines) < len(raw_lines) else ""
                line = Line(raw=raw, quoted=raw.startswith("> "))
                _line_of(item["children"], line)
                lines.append(line)
            elif isinstance(item.get("children"), list):
                collect(item["children"])

    collect(blocks)
    references: list[dict] = []
    _walk(
        markdown_tokens(text, "message", context=context_for(text)),
        lambda t: references.append(t) if t["type"] in REFERENCE_TOKENS else None,
    )
    subtext = [ln for ln in text.split("\n") if _SUBTEXT.match(ln)]
    return Parsed(
        lines=lines, blocks=seen, references=references, subtext_lines=subtext, lines_lost=len(raw_lines) - len(lines)
    )


def visible(text: str) -> str:
    """Reader-visible text, compared modulo whitespace runs and zero-width spaces."""
    return " ".join(text.replace(ZWSP, "").split())


def faithful(shown: str, source: str) -> bool:
    """`shown` is the source, or a start of it followed by an ellipsis."""
    shown, source = visible(shown), visible(source)
    if shown == source:
        return True
    return shown.endswith("…") and source.startswith(shown[:-1].rstrip())


def forgeries(text: str, profile: str = "embed_description") -> list[str]:
    """Every link, mark, mention or block construct in `text`: for text that should have none."""
    parsed = parse(text, profile)
    found = [f"block {b}" for b in sorted(parsed.blocks - ALLOWED_BLOCKS)]
    found += [f"{parsed.lines_lost} line(s) became something else"] if parsed.lines_lost else []
    for line in parsed.lines:
        found += [f"{m.kind} {m.text!r} {m.href or ''}".strip() for m in line.marks]
        found += [f"token {o}" for o in line.others]
    found += [f"reference {r['type']}" for r in parsed.references]
    found += [f"subtext {s!r}" for s in parsed.subtext_lines]
    return found
