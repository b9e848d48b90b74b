"""The answer path, wired: a question in, verbatim quotes or an abstention out.

Each stage is a small module with one job, passing typed objects to the next:

1. `question` — the question parsed once (`Question`: terms, names, the kind of answer asked for, …);
2. `retrieve` — the chunks to read (`Retrieved`; hybrid retrieval itself is `search`);
3. `read`     — their sentences scored into `Evidence` (`ScoredSentence`s, strength, focus);
   `reader`   — the trained reader reorders the best of them and says how sure it is (`Judgement`);
4. `decide`   — answer or abstain (`answers`: the reader's confidence against its threshold; without a
   trained reader, `abstains`: the calibrated strength threshold, the kind and focus rules);
5. `present`  — the quotes and their links (`bridge` adds the pair for "both X and Y" questions).

Every tunable number is in `params.AnswerParams`; the calibration is loaded once, when the Answerer is
made. The Answerer holds no per-question state.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .bridge import bridge, names_in
from .decide import CALIBRATION_FILE, abstains, calibrated_threshold, confident, load_calibration
from .params import AnswerParams
from .present import abstention, answer_sentences, answered, text_fragment_link
from .question import Question, answer_kind, as_question, is_list_question, name_terms, question_parts
from .read import Evidence, read
from .reader import Judgement, Reader, shipped_reader
from .retrieve import retrieve
from .retrieve import search_params as answer_search_params
from .search import SearchParams
from .sets import Scope
from .store import Build
from .types import Answer

# Importable from here as before the stages were split out; their homes are the stage modules.
__all__ = [
    "CALIBRATION_FILE",
    "AnswerParams",
    "Answerer",
    "Evidence",
    "Question",
    "answer_kind",
    "is_list_question",
    "load_calibration",
    "name_terms",
    "names_in",
    "question_parts",
    "text_fragment_link",
]


class Answerer:
    """Turns a question into an Answer using one Build; holds no per-question state."""

    def __init__(
        self,
        params: AnswerParams | None = None,
        search_params: SearchParams | None = None,
        max_quotes: int = 3,
        max_list_quotes: int = 8,
        calibration: dict | None = None,
        reader: Reader | None | bool = True,
    ):
        """reader=True: the shipped trained reader (if the package has one); False: the rules alone."""
        cal = load_calibration() if calibration is None else calibration
        self.p = AnswerParams.from_calibration(cal) if params is None else params
        self.calibration = cal  # loaded once: every ask uses the same threshold
        self.threshold = calibrated_threshold(cal, self.p)
        self.sp = search_params or answer_search_params(self.p)
        self.max_quotes = max_quotes
        self.max_list_quotes = max_list_quotes
        self.reader = shipped_reader() if reader is True else (reader or None)
        self.answer_above = float(cal.get("answer_above", self.reader.threshold)) if self.reader else 0.0

    def evidence(
        self,
        build: Build,
        question: str | Question,
        qvec: np.ndarray,
        support: bool = True,
        scope: Scope | None = None,
    ) -> Evidence:
        """Retrieve and read: the scored candidate sentences and the evidence strength (used by answer and
        calibration). support=False skips the strength (the sentences alone are wanted). `scope`: only
        these documents (index/sets.py); None: every document of the build."""
        q = as_question(question)
        return read(build, q, qvec, retrieve(build, q, qvec, self.sp, self.p, scope), self.p, support=support)

    def judge(self, build: Build, ev: Evidence, qvec: np.ndarray) -> Judgement | None:
        """The trained reader's order and confidence, or None when it is off."""
        return self.reader.judge(build, ev, qvec, self.p) if self.reader else None

    def abstains(self, ev: Evidence, threshold: float | None = None) -> bool:
        """Whether the evidence is too weak to quote as an answer (at the calibrated threshold by default)."""
        return abstains(ev, self.threshold if threshold is None else threshold, self.p)

    def answer(
        self,
        build: Build,
        question: str | Question,
        qvec: np.ndarray,
        embed: Callable[[list[str]], np.ndarray] | None = None,
        scope: Scope | None = None,
    ) -> Answer:
        """`embed` (questions -> vectors) lets a two-part question be searched half by half; `scope` keeps
        every quote to its documents (index/sets.py)."""
        ev = self.evidence(build, question, qvec, scope=scope)
        judged = self.judge(build, ev, qvec)
        if judged is not None:
            ev = judged.evidence
            refuse = not confident(judged, self.answer_above)
        else:
            refuse = self.abstains(ev)
        confidence = None if judged is None else judged.confidence
        if refuse:
            return abstention(build, ev, self.p, confidence)
        chosen, limit = answer_sentences(build, ev, self.p, self.max_quotes, self.max_list_quotes)
        pair = bridge(build, ev.question, embed, self.sp, self.p, scope)
        if pair:
            ids = {s.id for s in pair}
            chosen = (pair + [s for s in chosen if s.id not in ids])[: self.max_quotes]
        return answered(build, ev, chosen, limit, self.p, confidence)
