"""Every tunable number of the answer path, in one frozen object.

Why one object: the stages (retrieve, read, decide, present) are tuned together, a calibration may
replace any of them (`calibration.json`'s "params"), and a benchmark or a test changes one by passing
`AnswerParams(name=value)` to the `Answerer`. A number that is not here is not meant to be tuned; it is
a named constant in its stage's module.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class AnswerParams:
    # ---- retrieve -----------------------------------------------------------------------------------
    candidates: int = 10  # chunks whose sentences are scored
    retrieve_extra: int = 12  # further chunks retrieved beyond `candidates`, from which the lead document is read on
    lead_doc_extra: int = 4  # chunks of the best-matching document read beyond `candidates`
    search_per_doc: int = 3  # the retriever's cap on chunks of one document among its first `diverse_top`
    search_diverse_min: int = 10  # the retriever's `diverse_top` is at least this (and at least `candidates`)
    # ---- read: each sentence's score --------------------------------------------------------------------
    w_cos: float = 0.6
    w_lex: float = 0.5
    w_rank: float = 0.15
    w_date: float = 0.1  # bonus for documents dated when the question says ("the March 2026 action")
    w_head: float = 0.15  # bonus for naming the kind of thing asked for ("which banks" -> "... Bank")
    w_kind: float = 0.15  # bonus for giving the kind of answer asked for ("how much" -> "$81 million")
    head_idf_boost: float = 1.5  # the weight of the head noun's terms ("bank" in "which banks"), times their idf
    # ---- read: the evidence strength (the best support window) -----------------------------------------------
    support_window_candidates: int = 30  # best sentences whose windows are tried
    support_radius: int = 1  # a support window: the sentence and this many neighbours on each side
    # ---- the trained reader (index/reader.py) -----------------------------------------------------------
    reader_candidates: int = 30  # the best read sentences that the reader scores (the answer is among them ~98%)
    # With the reader, sentences are scored by its probability (they sum to 1 over the candidates), so
    # further quotes need a smaller share of the best one's score than `quote_ratio` / `list_ratio` below.
    reader_quote_ratio: float = 0.02
    reader_list_ratio: float = 0.0  # a list question shows up to max_list_quotes of the best candidates
    # ---- decide ---------------------------------------------------------------------------------------
    abstain_below: float = 0.45  # replaced by calibration.json when present
    # Below `sure_above`, one of the `focus_sentences` best sentences must itself (with its heading)
    # carry at least `focus_min` of what the question asks beyond its names (idf-weighted), or give
    # the kind of answer asked for (an amount for "how much"): a passage whose neighbours happen to
    # share the question's words, around a sentence that only names the same people and places,
    # answers nothing.
    focus_min: float = 0.15
    focus_sentences: int = 5
    sure_above: float = 1.2
    # ---- present ---------------------------------------------------------------------------------------
    quote_ratio: float = 0.8  # extra quotes must score at least this share of the best
    list_ratio: float = 0.7
    min_words: int = 6  # shorter sentences are extended with the next one
    closest_quotes: int = 3  # passages shown with an abstention (one per document)
    more_quotes: int = 6  # further passages kept for "more passages"
    # When several documents say the same thing, the earliest-dated is quoted: near-repeats among the
    # `dup_pool` best sentences scoring at least `dup_score_ratio` of the quote, at sentence-vector cosine
    # `dup_cosine` (or `dup_cosine_named` when they share `dup_rare_shared` of their rare terms).
    dup_pool: int = 40
    dup_cosine: float = 0.8
    dup_cosine_named: float = 0.55
    dup_score_ratio: float = 0.85
    dup_rare_shared: float = 0.5
    # A rare term (or a specific name) is in at most max(rare_chunks_min, rare_chunks_share × chunks) chunks.
    rare_chunks_min: int = 3
    rare_chunks_share: float = 0.05
    # ---- present: "both X and Y" questions ---------------------------------------------------------------
    bridge_candidates: int = 12  # sentences per half of a "both X and Y" question searched for a shared name
    bridge_docs: int = 3  # a half's sentences come from the documents of its this many best sentences

    @classmethod
    def from_calibration(cls, cal: dict) -> AnswerParams:
        """The defaults, with whatever a calibration's "params" sets (unknown names are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in cal.get("params", {}).items() if k in known})
