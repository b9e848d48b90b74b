"""Choose the sentences that answer a question from the top chunks, or abstain."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote as urlquote

import numpy as np

from .search import SearchParams, search
from .store import Build
from .text import STOPWORDS, content_terms, stem, term_set, words
from .types import Answer, Quote

# The shipped calibration (read-only, part of the package). `qabot calibrate` writes its fit into the
# index folder instead (Engine prefers that file), never into the installed package.
CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
SUPPORT_RADIUS = 1  # a support window: the sentence and this many neighbours on each side

LIST_Q = re.compile(
    r"^\s*(?:(?:which|what|who)\s+(?:\w+\s+){0,3}?(?:are|were|have|had|did|do)\b|list\b|name\s+(?:the|all)\b|"
    r"(?:which|what)\s+(?:[\w-]+\s+){0,2}?[\w-]+(?:s|es|ies)\b|how many\b.*\band\b)",
    re.I,
)
# "Which mixer appears both as X … and as Y …?": two facts that must meet in one name.
BOTH_Q = re.compile(r"^(?P<ask>.*?)\bboth\s+(?P<a>.+?)\s+and\s+(?:also\s+)?(?P<b>.+?)\s*\??\s*$", re.I | re.S)
NAME_RUN = re.compile(r"\b[A-Z][\w.'’-]*[\w](?:\s+(?:of\s+|the\s+|for\s+)?[A-Z][\w.'’-]*[\w])*")
HEAD_NOUN = re.compile(
    r"^\s*(?:which|what)\s+((?:[\w-]+\s+){0,2}?[\w-]+?)(?:\s+(?:was|were|is|are|did|does|do|had|has|have)\b|\s+\w+ed\b|\?|$)",
    re.I,
)

# The kind of answer some questions ask for, and how a sentence that gives one looks: a question
# "how much …" is answered by an amount, "when …" by a date. (question pattern, sentence pattern)
NUM_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
    r"|hundreds?|thousands?|dozens?|millions?|billions?)"
)
MONTH_NAME = r"(?:january|february|march|april|june|july|august|september|october|november|december)"  # not "may"
MONTH_RE = rf"(?:{MONTH_NAME}|may|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
ANSWER_KINDS = [
    (
        "amount",
        re.compile(
            r"^\s*(?:how\s+much|how\s+large|what\s+(?:\w+\s+)?(?:amount|sum|value|fine|reward|price|revenue))\b", re.I
        ),
        re.compile(
            rf"[$€£¥]\s?\d|\b\d[\d,.]*\s*(?:million|billion|thousand|dollars?|usd|eur|euros?|yuan|cny|btc|eth|usdt|bitcoin)\b|\b{NUM_WORD}\s+(?:million|billion)\b",
            re.I,
        ),
    ),
    (
        "count",
        re.compile(r"^\s*(?:roughly\s+|about\s+|approximately\s+)?how\s+many\b", re.I),
        re.compile(rf"\b\d|\b{NUM_WORD}\b", re.I),
    ),
    (
        "duration",
        re.compile(r"^\s*(?:for\s+)?how\s+long\b", re.I),
        re.compile(rf"\b(?:\d[\d,.]*|{NUM_WORD}|a|an)[\s-]+(?:years?|months?|weeks?|days?|hours?|decades?)\b", re.I),
    ),
    ("age", re.compile(r"^\s*how\s+old\b", re.I), re.compile(r"\b\d{1,3}\b|\baged?\b|\byears?\s+old\b", re.I)),
    (
        "date",
        re.compile(
            r"^\s*(?:when\b|since\s+when\b|(?:on|in)\s+(?:what|which)\s+(?:date|day|year|month)\b|(?:what|which)\s+(?:date|day|year|month)\b)",
            re.I,
        ),
        re.compile(
            rf"\b(?:1[89]|20)\d\d\b|\b{MONTH_RE}\s+\d{{1,2}}\b|\b\d{{1,2}}\s+{MONTH_RE}|\b(?:today|yesterday|{MONTH_NAME})\b",
            re.I,
        ),
    ),
]


def answer_kind(q: str) -> tuple[str, re.Pattern] | None:
    """('amount', how a sentence giving one looks) for "how much …?"; None when the question does not say."""
    for name, ask, looks in ANSWER_KINDS:
        if ask.search(q):
            return name, looks
    return None


@dataclass(frozen=True)
class AnswerParams:
    candidates: int = 10  # chunks whose sentences are scored
    w_cos: float = 0.6
    w_lex: float = 0.5
    w_rank: float = 0.15
    quote_ratio: float = 0.8  # extra quotes must score at least this share of the best
    list_ratio: float = 0.7
    abstain_below: float = 0.45  # replaced by calibration.json when present
    # Below `sure_above`, one of the `focus_sentences` best sentences must itself (with its heading)
    # carry at least `focus_min` of what the question asks beyond its names (idf-weighted), or give
    # the kind of answer asked for (an amount for "how much"): a passage whose neighbours happen to
    # share the question's words, around a sentence that only names the same people and places,
    # answers nothing.
    focus_min: float = 0.15
    focus_sentences: int = 5
    sure_above: float = 1.2
    min_words: int = 6  # shorter sentences are extended with the next one
    support_window_candidates: int = 30
    lead_doc_extra: int = 4
    w_date: float = 0.1  # bonus for documents dated when the question says ("the March 2026 action")
    dup_cosine: float = 0.8
    dup_cosine_named: float = 0.55
    dup_score_ratio: float = 0.85
    w_head: float = 0.15  # bonus for naming the kind of thing asked for ("which banks" -> "... Bank")
    w_kind: float = 0.15  # bonus for giving the kind of answer asked for ("how much" -> "$81 million")
    bridge_candidates: int = 12  # sentences per half of a "both X and Y" question searched for a shared name


def load_calibration(path: Path = CALIBRATION_FILE) -> dict:
    """The calibration at `path` (the shipped one by default); {} when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def is_list_question(q: str) -> bool:
    return bool(LIST_Q.search(q))


def name_terms(q: str) -> set[str]:
    """Stemmed terms of capitalised words and numbers after the first word: what the question is about."""
    out = set()
    for i, tok in enumerate(re.findall(r"[^\W_][\w'’./-]*", q)):
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
    for n in (2, 3, 4):
        for i in range(len(toks) - n + 1):
            run = toks[i : i + n]
            if not all(t.isalpha() for t in run) or run[0] in STOPWORDS or run[-1] in STOPWORDS:
                continue
            out.setdefault("".join(t[0] for t in run), set()).update(stem(t) for t in run if t not in STOPWORDS)
    return out


def expand_acronyms(terms: AbstractSet[str], groups: dict[str, set[str]]) -> AbstractSet[str]:
    """A passage that uses an initialism also covers the words it stands for."""
    for a, ts in groups.items():
        if a in terms:
            terms = terms | ts
    return terms


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


def question_dates(q: str) -> tuple[set[str], set[int]]:
    """Years and months a question mentions ("the March 2026 action" -> {"2026"}, {3})."""
    years = set(re.findall(r"\b(?:19|20)\d\d\b", q))
    months = {i + 1 for i, m in enumerate(MONTHS) if re.search(rf"\b{m}\b", q, re.I)} if years else set()
    return years, months


def date_words(date: str | None) -> str:
    """A document date as words a question may use: '2025-11-04' -> '2025 november 4'."""
    m = re.match(r"(\d{4})-(\d{2})(?:-(\d{2}))?", date or "")
    if not m:
        return ""
    return " ".join(
        [m.group(1), MONTHS[int(m.group(2)) - 1] if 1 <= int(m.group(2)) <= 12 else "", str(int(m.group(3) or 0) or "")]
    )


def head_terms(q: str) -> set[str]:
    """The kind of thing asked for: 'which banks were…' -> {'bank'}."""
    m = HEAD_NOUN.search(q)
    if not m:
        return set()
    return {stem(w) for w in words(m.group(1)) if len(w) > 2}


@lru_cache(maxsize=1 << 16)
def passage_terms(text: str) -> frozenset[str]:
    """term_set of a passage, memoized: the same sentences and windows are scored question after question."""
    return frozenset(term_set(text))


def question_parts(q: str) -> tuple[str, str] | None:
    """The two halves of a "both X and Y" question, each with the question's ask ("Which mixer appears")."""
    m = BOTH_Q.match(q)
    if not m or len(words(m["a"])) < 3 or len(words(m["b"])) < 3:
        return None
    ask = m["ask"].strip()
    return f"{ask} {m['a'].strip()}", f"{ask} {m['b'].strip()}"


def names_in(text: str, exclude: set[str]) -> set[str]:
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
    frag = enc(" ".join(ws)) if len(ws) <= 8 else enc(" ".join(ws[:4])) + "," + enc(" ".join(ws[-4:]))
    return url + ("&" if ":~:" in url else (":~:" if "#" in url else "#:~:")) + "text=" + frag


class Answerer:
    """Turns a question into an Answer using one Build; holds no per-question state."""

    def __init__(
        self,
        params: AnswerParams | None = None,
        search_params: SearchParams | None = None,
        max_quotes: int = 3,
        max_list_quotes: int = 8,
        calibration: dict | None = None,
    ):
        cal = load_calibration() if calibration is None else calibration
        if params is None:
            params = AnswerParams(
                **{k: v for k, v in cal.get("params", {}).items() if k in AnswerParams.__dataclass_fields__}
            )
        self.p = params
        self.calibration = cal  # loaded once: every ask uses the same threshold
        self.threshold = float(cal.get("abstain_below", params.abstain_below))
        self.sp = search_params or SearchParams(per_doc=3, diverse_top=max(10, params.candidates))
        self.max_quotes = max_quotes
        self.max_list_quotes = max_list_quotes

    def evidence(self, build: Build, question: str, qvec: np.ndarray, support: bool = True) -> dict:
        """Scored candidate sentences and the evidence strength (used by answer and calibration).
        support=False skips the strength (the sentences alone are wanted)."""
        hits = search(build, question, qvec, self.sp, k=self.p.candidates + 12)
        qterms = content_terms(question)
        heads = head_terms(question)
        years, months = question_dates(question)
        kind = answer_kind(question)
        if not hits:
            return {"sentences": [], "strength": 0.0, "hits": hits}
        top = hits[: self.p.candidates]
        # the best-matching document is read more fully than the others (diversity caps it above)
        lead = hits[0].doc_id
        top += [h for h in hits[self.p.candidates :] if h.doc_id == lead][: self.p.lead_doc_extra]
        n = max(build.n_chunks, 1)
        df = build.doc_freq(qterms)
        idf = {t: math.log((n + 1) / (df[t] + 0.5)) for t in qterms}
        for t in heads & set(idf):
            idf[t] *= 1.5
        total_idf = sum(idf.values()) or 1.0
        acr = {a: ts for a, ts in acronym_groups(question).items() if a not in idf}
        acr = {a: ts for a, ts in acr.items() if build.doc_freq([a])[a] > 0}
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
            score = self.p.w_cos * float(c) + self.p.w_lex * lex + self.p.w_rank * prior[sid]
            if heads and heads & passage_terms(text):
                score += self.p.w_head
            has_kind = kind is not None and bool(kind[1].search(text))
            if has_kind:
                score += self.p.w_kind
            if years and self._date_matches(build.documents[r["doc_id"]]["date"], years, months):
                score += self.p.w_date
            scored.append(
                {
                    "id": sid,
                    "doc_id": r["doc_id"],
                    "start": r["start"],
                    "end": r["end"],
                    "ord": r["ord"],
                    "cos": float(c),
                    "lex": lex,
                    "prior": prior[sid],
                    "score": score,
                    "heading": heading_of[sid],
                    "kind": has_kind,
                }
            )
        scored.sort(key=lambda s: -s["score"])
        names = {t for t in name_terms(question) if t in idf}  # what the question is about; the rest is what it asks
        strength, cov = (
            self._support(build, names, idf, scored[: self.p.support_window_candidates], acr) if support else (0.0, 0.0)
        )
        # a question asking for a kind of answer (an amount, a date) needs a sentence giving one;
        # such a sentence also counts as stating what is asked, whatever its words
        kind_found = kind is None or any(s["kind"] for s in scored[: self.p.focus_sentences])
        if not support:
            focus = 0.0
        elif kind is not None and kind_found:
            focus = 1.0
        else:
            focus = self._focus(build, names, idf, scored[: self.p.focus_sentences], acr)
        return {
            "sentences": scored,
            "strength": strength if qterms else 0.0,
            "coverage": cov,
            "focus": focus,
            "kind_found": kind_found,
            "hits": hits,
            "qterms": qterms,
        }

    def _focus(self, build: Build, names: set[str], idf: dict, scored: list[dict], acr: dict) -> float:
        """The largest share (idf-weighted) of the question's non-name terms that one sentence, with its
        heading, contains; 1.0 when the question has no such terms."""
        rest = set(idf) - names
        total = sum(idf[t] for t in rest)
        if not total:
            return 1.0
        best = 0.0
        for s in scored:
            terms = expand_acronyms(
                passage_terms(build.doc_text(s["doc_id"])[s["start"] : s["end"]] + " " + s["heading"]), acr
            )
            best = max(best, sum(idf[t] for t in rest if t in terms) / total)
        return best

    def abstains(self, ev: dict, threshold: float | None = None) -> bool:
        """Whether the evidence is too weak to quote as an answer."""
        if threshold is None:
            threshold = self.threshold
        if not ev["sentences"] or ev["strength"] < threshold or not ev.get("kind_found", True):
            return True
        return ev["strength"] < self.p.sure_above and ev.get("focus", 1.0) < self.p.focus_min

    def _support(self, build: Build, names: set[str], idf: dict, scored: list[dict], acr: dict) -> tuple[float, float]:
        """How well the best passage supports an answer: similarity plus the weaker of two coverages.

        Question terms are split into names (capitalised words, numbers: what the question is about)
        and the rest (what it asks about them). A window (the sentence, its neighbours and heading;
        names may also match the document's title and date) must cover both: a passage about the
        right bank that never mentions the code asked for, or one giving some other person's prison
        sentence, supports no answer.
        """
        rest = set(idf) - names
        tn = sum(idf[t] for t in names)
        tr = sum(idf[t] for t in rest)
        best, best_cov = 0.0, 0.0
        for s in scored:
            text = build.doc_text(s["doc_id"])
            meta = build.documents[s["doc_id"]]
            nb = build.neighbours(s["doc_id"], s["ord"], SUPPORT_RADIUS)
            window = " ".join(text[a:b] for a, b in nb) + " " + s["heading"]
            wt = expand_acronyms(passage_terms(window), acr)
            wt_names = wt | passage_terms((meta["title"] or "") + " " + date_words(meta["date"]))
            cn = sum(idf[t] for t in names if t in wt_names) / tn if tn else 1.0
            cr = sum(idf[t] for t in rest if t in wt) / tr if tr else 1.0
            sup = s["cos"] + min(cn, cr)
            if sup > best:
                best, best_cov = sup, min(cn, cr)
        return best, best_cov

    def _quote(self, build: Build, s: dict, closest: bool = False) -> Quote:
        meta = build.documents[s["doc_id"]]
        text_all = build.doc_text(s["doc_id"])
        start, end = s["start"], s["end"]
        if len(text_all[start:end].split()) < self.p.min_words:
            nxt = build.sentence_at(s["doc_id"], s["ord"] + 1)
            if nxt is not None and "\n\n" not in text_all[end : nxt[0]]:
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
            url=text_fragment_link(meta["url"], text, meta["kind"], page),
            date=meta["date"],
            score=s["score"],
            start=start,
            end=end,
            heading=s["heading"],
            closest=closest,
        )

    def _bridge(self, build: Build, question: str, embed) -> list[dict]:
        """For "both X and Y" questions: two sentences, one for each half, that name the same thing.

        Each half is searched on its own; its sentences come from the documents of its three best
        sentences. A shared name must be specific (its rarest word in few chunks: not "OFAC" or
        "U.S." in a corpus about sanctions) and, when the question asks for a kind of thing ("which
        mixer"), sentences naming that kind come first. Returns [] when nothing qualifies; the
        question is then answered as usual.
        """
        parts = question_parts(question)
        if parts is None or embed is None:
            return []
        exclude = term_set(question)
        heads = head_terms(question)
        common = max(3, int(0.05 * build.n_chunks))

        def specific(name: str) -> bool:
            df = build.doc_freq(list(term_set(name)))
            return bool(df) and min(df.values()) <= common

        sides = []  # per half: (sentence, its specific names, whether it names the kind asked for)
        for part, vec in zip(parts, embed(list(parts))):
            scored = self.evidence(build, part, vec, support=False)["sentences"]
            docs = {s["doc_id"] for s in scored[:3]}
            side = []
            for s in scored[: self.p.bridge_candidates]:
                if s["doc_id"] in docs:
                    text = build.doc_text(s["doc_id"])[s["start"] : s["end"]]
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
                if a["id"] == b["id"]:
                    continue
                for name in names_a & names_b:
                    key = (not (kind_a and kind_b), ra + rb, name)
                    if best is None or key < best[0]:
                        best = (key, a, b)
        return [] if best is None else [best[1], best[2]]

    def answer(self, build: Build, question: str, qvec: np.ndarray, embed=None) -> Answer:
        """`embed` (questions -> vectors) lets a two-part question be searched half by half."""
        ev = self.evidence(build, question, qvec)
        scored = ev["sentences"]
        if self.abstains(ev):
            closest = self._pick(scored, 3, 0.0, spread=True)
            quotes = [self._quote(build, s, closest=True) for s in closest]
            return Answer(question, True, quotes, more=[], build_id=build.build_id, built_at=build.built_at)
        listy = is_list_question(question)
        limit = self.max_list_quotes if listy else self.max_quotes
        ratio = self.p.list_ratio if listy else self.p.quote_ratio
        chosen = self._prefer_originals(build, scored, self._pick(scored, limit, scored[0]["score"] * ratio))
        bridge = self._bridge(build, question, embed)
        if bridge:
            ids = {s["id"] for s in bridge}
            chosen = (bridge + [s for s in chosen if s["id"] not in ids])[: self.max_quotes]
        more = [s for s in self._pick(scored, limit + 6, 0.0) if s not in chosen][:6]
        return Answer(
            question,
            False,
            [self._quote(build, s) for s in chosen],
            more=[self._quote(build, s) for s in more],
            build_id=build.build_id,
            built_at=build.built_at,
        )

    @staticmethod
    def _date_matches(date: str | None, years: set[str], months: set[int]) -> bool:
        """The document is dated in a year (and month, if given) that the question names."""
        if not date or date[:4] not in years:
            return False
        return not months or (len(date) >= 7 and date[5:7].isdigit() and int(date[5:7]) in months)

    def _prefer_originals(self, build: Build, scored: list[dict], chosen: list[dict]) -> list[dict]:
        """When several documents say the same thing, quote the earliest-dated one (undated last).

        News coverage and later releases repeat an original announcement; the original is the
        source a reader should check. Only near-repeats (sentence vectors at cosine >= dup_cosine)
        that score close to the chosen quote are swapped in.
        """
        if not chosen:
            return chosen
        pool = [s for s in scored[:40] if s["score"] >= chosen[-1]["score"] * self.p.dup_score_ratio]
        if len(pool) < 2:
            return chosen
        vecs = build.sentence_vectors([s["id"] for s in pool])
        index = {s["id"]: i for i, s in enumerate(pool)}
        date = lambda s: build.documents[s["doc_id"]]["date"] or "9999"
        terms = {s["id"]: passage_terms(build.doc_text(s["doc_id"])[s["start"] : s["end"]]) for s in pool}
        df = build.doc_freq(sorted(set().union(*terms.values())))
        rare_max = max(3, 0.05 * build.n_chunks)
        rare = {sid: {t for t in ts if 0 < df.get(t, 0) <= rare_max and len(t) > 2} for sid, ts in terms.items()}

        def repeats(s, c, sim):
            """Same statement: close in meaning and naming mostly the same rare things."""
            rc, rs = rare[c["id"]], rare[s["id"]]
            shared = len(rc & rs) / min(len(rc), len(rs)) if rc and rs else 0.0
            return sim >= self.p.dup_cosine or (sim >= self.p.dup_cosine_named and shared >= 0.5)

        out, used = [], set()
        for c in chosen:
            best = c
            if c["id"] in index:
                sims = vecs @ vecs[index[c["id"]]]
                for s, sim in zip(pool, sims):
                    if (
                        s["doc_id"] != c["doc_id"]
                        and repeats(s, c, sim)
                        and s["score"] >= c["score"] * self.p.dup_score_ratio
                        and date(s) < date(best)
                    ):
                        best = s
            if best["id"] in used:
                best = c
            if best["id"] not in used:
                out.append(best)
                used.add(best["id"])
        return out

    @staticmethod
    def _pick(scored: list[dict], limit: int, floor: float, spread: bool = False) -> list[dict]:
        """Best sentences above `floor`, skipping overlaps and near-repeats (and repeats of a document if spread)."""
        out: list[dict] = []
        docs = set()
        for s in scored:
            if len(out) >= limit or s["score"] < floor:
                break
            if any(o["doc_id"] == s["doc_id"] and abs(o["ord"] - s["ord"]) < 1 for o in out):
                continue
            if spread and s["doc_id"] in docs:
                continue
            out.append(s)
            docs.add(s["doc_id"])
        return out
