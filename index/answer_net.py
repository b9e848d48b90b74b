"""The answer net: a small network over a question's vector and a sentence's that says whether the
sentence answers the question, one of the decide model's inputs (index/reader.py).

The decide model's other inputs are counts and overlaps of words: what the best sentence covers and
what it lacks. They miss the question that is about the sentence's subject but asks for something the
sentence does not say ("what nationality is Yang Di" against "a foreign-based facilitator who went by
the name Yang Di"). The frozen encoder's vectors carry more of that than their cosine does; a network
trained on labelled pairs can read it out. Its inputs are the sentence-pair features of the classic
sentence-embedding classifiers, [q, s, q·s, |q − s|], through one hidden layer of ReLU units to one
logit: "this sentence holds the answer". `qabot train` fits it (bench/answer_net.py) on the same
labelled candidates as the pick model: answering sentences positive, the rest and every candidate of an
unanswerable question negative.

It reads vectors the index already stores, so at query time it costs one small product for the best
candidate and nothing at build time. Held out, it raised answerability AUROC from 0.705 to 0.713 on
SQuAD's hidden articles, from 0.811 to 0.816 on the bundled questions out of fold, and from 0.793 to
0.814 on the held-out split (docs/BENCHMARKS.md, "The reader, fifth version"). Vectors of another size
than it was fitted on come from another encoder: for them it says nothing (0), as the answer head
falls back to the cosine.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np


def pair_features(qvec: np.ndarray, svecs: np.ndarray) -> np.ndarray:
    """[q, s, q·s, |q − s|] per sentence vector (rows of `svecs`): the net's input rows."""
    s = np.asarray(svecs, dtype=np.float32)
    q = np.broadcast_to(np.asarray(qvec, dtype=np.float32), s.shape)
    return np.hstack([q, s, q * s, np.abs(q - s)])


@dataclass(frozen=True)
class AnswerNet:
    hidden: np.ndarray  # (4 · dim) × units, float32
    hidden_bias: np.ndarray  # units
    out: np.ndarray  # units
    out_bias: float

    @property
    def dim(self) -> int:
        return self.hidden.shape[0] // 4

    def scores(self, qvec: np.ndarray, svecs: np.ndarray) -> np.ndarray:
        """One logit per sentence vector: positive when the net reads it as answering the question."""
        s = np.asarray(svecs)
        if not len(s) or np.asarray(qvec).shape[0] != self.dim:
            return np.zeros(len(s))
        h = np.maximum(pair_features(qvec, s) @ self.hidden + self.hidden_bias, 0.0)
        return (h @ self.out + self.out_bias).astype(np.float64)

    def to_json(self) -> dict:
        """The weights as little-endian float16 in base64 (192 KiB for 384 dimensions and 64 units)."""
        pack = lambda a: base64.b64encode(np.ascontiguousarray(a, dtype="<f2").tobytes()).decode()
        return {
            "dim": self.dim,
            "units": int(self.hidden.shape[1]),
            "hidden": pack(self.hidden),
            "hidden_bias": pack(self.hidden_bias),
            "out": pack(self.out),
            "out_bias": round(float(self.out_bias), 6),
        }

    @classmethod
    def from_json(cls, d: dict) -> AnswerNet:
        dim, units = int(d["dim"]), int(d["units"])
        unpack = lambda k: np.frombuffer(base64.b64decode(d[k]), dtype="<f2").astype(np.float32)
        return cls(unpack("hidden").reshape(4 * dim, units), unpack("hidden_bias"), unpack("out"), float(d["out_bias"]))
