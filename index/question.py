"""Stage 1 of an answer: the question, parsed once into a typed object.

Why a stage of its own: every later stage needs the same facts about the question (its content terms,
the names it is about, the kind of thing and the kind of answer it asks for, the dates it mentions,
whether it wants a list, its two halves for "both X and Y"). Parsed here once, they are the same
everywhere, and a newcomer finds every rule that reads the question's wording in this one file.

The answer path: question (this module) → retrieve → read → decide → present; `answer.Answerer`
wires them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from .text import STOPWORDS, content_terms, stem, term_set, words

LIST_Q = re.compile(
    r"^\s*(?:(?:which|what|who)\s+(?:\w+\s+){0,3}?(?:are|were|have|had|did|do)\b|list\b|name\s+(?:the|all)\b|"
    r"(?:which|what)\s+(?:[\w-]+\s+){0,2}?[\w-]+(?:s|es|ies)\b|how many\b.*\band\b)",
    re.I,
)
# "Which mixer appears both as X … and as Y …?": two facts that must meet in one name.
BOTH_Q = re.compile(r"^(?P<ask>.*?)\bboth\s+(?P<a>.+?)\s+and\s+(?:also\s+)?(?P<b>.+?)\s*\??\s*$", re.I | re.S)
HEAD_NOUN = re.compile(
    r"^\s*(?:which|what)\s+((?:[\w-]+\s+){0,2}?[\w-]+?)(?:\s+(?:was|were|is|are|did|does|do|had|has|have)\b|\s+\w+ed\b|\?|$)",
    re.I,
)
NAME_TOKEN = re.compile(r"[^\W_][\w'’./-]*")  # a token of the question, for finding its names
YEAR = re.compile(r"\b(?:19|20)\d\d\b")
# The attribute asked for about something: "what is the passport number of X", "X's date of birth".
ATTRIBUTE = re.compile(
    r"\b(?:what|which)(?:'s|s|\s+is|\s+was|\s+are|\s+were)?\s+(?:the\s+|a\s+|an\s+|its\s+|their\s+)?"
    r"(?P<of>(?:[a-z]+\s+){0,2}[a-z]+)\s+(?:of|for)\b"
    r"|\b\w+(?:'s|’s)\s+(?P<own>(?:[a-z]+\s+){0,2}[a-z]+)\s*\??\s*$",
    re.I,
)
# What a "how many" question counts, up to its verb: "how many laptops did the FBI seize" -> {"laptop"}.
HOW_MANY = re.compile(r"\bhow\s+many\s+((?:[\w'’-]+\s*){1,4})", re.I)
GENERIC_ATTRIBUTES = frozenset({"name", "kind", "type", "part", "role", "one", "purpose", "goal", "reason"})

HEAD_MIN_CHARS = 3  # a head noun's words shorter than this ("of", "IT") say nothing of the kind asked for
HALF_MIN_WORDS = 3  # each half of a "both X and Y" question needs this many words to be searched on its own
ACRONYM_LENGTHS = (2, 3, 4)  # runs of question words that an initialism may stand for

# The kind of answer some questions ask for, and how a sentence that gives one looks: a question
# "how much …" is answered by an amount, "when …" by a date. (name, question pattern, sentence pattern)
NUM_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
    r"|hundreds?|thousands?|dozens?|millions?|billions?)"
)
MONTH_NAME = r"(?:january|february|march|april|june|july|august|september|october|november|december)"  # not "may"
MONTH_RE = rf"(?:{MONTH_NAME}|may|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
# A chat question may lead with its setting ("In the Bybit hack, how much …", "tradertraitor - when …"):
# the asking words start the question or follow a comma, colon, semicolon or dash.
ASK_START = r"(?:^|[,;:—–]|\s-)\s*"
ANSWER_KINDS = [
    (
        "amount",
        re.compile(
            ASK_START
            + r"(?:how\s+much|how\s+large|what\s+(?:\w+\s+)?(?:amount|sum|value|fine|reward|price|revenue))\b",
            re.I,
        ),
        re.compile(
            rf"[$€£¥]\s?\d|\b\d[\d,.]*\s*(?:million|billion|thousand|dollars?|usd|eur|euros?|yuan|cny|btc|eth|usdt|bitcoin)\b|\b{NUM_WORD}\s+(?:million|billion)\b",
            re.I,
        ),
    ),
    (
        "count",
        re.compile(ASK_START + r"(?:roughly\s+|about\s+|approximately\s+)?how\s+many\b", re.I),
        re.compile(rf"\b\d|\b{NUM_WORD}\b", re.I),
    ),
    (
        "duration",
        re.compile(ASK_START + r"(?:for\s+)?how\s+long\b", re.I),
        re.compile(rf"\b(?:\d[\d,.]*|{NUM_WORD}|a|an)[\s-]+(?:years?|months?|weeks?|days?|hours?|decades?)\b", re.I),
    ),
    ("age", re.compile(ASK_START + r"how\s+old\b", re.I), re.compile(r"\b\d{1,3}\b|\baged?\b|\byears?\s+old\b", re.I)),
    (
        "date",
        re.compile(
            ASK_START + r"(?:when\b|since\s+when\b|(?:(?:on|in)\s+)?(?:what|which)\s+(?:date|day|year|month)\b)",
            re.I,
        ),
        re.compile(
            rf"\b(?:1[89]|20)\d\d\b|\b{MONTH_RE}\s+\d{{1,2}}\b|\b\d{{1,2}}\s+{MONTH_RE}|\b(?:today|yesterday|{MONTH_NAME})\b",
            re.I,
        ),
    ),
]

MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]


class AnswerKind(NamedTuple):
    """The kind of answer asked for ("amount" for "how much …?") and how a sentence giving one looks."""

    name: str
    looks: re.Pattern

    def given_by(self, text: str) -> bool:
        return bool(self.looks.search(text))


@dataclass(frozen=True)
class Question:
    """A question as the answer path reads it; build with `parse_question`."""

    text: str
    terms: tuple[str, ...]  # stemmed content terms, in order (stopwords dropped)
    names: frozenset[str]  # stemmed capitalised words and numbers after the first word: what it is about
    heads: frozenset[str]  # the kind of thing asked for: "which banks were…" -> {"bank"}
    attribute: frozenset[str]  # what is asked about it: "the passport number of X" -> {"passport", "number"}
    counted: frozenset[str]  # what a "how many" question counts: "how many laptops were seized" -> {"laptop"}
    years: frozenset[str]  # years it mentions ("the March 2026 action" -> {"2026"})
    months: frozenset[int]  # months it mentions, only when it names a year too ({3})
    kind: AnswerKind | None  # the kind of answer asked for ("how much" -> an amount), if it says
    is_list: bool  # "which banks were…": several quotes answer it
    halves: tuple[Question, Question] | None  # the two halves of a "both X and Y" question, each parsed
    acronyms: tuple[tuple[str, frozenset[str]], ...]  # initialisms a passage may use for runs of its words
    words: frozenset[str]  # every stemmed word (stopwords included): what a name found elsewhere must add to

    @property
    def parts(self) -> tuple[str, str] | None:
        """The texts of the two halves of a "both X and Y" question, or None."""
        return None if self.halves is None else (self.halves[0].text, self.halves[1].text)


def parse_question(text: str, split: bool = True) -> Question:
    """The question read once; `split=False` does not look for two halves (used for the halves themselves)."""
    parts = question_parts(text) if split else None
    years, months = question_dates(text)
    return Question(
        text=text,
        terms=tuple(content_terms(text)),
        names=frozenset(name_terms(text)),
        heads=frozenset(head_terms(text)),
        attribute=frozenset(attribute_terms(text)),
        counted=frozenset(counted_terms(text)),
        years=frozenset(years),
        months=frozenset(months),
        kind=answer_kind(text),
        is_list=is_list_question(text),
        halves=None if parts is None else (parse_question(parts[0], False), parse_question(parts[1], False)),
        acronyms=tuple((a, frozenset(ts)) for a, ts in acronym_groups(text).items()),
        words=frozenset(term_set(text)),
    )


def as_question(question: str | Question) -> Question:
    """A Question as it is, or the text parsed."""
    return question if isinstance(question, Question) else parse_question(question)


# ---- the rules, one per fact ---------------------------------------------------------------------
def answer_kind(q: str) -> AnswerKind | None:
    """('amount', how a sentence giving one looks) for "how much …?"; None when the question does not say."""
    for name, ask, looks in ANSWER_KINDS:
        if ask.search(q):
            return AnswerKind(name, looks)
    return None


def is_list_question(q: str) -> bool:
    return bool(LIST_Q.search(q))


def name_terms(q: str) -> set[str]:
    """Stemmed terms of capitalised words and numbers after the first word: what the question is about."""
    out = set()
    for i, tok in enumerate(NAME_TOKEN.findall(q)):
        if i > 0 and (tok[0].isupper() or tok[0].isdigit()):
            for w in words(tok):
                w = w.strip(".'-")
                if w and w not in STOPWORDS:
                    out.add(stem(w))
    return out


def acronym_groups(q: str) -> dict[str, set[str]]:
    """Initialisms a passage may use for runs of question words: 'date of birth' -> 'dob'."""
    toks = [w.strip(".'-") for w in words(q)]
    out: dict[str, set[str]] = {}
    for n in ACRONYM_LENGTHS:
        for i in range(len(toks) - n + 1):
            run = toks[i : i + n]
            if not all(t.isalpha() for t in run) or run[0] in STOPWORDS or run[-1] in STOPWORDS:
                continue
            out.setdefault("".join(t[0] for t in run), set()).update(stem(t) for t in run if t not in STOPWORDS)
    return out


def question_dates(q: str) -> tuple[set[str], set[int]]:
    """Years and months a question mentions ("the March 2026 action" -> {"2026"}, {3})."""
    years = set(YEAR.findall(q))
    months = {i + 1 for i, m in enumerate(MONTHS) if re.search(rf"\b{m}\b", q, re.I)} if years else set()
    return years, months


def head_terms(q: str) -> set[str]:
    """The kind of thing asked for: 'which banks were…' -> {'bank'}."""
    m = HEAD_NOUN.search(q)
    if not m:
        return set()
    return {stem(w) for w in words(m.group(1)) if len(w) >= HEAD_MIN_CHARS}


def attribute_terms(q: str) -> set[str]:
    """What is asked about something: 'what is the street address of X' -> {'street', 'address'}; a
    generic word ('the name of') says nothing a sentence would have to repeat."""
    m = ATTRIBUTE.search(q)
    if not m:
        return set()
    return set(content_terms(m["of"] or m["own"])) - GENERIC_ATTRIBUTES


def counted_terms(q: str) -> set[str]:
    """What a "how many" question counts, up to its verb: 'how many suspected laptop farms did …' ->
    {'suspect', 'laptop', 'farm'}; a sentence giving the count names it beside the number."""
    m = HOW_MANY.search(q)
    if not m:
        return set()
    out = set()
    for w in words(m.group(1)):
        if w in STOPWORDS:  # its verb or preposition ("did", "were", "in") ends what is counted
            break
        out.add(stem(w))
    return out


def question_parts(q: str) -> tuple[str, str] | None:
    """The two halves of a "both X and Y" question, each with the question's ask ("Which mixer appears")."""
    m = BOTH_Q.match(q)
    if not m or len(words(m["a"])) < HALF_MIN_WORDS or len(words(m["b"])) < HALF_MIN_WORDS:
        return None
    ask = m["ask"].strip()
    return f"{ask} {m['a'].strip()}", f"{ask} {m['b'].strip()}"
