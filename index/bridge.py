"""Two-part questions ("which mixer is named both in X and in Y?"): two sentences that name the same thing.

Why a module of its own: such a question has no single answering sentence. Its two halves
(`Question.halves`) are each retrieved and read on their own, and the answer is a pair of sentences,
one per half, sharing a specific name. The pair goes in front of the ordinary quotes (present stage).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from .params import AnswerParams
from .present import rare_max
from .question import Question
from .read import ScoredSentence, passage_terms, read
from .retrieve import retrieve
from .search import SearchParams
from .sets import Scope
from .store import Build
from .text import STOPWORDS, stem, term_set, words

NAME_RUN = re.compile(r"\b[A-Z][\w.'’-]*[\w](?:\s+(?:of\s+|the\s+|for\s+)?[A-Z][\w.'’-]*[\w])*")


def names_in(text: str, exclude: set[str] | frozenset[str]) -> set[str]:
    """Capitalised names in a sentence (runs like 'Tornado Cash'), minus those made only of question words."""
    out = set()
    for m in NAME_RUN.finditer(text):
        name = m.group(0)
        if m.start() == 0 or text[m.start() - 2 : m.start()].strip() in (".", "!", "?"):
            if len(name.split()) == 1:
                continue  # a sentence's first word is capitalised anyway
        ts = {stem(w) for w in words(name) if w not in STOPWORDS}
        if ts and not ts <= exclude:
            out.add(" ".join(name.split()))
    return out


def bridge(
    build: Build,
    question: Question,
    embed: Callable[[list[str]], np.ndarray] | None,
    sp: SearchParams,
    p: AnswerParams,
    scope: Scope | None = None,
) -> list[ScoredSentence]:
    """For "both X and Y" questions: two sentences, one for each half, that name the same thing.

    Each half is searched on its own; its sentences come from the documents of its three best
    sentences. A shared name must be specific (its rarest word in few chunks: not "OFAC" or
    "U.S." in a corpus about sanctions) and, when the question asks for a kind of thing ("which
    mixer"), sentences naming that kind come first. Returns [] when nothing qualifies; the
    question is then answered as usual.
    """
    if question.halves is None or embed is None:
        return []
    exclude = question.words
    heads = question.heads
    common = int(rare_max(build, p))

    def specific(name: str) -> bool:
        df = build.doc_freq(list(term_set(name)))
        return bool(df) and min(df.values()) <= common

    sides = []  # per half: (sentence, its specific names, whether it names the kind asked for)
    for half, vec in zip(question.halves, embed([h.text for h in question.halves])):
        scored = read(build, half, vec, retrieve(build, half, vec, sp, p, scope), p, support=False).sentences
        docs = {s.doc_id for s in scored[: p.bridge_docs]}
        side = []
        for s in scored[: p.bridge_candidates]:
            if s.doc_id in docs:
                text = s.text(build)
                side.append(
                    (
                        s,
                        {n for n in names_in(text, exclude) if specific(n)},
                        not heads or bool(heads & passage_terms(text)),
                    )
                )
        sides.append(side)
    best = None
    for ra, (a, names_a, kind_a) in enumerate(sides[0]):
        for rb, (b, names_b, kind_b) in enumerate(sides[1]):
            if a.id == b.id:
                continue
            for name in names_a & names_b:
                key = (not (kind_a and kind_b), ra + rb, name)
                if best is None or key < best[0]:
                    best = (key, a, b)
    return [] if best is None else [best[1], best[2]]
