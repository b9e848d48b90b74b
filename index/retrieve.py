"""Stage 2 of an answer: the chunks whose sentences are read.

Why a stage of its own: `search` (hybrid retrieval, index/search.py) ranks chunks for any caller (the
answer path, the SciFact benchmark); this stage decides how many of them the reader reads: the best
`candidates`, and the best-matching document read further than the others (the retriever's diversity
cap keeps it from filling the top).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import AnswerParams
from .question import Question
from .search import Hit, SearchParams, search
from .sets import Scope
from .store import Build


@dataclass(frozen=True)
class Retrieved:
    hits: tuple[Hit, ...]  # everything the retriever returned, best first
    chunks: tuple[Hit, ...]  # the chunks whose sentences are read, best first


def search_params(p: AnswerParams) -> SearchParams:
    """The retriever's settings for the answer path."""
    return SearchParams(per_doc=p.search_per_doc, diverse_top=max(p.search_diverse_min, p.candidates))


def retrieve(
    build: Build, question: Question, qvec: np.ndarray, sp: SearchParams, p: AnswerParams, scope: Scope | None = None
) -> Retrieved:
    """The chunks to read, from `scope`'s documents only (index/sets.py; None: every document)."""
    hits = search(build, question.text, qvec, sp, k=p.candidates + p.retrieve_extra, scope=scope)
    if not hits:
        return Retrieved((), ())
    top = hits[: p.candidates]
    lead = hits[0].doc_id
    top += [h for h in hits[p.candidates :] if h.doc_id == lead][: p.lead_doc_extra]
    return Retrieved(tuple(hits), tuple(top))
