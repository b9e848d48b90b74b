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
