"""Stage 5 of an answer: which sentences are quoted, and how (verbatim text, source, deep link).

Why a stage of its own: once `decide` has said answer or abstain, what the user sees is chosen here:
how many quotes (more for a list question), skipping overlaps, the earliest-dated of several documents
saying the same thing, a too-short sentence extended with the next one, and a link that opens the
source at the quote (a PDF page, a web page's #:~:text= fragment). Two-part questions add their
bridging pair (index/bridge.py) in front.
"""

from __future__ import annotations

import json
from urllib.parse import quote as urlquote

from .params import AnswerParams
from .question import Question
from .read import Evidence, ScoredSentence, passage_terms
from .sets import is_saved
from .spans import answer_spans
from .store import Build
from .types import Answer, Quote

OVERLAP_ORDS = 1  # two sentences of one document closer than this many places overlap (the same sentence)
MIN_RARE_TERM_CHARS = 3  # shorter terms ("of", "u.s") never count as rare
FRAGMENT_WORDS = 8  # a #:~:text= fragment quotes a sentence this long whole …
FRAGMENT_ENDS = 4  # … a longer one by this many words at each end
NO_DATE = "9999"  # undated documents sort after every dated one
SAVED_WHOLE_MAX = 1500  # a saved answer (index/saved.py) this short is quoted whole: the reply, as it was written


def _once(quotes: list[Quote]) -> list[Quote]:
    """Quotes without repeats: two sentences of one short saved answer both quote the whole message."""
    seen: set[tuple[str, int, int]] = set()
    out = []
    for q in quotes:
        key = (q.doc, q.start, q.end)
        if key not in seen:
            seen.add(key)
            out.append(q)
    return out


def abstention(build: Build, ev: Evidence, p: AnswerParams, confidence: float | None = None) -> Answer:
    """An abstention: the closest passages, one per document, marked as not an answer."""
    closest = pick(list(ev.sentences), p.closest_quotes, 0.0, spread=True)
    quotes = _once([quote(build, s, p, closest=True) for s in closest])
    return Answer(
        ev.question.text,
        True,
        quotes,
        more=[],
        build_id=build.build_id,
        built_at=build.built_at,
        confidence=confidence,
    )


def answer_sentences(
    build: Build, ev: Evidence, p: AnswerParams, max_quotes: int, max_list_quotes: int
) -> tuple[list[ScoredSentence], int]:
    """The sentences quoted as the answer (before any bridge), and how many a question of this kind may show."""
    scored = list(ev.sentences)
    limit = max_list_quotes if ev.question.is_list else max_quotes
    if ev.judged:
        ratio = p.reader_list_ratio if ev.question.is_list else p.reader_quote_ratio
    else:
        ratio = p.list_ratio if ev.question.is_list else p.quote_ratio
    return prefer_originals(build, scored, pick(scored, limit, scored[0].score * ratio), p), limit


def answered(
    build: Build,
    ev: Evidence,
    chosen: list[ScoredSentence],
    limit: int,
    p: AnswerParams,
    confidence: float | None = None,
) -> Answer:
    """An answer quoting `chosen`, with further passages for "more passages"."""
    more = [s for s in pick(list(ev.sentences), limit + p.more_quotes, 0.0) if s not in chosen][: p.more_quotes]
    quotes = _once([quote(build, s, p, question=ev.question) for s in chosen])
    shown = {(q.doc, q.start, q.end) for q in quotes}
    return Answer(
        ev.question.text,
        False,
        quotes,
        more=[q for q in _once([quote(build, s, p) for s in more]) if (q.doc, q.start, q.end) not in shown],
        build_id=build.build_id,
        built_at=build.built_at,
        confidence=confidence,
    )


def quote(
    build: Build, s: ScoredSentence, p: AnswerParams, closest: bool = False, question: Question | None = None
) -> Quote:
    """The sentence verbatim (extended with the next one when shorter than `min_words`, or, given the
    `question`, when the next one `continues` it), with its source; given the `question`, with the spans of
    it that answer (index/spans.py). A saved reply is quoted whole."""
    meta = build.documents[s.doc_id]
    text_all = build.doc_text(s.doc_id)
    start, end = s.start, s.end
    saved = any(is_saved(n) for n in meta["sets"])
    nxt = build.sentence_at(s.doc_id, s.ord + 1)
    if saved and len(text_all.strip()) <= SAVED_WHOLE_MAX:  # the whole reply, its url the jump link as saved
        start, end = whole(text_all)
    elif nxt is not None and "\n\n" not in text_all[end : nxt[0]]:
        if len(text_all[start:end].split()) < p.min_words or (
            question is not None and continues(question, text_all[start:end], text_all[nxt[0] : nxt[1]])
        ):
            end = nxt[1]
    text = text_all[start:end]
    page = None
    if meta["kind"] == "pdf":
        pages = json.loads(meta["pages"] or "[]")
        for off, num in pages:
            if off <= start:
                page = num
    return Quote(
        text=text,
        doc=meta["path"],
        title=meta["title"],
        url=meta["url"] if saved else text_fragment_link(meta["url"], text, meta["kind"], page),
        date=meta["date"],
        score=s.score,
        start=start,
        end=end,
        heading=s.heading,
        closest=closest,
        marks=answer_spans(question, text) if question is not None else [],
        saved=saved,
    )


def saved_quote(build: Build, doc_id: int, score: float, question: Question | None = None) -> Quote:
    """A saved answer (index/saved.py) quoted as its reply was written: whole up to SAVED_WHOLE_MAX
    characters, else its first sentences up to that length; its url is the message's jump link."""
    meta = build.documents[doc_id]
    text_all = build.doc_text(doc_id)
    start, end = whole(text_all)
    if end - start > SAVED_WHOLE_MAX:
        ord_, last = 0, None
        while (span := build.sentence_at(doc_id, ord_)) is not None and (
            last is None or span[1] - start <= SAVED_WHOLE_MAX
        ):
            last, ord_ = span[1], ord_ + 1
        end = last or end
    text = text_all[start:end]
    return Quote(
        text=text,
        doc=meta["path"],
        title=meta["title"],
        url=meta["url"],
        date=meta["date"],
        score=score,
        start=start,
        end=end,
        marks=answer_spans(question, text) if question is not None else [],
        saved=True,
    )


def whole(text: str) -> tuple[int, int]:
    """The offsets of `text` without its leading and trailing whitespace."""
    return len(text) - len(text.lstrip()), len(text.rstrip())


def continues(question: Question, sentence: str, following: str) -> bool:
    """Whether the answer likely sits in the next sentence: this one introduces a list (ends with a
    colon), or the question asks for a form of answer (an amount, a date, a name…) that this sentence
    lacks and the next one has."""
    if sentence.rstrip().endswith(":"):
        return True
    return not answer_spans(question, sentence) and bool(answer_spans(question, following))


def text_fragment_link(url: str | None, sentence: str, kind: str, page: int | None) -> str | None:
    """A deep link: #page=N for PDFs, a #:~:text= fragment for web pages."""
    if not url:
        return None
    if kind == "pdf":
        return f"{url.split('#')[0]}#page={page}" if page else url
    ws = sentence.split()
    if not ws:
        return url
    enc = lambda s: urlquote(s, safe="")
    if len(ws) <= FRAGMENT_WORDS:
        frag = enc(" ".join(ws))
    else:
        frag = enc(" ".join(ws[:FRAGMENT_ENDS])) + "," + enc(" ".join(ws[-FRAGMENT_ENDS:]))
    return url + ("&" if ":~:" in url else (":~:" if "#" in url else "#:~:")) + "text=" + frag


def pick(scored: list[ScoredSentence], limit: int, floor: float, spread: bool = False) -> list[ScoredSentence]:
    """Best sentences above `floor`, skipping overlaps and near-repeats (and repeats of a document if spread)."""
    out: list[ScoredSentence] = []
    docs = set()
    for s in scored:
        if len(out) >= limit or s.score < floor:
            break
        if any(o.doc_id == s.doc_id and abs(o.ord - s.ord) < OVERLAP_ORDS for o in out):
            continue
        if spread and s.doc_id in docs:
            continue
        out.append(s)
        docs.add(s.doc_id)
    return out


def rare_max(build: Build, p: AnswerParams) -> float:
    """A term (or name) in at most this many chunks is rare: specific enough to identify a statement."""
    return max(p.rare_chunks_min, p.rare_chunks_share * build.n_chunks)


def prefer_originals(
    build: Build, scored: list[ScoredSentence], chosen: list[ScoredSentence], p: AnswerParams
) -> list[ScoredSentence]:
    """When several documents say the same thing, quote the earliest-dated one (undated last).

    News coverage and later releases repeat an original announcement; the original is the
    source a reader should check. Only near-repeats (sentence vectors at cosine >= dup_cosine)
    that score close to the chosen quote are swapped in.
    """
    if not chosen:
        return chosen
    pool = [s for s in scored[: p.dup_pool] if s.score >= chosen[-1].score * p.dup_score_ratio]
    if len(pool) < 2:
        return chosen
    vecs = build.sentence_vectors([s.id for s in pool])
    index = {s.id: i for i, s in enumerate(pool)}
    date = lambda s: build.documents[s.doc_id]["date"] or NO_DATE
    terms = {s.id: passage_terms(s.text(build)) for s in pool}
    df = build.doc_freq(sorted(set().union(*terms.values())))
    most = rare_max(build, p)
    rare = {
        sid: {t for t in ts if 0 < df.get(t, 0) <= most and len(t) >= MIN_RARE_TERM_CHARS} for sid, ts in terms.items()
    }

    def repeats(s, c, sim):
        """Same statement: close in meaning and naming mostly the same rare things."""
        rc, rs = rare[c.id], rare[s.id]
        shared = len(rc & rs) / min(len(rc), len(rs)) if rc and rs else 0.0
        return sim >= p.dup_cosine or (sim >= p.dup_cosine_named and shared >= p.dup_rare_shared)

    out, used = [], set()
    for c in chosen:
        best = c
        if c.id in index:
            sims = vecs @ vecs[index[c.id]]
            for s, sim in zip(pool, sims):
                if (
                    s.doc_id != c.doc_id
                    and repeats(s, c, sim)
                    and s.score >= c.score * p.dup_score_ratio
                    and date(s) < date(best)
                ):
                    best = s
        if best.id in used:
            best = c
        if best.id not in used:
            out.append(best)
            used.add(best.id)
    return out
