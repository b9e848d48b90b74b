"""The answer net: a small network over a question, a candidate sentence and that candidate's reader
features, which says whether the sentence answers the question or the question has no answer here.
Its score for the best candidate is one of the decide model's inputs (index/reader.py).

The decide model's other inputs are counts and overlaps of words: what the best sentence covers and
what it lacks, each weighed alone. They miss the question that is about the sentence's subject but
asks for something the sentence does not say ("what nationality is Yang Di" against "a foreign-based
facilitator who went by the name Yang Di"): whether an uncovered word matters depends on what is
asked. The net reads both together:

- **the pair**: the sentence-pair features of the classic sentence-embedding classifiers,
  [q, s, q·s, |q − s|], over the vectors the index already stores, beside the candidate's own reader
  features (`features`: its similarities, coverage, late interaction, answer form…, standardised),
  through one hidden layer of ReLU units to one logit: "this sentence holds the answer";
- **no answer**: a second small network over the question's vector alone gives the logit of "no
  candidate holds it", the prior that questions of this kind go unanswered.

`qabot train` fits both together, listwise (bench/answer_net.py): a softmax over each question's
candidates and "no answer", whose mass belongs on the answering candidates, or on "no answer" when
none answers. A candidate's score is its logit minus the no-answer logit: how much likelier it is to
answer than nothing is. Held out, with the listwise "no answer" and the candidate features, the
bundled questions' answerability AUROC went from 0.817 (the fifth reader's net: vectors alone,
pointwise) to 0.836 out of fold (docs/BENCHMARKS.md, "The reader, sixth version").

It costs one small product for the best candidate at query time and nothing at build time. Vectors
of another size than it was fitted on come from another encoder: for them it says nothing (0), as the
answer head falls back to the cosine.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np


def pair_features(qvec: np.ndarray, svecs: np.ndarray) -> np.ndarray:
    """[q, s, q·s, |q − s|] per sentence vector (rows of `svecs`): the vector part of the net's input."""
    s = np.asarray(svecs, dtype=np.float32)
    q = np.broadcast_to(np.asarray(qvec, dtype=np.float32), s.shape)
    return np.hstack([q, s, q * s, np.abs(q - s)])


@dataclass(frozen=True)
class AnswerNet:
    features: tuple[str, ...]  # the reader's candidate features it reads beside the vectors, in order
    feature_mean: np.ndarray  # their standardisation, from the training candidates
    feature_scale: np.ndarray
    hidden: np.ndarray  # (4 · dim + len(features)) × units
    hidden_bias: np.ndarray  # units
    out: np.ndarray  # units
    out_bias: float
    null_hidden: np.ndarray  # dim × units: the no-answer network over the question's vector
    null_hidden_bias: np.ndarray
    null_out: np.ndarray
    null_out_bias: float

    @property
    def dim(self) -> int:
        return self.null_hidden.shape[0]

    def no_answer(self, qvec: np.ndarray) -> float:
        """The logit of "none of the candidates answers": what each candidate's logit is measured against."""
        h = np.maximum(np.asarray(qvec, dtype=np.float32) @ self.null_hidden + self.null_hidden_bias, 0.0)
        return float(h @ self.null_out + self.null_out_bias)

    def scores(self, qvec: np.ndarray, svecs: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """One score per sentence (rows of `svecs`, with their `features` as rows of `feats`): its logit
        of answering the question less the no-answer logit; positive when answering is the likelier."""
        s = np.asarray(svecs)
        if not len(s) or np.asarray(qvec).shape[0] != self.dim:
            return np.zeros(len(s))
        x = (np.asarray(feats, dtype=np.float32) - self.feature_mean) / self.feature_scale
        h = np.maximum(np.hstack([pair_features(qvec, s), x]) @ self.hidden + self.hidden_bias, 0.0)
        return (h @ self.out + self.out_bias - self.no_answer(qvec)).astype(np.float64)

    def to_json(self) -> dict:
        """The weights as little-endian float16 in base64 (about 250 KiB for 384 dimensions and 64 units);
        the standardisation as rounded numbers."""
        pack = lambda a: base64.b64encode(np.ascontiguousarray(a, dtype="<f2").tobytes()).decode()
        return {
            "dim": self.dim,
            "units": int(self.hidden.shape[1]),
            "features": list(self.features),
            "feature_mean": np.round(self.feature_mean.astype(np.float64), 6).tolist(),
            "feature_scale": np.round(self.feature_scale.astype(np.float64), 6).tolist(),
            "hidden": pack(self.hidden),
            "hidden_bias": pack(self.hidden_bias),
            "out": pack(self.out),
            "out_bias": round(float(self.out_bias), 6),
            "null_hidden": pack(self.null_hidden),
            "null_hidden_bias": pack(self.null_hidden_bias),
            "null_out": pack(self.null_out),
            "null_out_bias": round(float(self.null_out_bias), 6),
        }

    @classmethod
    def from_json(cls, d: dict) -> AnswerNet:
        dim, units, names = int(d["dim"]), int(d["units"]), tuple(d["features"])
        unpack = lambda k: np.frombuffer(base64.b64decode(d[k]), dtype="<f2").astype(np.float32)
        floats = lambda k: np.asarray(d[k], dtype=np.float32)
        return cls(
            names,
            floats("feature_mean"),
            floats("feature_scale"),
            unpack("hidden").reshape(4 * dim + len(names), units),
            unpack("hidden_bias"),
            unpack("out"),
            float(d["out_bias"]),
            unpack("null_hidden").reshape(dim, units),
            unpack("null_hidden_bias"),
            unpack("null_out"),
            float(d["null_out_bias"]),
        )
