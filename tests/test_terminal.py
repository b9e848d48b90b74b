"""Terminal and log output: control sequences from documents, file names and questions are shown,
never obeyed (no colour changes, no OSC 8 links, no forged log lines)."""

from __future__ import annotations

import json
import logging

import pytest

from index.terminal import SafeFormatter, json_text, visible

from clikit import qabot

OSC8 = "\x1b]8;;https://phish.example/\x07Treasury SDN list\x1b]8;;\x07"
CSI_C1 = "\x9b31m"  # the one-byte C1 form of ESC [
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def assert_inert(text: str) -> None:
    assert not any(ch in text for ch in RAW), repr(text)


def test_visible_shows_controls_as_escapes():
    shown = visible(f"see {OSC8} and {CSI_C1} and \u202eevil")

    assert_inert(shown)
    assert "\\x1b]8;;https://phish.example/\\x07Treasury SDN list" in shown
    assert "\\x9b31m" in shown and "\\u202eevil" in shown
    assert visible("two\nlines") == "two\nlines"
    assert visible("two\nlines", keep="") == "two\\x0alines"


def test_json_text_is_json_with_the_same_value():
    value = {"text": f"café {OSC8} {CSI_C1} \u202e ok", "n": 1}
    out = json_text(value)

    assert_inert(out)
    assert json.loads(out) == value
    assert "café" in out  # readable text is not escaped


def test_log_lines_cannot_carry_escapes_or_forge_lines():
    formatter = SafeFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("bot", logging.INFO, __file__, 1, "question: %s", (f"hi {OSC8}\nINFO forged",), None)

    line = formatter.format(record)

    assert_inert(line)
    assert "\n" not in line and "\\x0aINFO forged" in line


@pytest.mark.slow
def test_cli_prints_hostile_documents_inertly(tmp_path):
    docs = tmp_path / "docs_corpus"
    docs.mkdir()
    (docs / "hostile.md").write_text(
        # YAML refuses a raw ESC in front matter; a heading does not
        f"---\nurl: https://home.treasury.gov/news\n---\n# Sanctions {OSC8}\n\n"
        f"The Glorpbank sanctions notice {OSC8} was issued in \x1b[31mred\x1b[0m {CSI_C1} today.\n",
        encoding="utf-8",
    )
    (docs / "bad\x1b[2Jname.md").write_bytes(b"\xff\xfe not utf-8")
    (tmp_path / "qabot.toml").write_text('sources = ["docs_corpus"]\n')
    cfg = ["--config", str(tmp_path / "qabot.toml"), "--index-dir", str(tmp_path / "idx")]

    built = qabot(*cfg, "index", "-q", probe=True, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert "name.md: skipped" in built.stderr
    assert_inert(built.stderr)

    asked = qabot(*cfg, "ask", "Glorpbank sanctions notice", probe=True, cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    assert "Glorpbank" in asked.stdout and "\\x1b]8;;https://phish.example/" in asked.stdout
    assert_inert(asked.stdout)

    as_json = qabot(*cfg, "ask", "--json", "Glorpbank sanctions notice", probe=True, cwd=tmp_path)
    assert_inert(as_json.stdout)
    quotes = json.loads(as_json.stdout)["quotes"]
    assert any(OSC8 in q["text"] for q in quotes)  # the JSON value is still the verbatim sentence

    listed = qabot(*cfg, "sources", probe=True, cwd=tmp_path)
    assert "Sanctions" in listed.stdout
    assert_inert(listed.stdout)
