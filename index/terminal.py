"""Text made safe to show on a terminal or write to a log.

Documents, file names and questions come from people we do not trust. A raw ESC or a C1 control in
them can recolour a terminal, move its cursor, or (OSC 8) print a Treasury title that is a link to
another site; a raw newline in a question can forge a log line; bidirectional overrides can reorder
what a reader sees. Everything the CLI prints and every log line goes through `visible`, which shows
such characters as escapes (`\\x1b`, `\\u202e`) instead of obeying them. JSON output stays JSON:
`json_text` escapes the same characters inside its strings, so the parsed value is unchanged.
"""

from __future__ import annotations

import json
import logging
import re

# C0 controls, DEL, C1 controls, and the bidirectional embedding/override/isolate controls.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What json.dumps(ensure_ascii=False) leaves raw: it already escapes C0 controls itself.
_JSON_RAW = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str, keep: str = "\n") -> str:
    """`text` with control characters shown as escapes; those in `keep` (newline by default) stay."""
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()), str(text))


BOLD = "\x1b[1m"
PLAIN = "\x1b[0m"
_MARK_ON, _MARK_OFF = "\ue000", "\ue001"  # private-use placeholders: never printed, never in a quote shown


def marked(text: str, marks, on: str = _MARK_ON, off: str = _MARK_OFF, each=visible) -> str:
    """`each(text)` with the spans `marks` (offsets into `text`) between `on` and `off`.

    Each piece is made safe by `each` on its own, so the markup added is only ours. Overlapping or
    out-of-range spans, and a text that already holds a placeholder, are shown without marks."""
    spans = sorted((a, b) for a, b in marks if 0 <= a < b <= len(text))
    if not spans or _MARK_ON in text or _MARK_OFF in text:
        return each(text)
    out, last = [], 0
    for a, b in spans:
        if a < last:
            continue
        out += [each(text[last:a]), on, each(text[a:b]), off]
        last = b
    out.append(each(text[last:]))
    return "".join(out)


def placeholders_to(text: str, on: str, off: str) -> str:
    """Text made by `marked` with its default placeholders turned into `on` / `off`."""
    return text.replace(_MARK_ON, on).replace(_MARK_OFF, off)


def json_text(value, **kwargs) -> str:
    """`json.dumps(value, ensure_ascii=False)` with every terminal-significant character escaped."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False, **kwargs))


class SafeFormatter(logging.Formatter):
    """A log formatter whose messages cannot carry terminal escapes or forge extra lines."""

    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = visible(record.getMessage(), keep="\t"), None
        text = super().format(safe)
        # Tracebacks keep their line breaks; anything else that reached them is made visible.
        return visible(text, keep="\n\t")
