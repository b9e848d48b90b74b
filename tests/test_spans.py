"""The answer inside the quote: which spans are bold, and that bold adds markup only, safely escaped."""

from __future__ import annotations

import io
import sys

from bot.render import bold_marks, escape
from index.question import parse_question
from index.spans import answer_spans, names_count
from index.terminal import marked, placeholders_to
from index.types import Answer, Quote

from discord_markdown import forgeries, parse


def spans(question: str, text: str) -> list[str]:
    return [text[a:b] for a, b in answer_spans(parse_question(question), text)]


def test_the_amount_asked_for_is_the_span():
    text = "The hackers stole $75 million from a Slovenian company in December 2017."
    assert spans("How much did the hackers steal from the Slovenian company?", text) == ["$75 million"]


def test_a_date_the_question_already_gives_is_not_the_answer():
    text = "In 2017, the indictment says, the attack began on December 4, 2017."
    assert spans("When in 2017 did the attack begin?", text) == ["December 4, 2017"]


def test_a_how_many_question_counts_what_it_names_up_to_its_verb():
    assert parse_question("How many suspected laptop farms did DOJ search?").counted == {"suspect", "laptop", "farm"}
    assert parse_question("how many laptops were seized").counted == {"laptop"}
    assert parse_question("How much did they steal?").counted == frozenset()


def test_a_count_is_of_what_the_question_counts_only_when_it_is_named_beside_the_number():
    q = parse_question("how many laptops did the feds seize in june")
    assert names_count(q, "In total, the FBI seized approximately 137 laptops.")
    assert not names_count(q, "The FBI executed searches of 21 premises across 14 states hosting laptop farms.")
    assert not names_count(parse_question("When were the laptops seized?"), "It seized 137 laptops.")


def test_a_list_question_marks_each_item():
    text = "The indictment names Jon Chang Hyok, Kim Il and Park Jin Hyok as members of the units."
    found = spans("Who were the three hackers the indictment names?", text)
    assert "Jon Chang Hyok" in found and "Park Jin Hyok" in found


def test_the_quote_takes_in_the_next_sentence_when_only_it_has_the_form_asked_for():
    from index.present import continues

    q = parse_question("How much did the university send?")
    lead = "In the first case, the hackers spoofed the university's email."
    assert continues(q, lead, "The university wired $11.8 million CAD to the account.")
    assert not continues(q, "The university wired $11.8 million CAD.", "It was never recovered.")
    assert not continues(q, lead, "The money was never recovered.")
    assert continues(parse_question("Which steps does it list?"), "Actions to take today:", "Patch all systems.")


def test_a_question_with_no_recognisable_answer_form_marks_nothing():
    assert spans("Why did the Treasury act?", "The Treasury acted to protect the financial system.") == []


def test_bold_in_a_card_is_the_only_markup_and_the_quote_stays_verbatim():
    text = "A *fake* [link](https://evil.example) paid $1,000 to `x` and **more**."
    a = text.index("$1,000")
    shown = bold_marks(text, [(a, a + len("$1,000"))])
    parsed = parse("> " + shown)
    marks = [(m.kind, m.text) for line in parsed.lines for m in line.marks]
    assert marks == [("strong", "$1,000")]
    assert parsed.lines[0].text.replace("\u200b", "") == text
    assert not forgeries("> " + escape(text))


def test_a_hostile_span_is_escaped_inside_the_bold():
    text = "Paid [$5](https://evil.example) million today."
    a, b = text.index("[$5]"), text.index(" million")
    shown = bold_marks(text, [(a, b)])
    marks = [(m.kind, m.href) for line in parse("> " + shown).lines for m in line.marks]
    assert marks == [("strong", None)]  # bold, and no link inside it


def test_spans_that_overlap_or_fall_outside_are_ignored():
    assert marked("abcdef", [(1, 3), (2, 4), (5, 99)], "<", ">", str) == "a<bc>def"


def test_terminal_bold_keeps_control_characters_visible():
    text = "Sent \x1b[31m$9 million\x1b[0m away."
    a, b = text.index("$9"), text.index(" away")
    out = placeholders_to(marked(text, [(a, b)]), "\x1b[1m", "\x1b[0m")
    assert out.count("\x1b") == 2  # only our bold on and off: the document's own escapes are shown as text
    assert "\\x1b[31m" in out


def test_the_cli_prints_bold_only_on_a_terminal(monkeypatch):
    from cli.main import _print_answer

    q = Quote(text="They paid $5 million.", doc="d.md", title="T", url=None, date=None, score=1.0, marks=[(10, 20)])
    answer = Answer("How much?", False, [q])

    class Tty(io.StringIO):
        def isatty(self):
            return True

    for stream, bold in ((Tty(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stdout", stream)
        monkeypatch.delenv("NO_COLOR", raising=False)
        _print_answer(answer)
        assert ("\x1b[1m$5 million\x1b[0m" in stream.getvalue()) is bold
        assert "$5 million" in stream.getvalue()
