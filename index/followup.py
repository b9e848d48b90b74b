"""Follow-ups: a question asked in a thread under an earlier one, understood with that one's subject.

Why a module of its own: "and who approves it?" asked under "What is the refund policy?" means "who
approves the refund policy?", but searched alone it finds nothing. One rule decides, from the two
questions' wording only (no model, no state), whether the earlier subject is carried over and how:

1. "what about X?" / "how about X?" / "and X?": the earlier question asked again about X (its names
   replaced by X, or X added when it had none): "When was ChipMixer taken down?" → "what about Sinbad?"
   → "When was Sinbad taken down?".
2. a pronoun that points back (it, its, they, them, their, he, she, his, her, this/that at the end)
   or no name of its own (no capitalised word or number after the first word): the earlier subject is
   carried over. The subject is the earlier question's names (runs of capitalised words and numbers),
   or, when it has none, its content words. A pronoun is replaced by it ("who runs it?" → "who runs
   Sinbad?"; "he", "it" by the last name that is not a date, "they" by all of them); otherwise it is
   added in brackets, in lower case (_carried says why). "he/his/she/her" after a name of the new
   question's own mean that name.
3. otherwise (the new question names its own subject and points at nothing): it stands alone.

The engine searches `FollowUp.question` and reports `FollowUp.previous` as Answer.follow_up. Measured on
tests/data/followups.jsonl by `qabot bench followups` (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .question import NAME_TOKEN
from .text import STOPWORDS, words

# "what about X", "how about X", "and X?", "and for X?"
ABOUT = re.compile(
    r"^\s*(?:(?:and|but|ok(?:ay)?|so)[\s,]+)?(?:(?:what|how)\s+about|and\s+(?:for|in)?)\s+(?P<x>.+?)[\s?.!]*$", re.I
)
LEAD = re.compile(r"^\s*(?:(?:and|also|so|but|then|ok(?:ay)?)\b[\s,]*)+", re.I)
# pronouns that point back at the earlier subject; `possessive` ones become "<subject>'s"
POINTERS = {"it": False, "they": False, "them": False, "he": False, "him": False, "she": False}
POINTERS |= {"its": True, "their": True, "his": True, "her": True}
PLURAL = frozenset({"they", "them", "their"})  # these stand for every name of the earlier question
PERSONAL = frozenset({"he", "him", "his", "she", "her"})  # after a name of its own question, they mean that name
DATE_NAME = re.compile(
    r"^(?:\d[\d,.]*|January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|\s)+$"
)
POINTER = re.compile(r"\b(" + "|".join(POINTERS) + r")\b", re.I)
END_POINTER = re.compile(r"\b(this|that|those|these|there)\s*[?.!]*\s*$", re.I)  # "who approved that?"
DETERMINER = re.compile(r"\b(?:this|that|those|these|the same)\s+\w+", re.I)  # "that mixer": points back too
QUESTION_WORDS = frozenset("what which who whom whose when where why how is are was were do does did".split())
ABOUT_MAX_WORDS = 6  # "what about X": X longer than this is a question of its own


@dataclass(frozen=True)
class FollowUp:
    """What to search for a question asked after `earlier`; `previous` is None when it stands alone."""

    question: str  # the question to search
    previous: str | None  # the earlier question whose subject was carried over, or None
    subject: str = ""  # what was carried over (names, or the earlier question's content words)
    how: str = ""  # "about", "pronoun", "no-name" or "" (stands alone)


def name_phrases(question: str) -> list[str]:
    """Runs of capitalised words and numbers after the first word, as written: the names it is about
    ("Did Park Jin Hyok work for Lazarus in 2018?" → ["Park Jin Hyok", "Lazarus", "2018"])."""
    out: list[list[str]] = []
    last_end = -2
    for i, m in enumerate(NAME_TOKEN.finditer(question)):
        tok = m.group(0).rstrip(".,'’")
        is_name = i > 0 and tok and (tok[0].isupper() or tok[0].isdigit()) and tok.lower() not in STOPWORDS
        if is_name:
            gap = question[last_end : m.start()]
            if out and last_end >= 0 and gap.strip() == "":
                out[-1].append(tok)
            else:
                out.append([tok])
            last_end = m.start() + len(tok)
        else:
            last_end = -2
    return [" ".join(p) for p in out]


def subject_of(question: str) -> str:
    """The earlier question's subject: its names, or its content words when it names nothing."""
    names = name_phrases(question)
    if names:
        return " ".join(names)
    kept = [w for w in words(question) if w not in STOPWORDS and w not in QUESTION_WORDS]
    return " ".join(kept)


def _carried(subject: str) -> str:
    """A carried subject in lower case: searched for, but not read as a name the answer must contain
    (the reader requires a question's capitalised names in the passage, and the earlier question's
    form of a name, "Matthew Knoot", is often not the document's, "Matthew Isaac Knoot"). On
    tests/data/followups.jsonl: 17 of 26 hits at 1 lowercased, 14 as written."""
    return subject.lower()


def _together(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def has_names(question: str) -> bool:
    return bool(name_phrases(question))


def understand(earlier: str | None, question: str) -> FollowUp:
    """The question to search for `question` asked after `earlier` (the module docstring's rules)."""
    if not earlier or not earlier.strip() or earlier.strip() == question.strip():
        return FollowUp(question, None)
    earlier = " ".join(earlier.split())
    m = ABOUT.match(question)
    if m and len(words(m["x"])) <= ABOUT_MAX_WORDS and not (set(words(m["x"])) & QUESTION_WORDS):
        x = m["x"].strip()
        names = name_phrases(earlier)
        if names:
            asked = earlier
            for n in sorted(names, key=len, reverse=True)[:1]:  # the longest name is the subject
                asked = asked.replace(n, x, 1)
        else:
            asked = f"{earlier.rstrip('?. ')} {x}?"
        return FollowUp(asked, earlier, x, "about")
    subject = subject_of(earlier)
    if not subject:
        return FollowUp(question, None)
    names = name_phrases(earlier)
    things = [n for n in names if not DATE_NAME.match(n)]
    body = LEAD.sub("", question).strip() or question
    pointer = POINTER.search(body)
    end = END_POINTER.search(body)
    if pointer and pointer.group(1).lower() in PERSONAL and has_names(body[: pointer.start()]):
        pointer = None  # "where did Emanuel Ashtor run his laptop farm?": his own
    if pointer:
        word = pointer.group(1).lower()
        if things:  # "they" is every name; "he", "it" the last one that is not a date (the subject asked about)
            subject = _together(things) if word in PLURAL else things[-1]
        repl = _carried(subject) + ("'s" if POINTERS[word] else "")
        return FollowUp(body[: pointer.start()] + repl + body[pointer.end() :], earlier, subject, "pronoun")
    if end:
        searched = body[: end.start()] + _carried(subject) + body[end.end() :].rstrip() + "?"
        return FollowUp(searched, earlier, subject, "pronoun")
    if DETERMINER.search(body) or not has_names(body):
        return FollowUp(f"{body.rstrip('?. ')} ({_carried(subject)})?", earlier, subject, "no-name")
    return FollowUp(question, None)
