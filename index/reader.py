"""Stage 3b of an answer: the trained reader, which picks the answering sentence and says how sure it is.

Why a model and not more rules: cosine and word overlap cannot tell "this sentence answers the
question" from "this sentence is about the same thing", and hand-set weights fitted on the questions
written beside the code did not hold on questions written by others. Two logistic regressions, trained
by `qabot train` (bench/train.py) on SQuAD 2.0 articles and labelled questions over the bundled corpus,
and measured on articles and questions they never saw, do better:

1. **pick**: for each of the best candidate sentences, the probability that it holds the answer, from
   its features: similarity of the sentence and of its window, the trained answer head's score
   (index/head.py), word-piece late interaction (index/wordpieces.py), idf coverage of the question's
   names and of the rest, the kind of answer, and each of those as a margin over the other candidates;
2. **decide**: from the best candidates' probabilities and what the best one lacks (the question's
   rare words it never uses, a negation or a superlative the question has and it does not, names the
   corpus never mentions) and the trained answer net's reading of it and of its features against "no
   answer" (index/answer_net.py), the probability that the quotes answer the question: `confidence`.

SQuAD 2.0's unanswerable questions are written to match a sentence's words while changing one thing
(an antonym, a negation, a swapped name); the second model's "what the best sentence lacks" features
raised held-out answerability AUROC from 0.63 (cosine, or the earlier evidence strength) to 0.72. Both
models are a few dozen numbers in `reader.json`, beside the head's 384 × 384 matrix (float16, 288 KiB)
and the answer net's (1536 + 30) × 64 and 384 × 64 (about 250 KiB), all checked against READER_SHA256
when loaded; the runtime needs only numpy.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from .answer_net import AnswerNet
from .errors import ModelError
from .head import AnswerHead
from .params import AnswerParams
from .read import Evidence, ScoredSentence, expand_acronyms, passage_terms, share
from .spans import answer_spans, names_count
from .store import Build
from .wordpieces import WordPieces, maxsim, piece_idf, shared_pieces

READER_FILE = Path(__file__).with_name("reader.json")
READER_SHA256 = "df6616f14878cb5702dbd634b276b0ff21759291d57d581609e46cf73fadc7ce"

NEGATION = re.compile(r"\b(?:not|never|no|none|nor|non|without|cannot)\b|n't", re.I)
SUPERLATIVE = re.compile(
    r"\b(?:least|most|first|last|largest|smallest|biggest|earliest|latest|highest|lowest|only|best|worst|fewest|"
    r"main|primary|oldest|newest)\b",
    re.I,
)
CAPITALISED = re.compile(r"\b[A-Z][\w'’-]*")

CANDIDATE_FEATURES = (
    "cos", "cos_margin", "win_cos", "win_margin", "prev_cos", "next_cos", "lex_sent", "lex_win", "lex_rest_sent",
    "lex_rest_win", "name_sent", "name_win", "score", "score_margin", "prior", "kind", "li_sent", "li_win",
    "li_sent_margin", "li_win_margin", "li_sent_min", "rank", "same_doc_as_top", "prev_lex", "next_lex", "novelty",
    "prev_lead", "answer_form", "form_next", "count_named", "head", "head_margin",
)  # fmt: skip
HEAD_COLUMNS = (CANDIDATE_FEATURES.index("head"), CANDIDATE_FEATURES.index("head_margin"))
QUESTION_FEATURES = (
    "p1", "p2", "p_margin", "p_top3", "top_cos", "top_win_cos", "top_li_sent", "top_li_win", "top_li_sent_min",
    "top_name_win", "top_lex_rest_win", "top_kind", "absent_words", "absent_words_sent", "absent_idf_share",
    "absent_idf_max", "absent_idf_max_sent", "absent_in_doc", "absent_nowhere", "absent_in_doc_idf_max",
    "negation_q", "negation_s", "negation_missing", "superlative_q", "superlative_missing", "q_terms", "q_caps",
    "names_absent", "asks_kind", "strength", "focus", "kind_found", "top_form", "year_missing",
    "attribute_missing", "net",
)  # fmt: skip
NET_COLUMN = QUESTION_FEATURES.index("net") - QUESTION_FEATURES.index("top_cos")  # its column in Features.top


@dataclass(frozen=True)
class LogisticModel:
    """A linear model over standardised features, z = w · (x - mean) / scale + b, read as
    p = sigmoid(z) (one yes/no per row), or with `softmax`, p = softmax(z) over the rows (one choice
    among them: which candidate answers)."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    softmax: bool = False

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.weights + self.bias
        if self.softmax:
            e = np.exp(z - z.max())
            return e / e.sum()
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def to_json(self) -> dict:
        return {
            "names": list(self.names),
            "mean": self.mean.round(6).tolist(),
            "scale": self.scale.round(6).tolist(),
            "weights": self.weights.round(6).tolist(),
            "bias": round(float(self.bias), 6),
            "softmax": self.softmax,
        }

    @classmethod
    def from_json(cls, d: dict, expect: tuple[str, ...]) -> LogisticModel:
        if tuple(d["names"]) != expect:
            raise ModelError("reader.json was trained on other features; rerun `qabot train`")
        arr = lambda k: np.asarray(d[k], dtype=np.float64)
        return cls(
            tuple(d["names"]), arr("mean"), arr("scale"), arr("weights"), float(d["bias"]), bool(d.get("softmax"))
        )


@dataclass(frozen=True)
class Judgement:
    """The reader's verdict: the sentences in its order (score = its probability) and its confidence."""

    evidence: Evidence  # the same evidence, sentences reordered by the pick model
    confidence: float  # the probability that the first quote answers the question


@dataclass(frozen=True)
class Reader:
    pick: LogisticModel
    decide: LogisticModel
    threshold: float  # answer when confidence is at least this (fitted by `qabot train`)
    candidates: int  # how many of the read sentences the pick model scores
    pieces: WordPieces
    head: AnswerHead  # the trained question-sentence similarity (index/head.py)
    net: AnswerNet  # the trained "does this sentence answer" network (index/answer_net.py)

    def judge(self, build: Build, ev: Evidence, qvec: np.ndarray, p: AnswerParams) -> Judgement:
        if not ev.sentences:
            return Judgement(ev, 0.0)
        feats = Features(build, ev, qvec, self.pieces, self.candidates, p)
        cand = feats.candidates(self.head)
        probs = self.pick.probability(cand)
        top = lambda t: set_net(feats.top(t)[None, :], self.net, feats.qvec, feats.svec[t : t + 1], cand[t : t + 1])[0]
        conf = float(self.decide.probability(decision_row(probs, top)[None, :])[0])
        return Judgement(reorder(ev, probs), conf)


def reorder(ev: Evidence, probs: np.ndarray) -> Evidence:
    """The scored sentences in the pick model's order, each scored by its probability; unscored ones after."""
    n = len(probs)
    order = np.argsort(-probs, kind="stable")
    head = [replace(ev.sentences[i], score=float(probs[i])) for i in order]
    floor = float(probs.min()) if n else 0.0
    tail = [replace(s, score=floor * (0.5 + 0.5 * s.score / (ev.sentences[0].score or 1.0))) for s in ev.sentences[n:]]
    return replace(ev, sentences=tuple(head + tail), judged=True)


def load_reader(path: Path = READER_FILE, expect_sha256: str | None = None) -> Reader:
    """The reader in `path`, refused unless its sha256 is the expected one (READER_SHA256 for the shipped file)."""
    raw = Path(path).read_bytes()
    want = READER_SHA256 if expect_sha256 is None and Path(path) == READER_FILE else expect_sha256
    got = hashlib.sha256(raw).hexdigest()
    if want is not None and got != want:
        raise ModelError(f"{path} has sha256 {got[:16]}…, expected {want[:16]}…; reinstall or rerun `qabot train`")
    return reader_from_json(json.loads(raw))


@lru_cache(maxsize=1)
def shipped_reader() -> Reader | None:
    """The reader shipped in the package, loaded once; None when the package has none yet."""
    if not READER_FILE.is_file():
        return None
    return load_reader(READER_FILE)


def reader_from_json(d: dict) -> Reader:
    net = AnswerNet.from_json(d["net"])
    if not set(net.features) <= set(CANDIDATE_FEATURES):
        raise ModelError("reader.json's answer net reads features this reader lacks; rerun `qabot train`")
    return Reader(
        pick=LogisticModel.from_json(d["pick"], CANDIDATE_FEATURES),
        decide=LogisticModel.from_json(d["decide"], QUESTION_FEATURES),
        threshold=float(d["threshold"]),
        candidates=int(d["candidates"]),
        pieces=shared_pieces(),
        head=AnswerHead.from_json(d["head"]),
        net=net,
    )


def set_head(x: np.ndarray, head: AnswerHead, qvec: np.ndarray, svecs: np.ndarray) -> np.ndarray:
    """`x` (candidate rows) with its head columns filled: the head's score and its lead over the others."""
    scores = head.scores(qvec, svecs)
    x = x.copy()
    x[:, HEAD_COLUMNS[0]] = scores
    x[:, HEAD_COLUMNS[1]] = margins(scores)
    return x


@lru_cache(maxsize=4)
def feature_columns(names: tuple[str, ...]) -> list[int]:
    """The columns of candidate rows (CANDIDATE_FEATURES) that hold `names`, in their order: what the
    answer net reads, looked up once per net instead of once per question."""
    return [CANDIDATE_FEATURES.index(n) for n in names]


def set_net(tops: np.ndarray, net: AnswerNet, qvec: np.ndarray, svecs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """`tops` (rows of Features.top, one per sentence of `svecs`, whose candidate rows are `x`) with the
    net's column filled."""
    tops = tops.copy()
    tops[:, NET_COLUMN] = net.scores(qvec, svecs, x[:, feature_columns(net.features)])
    return tops


class Features:
    """The features of one question's candidates, computed once and shared by both models."""

    def __init__(self, build: Build, ev: Evidence, qvec: np.ndarray, pieces: WordPieces, n: int, p: AnswerParams):
        self.build, self.ev, self.q = build, ev, ev.question
        self.cands: list[ScoredSentence] = list(ev.sentences[:n])
        assert ev.weights is not None  # read() weighs the terms whenever it found sentences
        self.tw = ev.weights
        self.rest = {t: w for t, w in self.tw.idf.items() if t not in self.tw.names}
        self.names_idf = {t: self.tw.idf[t] for t in self.tw.names}
        qv = qvec.astype(np.float32)
        rows = [build.sentence_window(s.doc_id, s.ord) for s in self.cands]
        self.texts = [s.text(build) for s in self.cands]
        self.prev = [w[0] for w in rows]
        self.next = [w[1] for w in rows]
        ids = sorted({r[0] for w in rows for r in w if r is not None})
        vec = dict(zip(ids, build.sentence_vectors(ids))) if ids else {}
        svec = build.sentence_vectors([s.id for s in self.cands])
        self.qvec, self.svec = qv, svec  # for the head (index/head.py), and kept by `qabot train`
        self.cos = np.array([s.cos for s in self.cands])
        self.prev_cos = np.array([float(vec[w[0][0]] @ qv) if w[0] else 0.0 for w in rows])
        self.next_cos = np.array([float(vec[w[1][0]] @ qv) if w[1] else 0.0 for w in rows])
        win = []
        for v, w in zip(svec, rows):
            t = v.astype(np.float32).copy()
            for r in w:
                if r is not None:
                    t += vec[r[0]]
            win.append(float(t @ qv) / (float(np.linalg.norm(t)) or 1.0))
        self.win_cos = np.array(win)
        text_of = lambda r: build.doc_text(r[1])[r[2] : r[3]] if r else ""
        self.prev_texts = [text_of(r) for r in self.prev]
        self.next_texts = [text_of(r) for r in self.next]
        self.windows = [" ".join(w) for w in zip(self.prev_texts, self.texts, self.next_texts)]
        # the form of answer asked for (an amount, a date, a name…): in the sentence, or only in the next
        # one, which the quote then takes in (index/present.py, `continues`)
        self.form = [float(bool(answer_spans(self.q, t))) for t in self.texts]
        self.form_next = [
            float(not f and bool(n) and bool(answer_spans(self.q, n))) for f, n in zip(self.form, self.next_texts)
        ]
        self._late_interaction(pieces)

    def _late_interaction(self, pieces: WordPieces) -> None:
        prev, nxt = self.prev_texts, self.next_texts
        n = len(self.texts)
        all_ids = pieces.pieces([self.q.text] + self.texts + prev + nxt)
        qids, sent = all_ids[0], all_ids[1 : n + 1]
        p_ids, n_ids = all_ids[n + 1 : 2 * n + 1], all_ids[2 * n + 1 :]
        df: dict[int, int] = {}
        for a in sent:
            for t in set(a.tolist()):
                df[t] = df.get(t, 0) + 1
        mask = pieces.content(qids)
        if mask.any():
            qids = qids[mask]
        qv, qw = pieces.vectors(qids), piece_idf(qids, df, n)
        ls, lw, lmin = [], [], []
        for s, a, b in zip(sent, p_ids, n_ids):
            sv = pieces.vectors(s)
            mean, low = maxsim(qv, qw, sv)
            ls.append(mean)
            lmin.append(low)
            lw.append(maxsim(qv, qw, pieces.vectors(np.concatenate([a, s, b])))[0])
        self.li_sent, self.li_win, self.li_min = np.array(ls), np.array(lw), np.array(lmin)

    def candidates(self, head: AnswerHead | None = None) -> np.ndarray:
        """One row of CANDIDATE_FEATURES per candidate; the head's columns stay 0 without a head
        (`qabot train` fills them with heads that never saw the question)."""
        b, tw = self.build, self.tw
        idf, rest, nidf = tw.idf, self.rest, self.names_idf
        score = np.array([s.score for s in self.cands])
        top_doc = self.cands[0].doc_id
        rows = []
        for i, s in enumerate(self.cands):
            st = expand_acronyms(passage_terms(self.texts[i] + " " + s.heading), tw.acronyms)
            wt = expand_acronyms(passage_terms(self.windows[i] + " " + s.heading), tw.acronyms)
            title = b.documents[s.doc_id]["title"] or ""
            wtt = wt | passage_terms(title)
            rows.append(
                [
                    self.cos[i],
                    0.0,
                    self.win_cos[i],
                    0.0,
                    self.prev_cos[i],
                    self.next_cos[i],
                    s.lex,
                    share(idf, wt, empty=0.0),
                    share(rest, st),
                    share(rest, wt),
                    share(nidf, st),
                    share(nidf, wtt),
                    score[i],
                    0.0,
                    s.prior,
                    float(s.kind),
                    self.li_sent[i],
                    self.li_win[i],
                    0.0,
                    0.0,
                    self.li_min[i],
                    math.log1p(i),
                    float(s.doc_id == top_doc),
                    share(idf, passage_terms(self.prev_texts[i]), empty=0.0),
                    share(idf, passage_terms(self.next_texts[i]), empty=0.0),
                    novelty(st, self.q.words),
                    max(self.prev_cos[i] - self.cos[i], 0.0),
                    self.form[i],
                    self.form_next[i],
                    float(names_count(self.q, self.texts[i])),
                    0.0,
                    0.0,
                ]
            )
        x = np.array(rows, dtype=np.float64)
        if head is not None:
            x = set_head(x, head, self.qvec, self.svec)
        col = CANDIDATE_FEATURES.index
        for name, src in (("cos_margin", "cos"), ("win_margin", "win_cos"), ("score_margin", "score"),
                          ("li_sent_margin", "li_sent"), ("li_win_margin", "li_win")):  # fmt: skip
            x[:, col(name)] = margins(x[:, col(src)])
        self.x = x
        return x

    def top(self, t: int) -> np.ndarray:
        """QUESTION_FEATURES after the first four, with candidate `t` as the best: what it lacks (the net's
        column 0)."""
        x, col = self.x, CANDIDATE_FEATURES.index
        s = self.cands[t]
        idf = self.tw.idf
        q_terms = list(dict.fromkeys(self.q.terms))
        meta = self.build.documents[s.doc_id]
        window = expand_acronyms(
            passage_terms(self.windows[t] + " " + s.heading + " " + (meta["title"] or "")), self.tw.acronyms
        )
        sentence = passage_terms(self.texts[t])
        doc = passage_terms(self.build.doc_text(s.doc_id))  # memoized: a few documents serve many questions
        absent = [w for w in q_terms if w not in window]
        absent_sent = [w for w in q_terms if w not in sentence]
        df = self.build.doc_freq(absent) if absent else {}
        tot = sum(idf.get(w, 0.0) for w in q_terms) or 1.0
        neg_q = bool(NEGATION.search(self.q.text))
        neg_s = bool(NEGATION.search(self.texts[t]))
        sup = [m.group(0).lower() for m in SUPERLATIVE.finditer(self.q.text)]
        words = self.q.text.split()
        names_absent = sum(1 for w in self.tw.names if df.get(w, 1) == 0) if absent else 0
        row = [
            x[t, col("cos")],
            x[t, col("win_cos")],
            x[t, col("li_sent")],
            x[t, col("li_win")],
            x[t, col("li_sent_min")],
            x[t, col("name_win")],
            x[t, col("lex_rest_win")],
            x[t, col("kind")],
            float(len(absent)),
            float(len(absent_sent)),
            sum(idf.get(w, 0.0) for w in absent) / tot,
            max((idf.get(w, 0.0) for w in absent), default=0.0),
            max((idf.get(w, 0.0) for w in absent_sent), default=0.0),
            float(sum(1 for w in absent if w in doc)),
            float(sum(1 for w in absent if df.get(w, 0) == 0)),
            max((idf.get(w, 0.0) for w in absent if w in doc), default=0.0),
            float(neg_q),
            float(neg_s),
            float(neg_q and not neg_s),
            float(bool(sup)),
            float(any(w not in self.texts[t].lower() for w in sup)),
            float(len(q_terms)),
            sum(1 for w in words[1:] if CAPITALISED.match(w)) / max(len(words) - 1, 1),
            float(names_absent),
            float(self.q.kind is not None),
            self.ev.strength,
            self.ev.focus,
            float(self.ev.kind_found),
            max(self.form[t], self.form_next[t]),
            float(any(y not in self.windows[t] and y not in (meta["date"] or "") for y in self.q.years)),
            share_absent(self.q.attribute, window),
            0.0,  # the net's score: the reader fills it (set_net), and `qabot train` with nets that never saw it
        ]
        return np.array(row, dtype=np.float64)


def decision_row(probs: np.ndarray, top: Callable[[int], np.ndarray]) -> np.ndarray:
    """The decide model's row: the pick probabilities' summary, then `top(t)` of the best candidate t."""
    order = np.argsort(-probs, kind="stable")
    t = int(order[0])
    p1 = float(probs[t])
    p2 = float(probs[order[1]]) if len(order) > 1 else 0.0
    return np.concatenate([[p1, p2, p1 - p2, float(probs[order[:3]].sum())], top(t)])


def share_absent(terms, present) -> float:
    """The share of `terms` that `present` lacks (0 when there are none)."""
    return sum(1 for t in terms if t not in present) / len(terms) if terms else 0.0


def novelty(terms, question_words) -> float:
    """The share of a sentence's terms that the question does not use: what it could tell."""
    return sum(1 for t in terms if t not in question_words) / len(terms) if terms else 0.0


def margins(v: np.ndarray) -> np.ndarray:
    """Each value minus the best of the others: positive only for the best, by how much it leads."""
    if len(v) < 2:
        return np.zeros_like(v)
    order = np.argsort(-v, kind="stable")
    best, second = v[order[0]], v[order[1]]
    out = v - best
    out[order[0]] = best - second
    return out
