"""Stage 3 of an answer: the retrieved chunks' sentences read and scored into typed evidence.

Why a stage of its own: this is where a sentence is judged against the question (similarity, the
question's words weighted by rarity, the kind of thing and of answer asked for, the document's date),
and where the evidence that `decide` weighs is measured: the strength of the best support window and
the focus of the best sentences. Its output, `Evidence`, is all that the later stages see.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .params import AnswerParams
from .question import MONTHS, Question
from .retrieve import Retrieved
from .search import Hit
from .store import Build
from .text import term_set

DOC_DATE = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?")


@dataclass(slots=True)  # not frozen: a frozen dataclass is four times slower to make, and there are ~150 a question
class ScoredSentence:
    """One candidate sentence of a retrieved chunk, with what it scored (read-only by convention)."""

    id: int  # the sentence's row id in the build
    doc_id: int
    start: int  # offsets in the document's text
    end: int
    ord: int  # its place among the document's sentences
    cos: float  # cosine of its vector with the question's
    lex: float  # share (idf-weighted) of the question's terms in it and its heading
    prior: float  # its chunk's retrieval score over the best chunk's
    score: float  # the weighted sum with bonuses: the order in which sentences are quoted
    heading: str  # its chunk's heading
    kind: bool  # it gives the kind of answer the question asks for (an amount for "how much")

    def text(self, build: Build) -> str:
        return build.doc_text(self.doc_id)[self.start : self.end]


@dataclass(frozen=True)
class Evidence:
    """The scored sentences and how strongly they support an answer (what `decide` reads)."""

    question: Question
    sentences: tuple[ScoredSentence, ...]  # best first
    hits: tuple[Hit, ...]  # the retrieved chunks
    strength: float = 0.0  # the best support window: cosine plus the weaker of name and rest coverage
    coverage: float = 0.0  # that window's weaker coverage
    focus: float = 0.0  # the largest share of what is asked (beyond names) that one of the best sentences holds
    kind_found: bool = True  # the question asks for no kind of answer, or one of the best sentences gives it
    judged: bool = False  # the trained reader has ordered the sentences; their scores are its probabilities
    weights: TermWeights | None = None  # the question's terms weighted for this build (None when nothing was found)


@dataclass(frozen=True)
class TermWeights:
    """The question's terms weighted for one build (idf), the names among them, and its initialisms found there."""

    idf: dict[str, float]
    names: set[str]  # what the question is about; the rest is what it asks
    acronyms: dict[str, frozenset[str]]

    @property
    def rest(self) -> set[str]:
        return set(self.idf) - self.names


def read(
    build: Build, question: Question, qvec: np.ndarray, found: Retrieved, p: AnswerParams, support: bool = True
) -> Evidence:
    """Scored candidate sentences and the evidence strength (used by answer and calibration).
    support=False skips the strength and focus (the sentences alone are wanted)."""
    if not found.hits:
        return Evidence(question, (), found.hits, kind_found=question.kind is None)
    tw = term_weights(build, question, p)
    idf, acr, heads, kind = tw.idf, tw.acronyms, question.heads, question.kind
    total_idf = sum(idf.values()) or 1.0
    top = found.chunks
    chunks = build.chunk_rows([h.chunk_id for h in top])
    best_fused = top[0].score or 1.0
    sent_ids, prior, heading_of = [], {}, {}
    for h in top:
        c = chunks[h.chunk_id]
        for sid in range(c["first_sent"], c["last_sent"] + 1):
            if sid not in prior:
                sent_ids.append(sid)
                prior[sid] = h.score / best_fused
                heading_of[sid] = c["heading"]
    by_id = build.sentences(sent_ids)
    cos = build.sentence_vectors(sent_ids) @ qvec.astype(np.float32)
    scored = []
    for sid, c in zip(sent_ids, cos):
        r = by_id[sid]
        text = build.doc_text(r["doc_id"])[r["start"] : r["end"]]
        st = expand_acronyms(passage_terms(text + " " + heading_of[sid]), acr)
        lex = sum(w for t, w in idf.items() if t in st) / total_idf
        score = p.w_cos * float(c) + p.w_lex * lex + p.w_rank * prior[sid]
        if heads and heads & passage_terms(text):
            score += p.w_head
        has_kind = kind is not None and kind.given_by(text)
        if has_kind:
            score += p.w_kind
        if question.years and date_matches(build.documents[r["doc_id"]]["date"], question.years, question.months):
            score += p.w_date
        scored.append(
            ScoredSentence(
                id=sid,
                doc_id=r["doc_id"],
                start=r["start"],
                end=r["end"],
                ord=r["ord"],
                cos=float(c),
                lex=lex,
                prior=prior[sid],
                score=score,
                heading=heading_of[sid],
                kind=has_kind,
            )
        )
    scored.sort(key=lambda s: -s.score)
    strength, cov = support_strength(build, tw, scored[: p.support_window_candidates], p) if support else (0.0, 0.0)
    # a question asking for a kind of answer (an amount, a date) needs a sentence giving one;
    # such a sentence also counts as stating what is asked, whatever its words
    kind_found = kind is None or any(s.kind for s in scored[: p.focus_sentences])
    if not support:
        focus = 0.0
    elif kind is not None and kind_found:
        focus = 1.0
    else:
        focus = sentence_focus(build, tw, scored[: p.focus_sentences])
    return Evidence(
        question,
        tuple(scored),
        found.hits,
        strength=strength if question.terms else 0.0,
        coverage=cov,
        focus=focus,
        kind_found=kind_found,
        weights=tw,
    )


def term_weights(build: Build, question: Question, p: AnswerParams) -> TermWeights:
    """idf of the question's terms in this build (the head noun's weighed up), and the initialisms of its
    words that the build uses."""
    n = max(build.n_chunks, 1)
    df = build.doc_freq(list(question.terms))
    idf = {t: math.log((n + 1) / (df[t] + 0.5)) for t in question.terms}
    for t in question.heads & set(idf):
        idf[t] *= p.head_idf_boost
    acr = {a: ts for a, ts in question.acronyms if a not in idf}
    acr = {a: ts for a, ts in acr.items() if build.doc_freq([a])[a] > 0}
    return TermWeights(idf, {t for t in question.names if t in idf}, acr)


def share(weights: Mapping[str, float], terms: AbstractSet[str], empty: float = 1.0) -> float:
    """The weighted share of `weights`' terms (idf by term) that `terms` holds; `empty` when it weighs nothing."""
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in terms) / total if total else empty


def sentence_focus(build: Build, tw: TermWeights, scored: list[ScoredSentence]) -> float:
    """The largest share (idf-weighted) of the question's non-name terms that one sentence, with its
    heading, contains; 1.0 when the question has no such terms."""
    rest = {t: tw.idf[t] for t in tw.rest}
    if not sum(rest.values()):
        return 1.0
    best = 0.0
    for s in scored:
        terms = expand_acronyms(passage_terms(s.text(build) + " " + s.heading), tw.acronyms)
        best = max(best, share(rest, terms))
    return best


def support_strength(
    build: Build, tw: TermWeights, scored: list[ScoredSentence], p: AnswerParams
) -> tuple[float, float]:
    """How well the best passage supports an answer: similarity plus the weaker of two coverages.

    Question terms are split into names (capitalised words, numbers: what the question is about)
    and the rest (what it asks about them). A window (the sentence, its neighbours and heading;
    names may also match the document's title and date) must cover both: a passage about the
    right bank that never mentions the code asked for, or one giving some other person's prison
    sentence, supports no answer.
    """
    names = {t: tw.idf[t] for t in tw.names}
    rest = {t: tw.idf[t] for t in tw.rest}
    best, best_cov = 0.0, 0.0
    for s in scored:
        text = build.doc_text(s.doc_id)
        meta = build.documents[s.doc_id]
        nb = build.neighbours(s.doc_id, s.ord, p.support_radius)
        window = " ".join(text[a:b] for a, b in nb) + " " + s.heading
        wt = expand_acronyms(passage_terms(window), tw.acronyms)
        wt_names = wt | passage_terms((meta["title"] or "") + " " + date_words(meta["date"]))
        cn, cr = share(names, wt_names), share(rest, wt)
        sup = s.cos + min(cn, cr)
        if sup > best:
            best, best_cov = sup, min(cn, cr)
    return best, best_cov


# ---- passages as terms ---------------------------------------------------------------------------
@lru_cache(maxsize=1 << 16)
def passage_terms(text: str) -> frozenset[str]:
    """term_set of a passage, memoized: the same sentences and windows are scored question after question."""
    return frozenset(term_set(text))


def expand_acronyms(terms: AbstractSet[str], groups: dict[str, frozenset[str]]) -> AbstractSet[str]:
    """A passage that uses an initialism also covers the words it stands for."""
    for a, ts in groups.items():
        if a in terms:
            terms = terms | ts
    return terms


def date_words(date: str | None) -> str:
    """A document date as words a question may use: '2025-11-04' -> '2025 november 4'."""
    m = DOC_DATE.match(date or "")
    if not m:
        return ""
    return " ".join(
        [m.group(1), MONTHS[int(m.group(2)) - 1] if 1 <= int(m.group(2)) <= 12 else "", str(int(m.group(3) or 0) or "")]
    )


def date_matches(date: str | None, years: AbstractSet[str], months: AbstractSet[int]) -> bool:
    """The document is dated in a year (and month, if given) that the question names."""
    if not date or date[:4] not in years:
        return False
    return not months or (len(date) >= 7 and date[5:7].isdigit() and int(date[5:7]) in months)
