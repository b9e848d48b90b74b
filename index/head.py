"""The answer head: a similarity between a question's vector and a sentence's, trained to rank the
sentence that answers above the sentences that are only about the same thing.

The bi-encoder's cosine says "about the same thing"; it was trained for that. The head is a learned
bilinear form over the same frozen vectors, score = scale · qᵀ W s, with W fitted by `qabot train`
(bench/head.py) on labelled questions, starting from the identity, so that before training it is the
cosine itself. It reads vectors the index already stores, so it costs one 384 × 384 product per
question at query time and nothing at build time. The reader's pick model takes its score, and its
lead over the other candidates, as two features (index/reader.py).

Held out, it raised the bundled corpus's first-sentence pick from 0.754 to 0.786 (docs/BENCHMARKS.md,
"The reader, fourth version"). Alone it learns the corpus it was trained on: on SQuAD articles it
never saw it ranks no better than cosine.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AnswerHead:
    matrix: np.ndarray  # W, dim × dim, float32
    scale: float  # the softmax temperature it was trained at: scores are on the pick model's scale

    @classmethod
    def identity(cls, dim: int, scale: float = 1.0) -> AnswerHead:
        """The untrained head: scale times the cosine."""
        return cls(np.eye(dim, dtype=np.float32), scale)

    def scores(self, qvec: np.ndarray, svecs: np.ndarray) -> np.ndarray:
        """One score per sentence vector (rows of `svecs`) for the question vector `qvec`. Vectors of
        another size than W's come from another encoder than the one it was fitted for: for them the
        head is the untrained one, the scaled cosine."""
        if not len(svecs):
            return np.zeros(0)
        q = np.asarray(qvec, dtype=np.float32)
        if q.shape[0] == self.matrix.shape[0]:
            q = q @ self.matrix
        return self.scale * (np.asarray(svecs, dtype=np.float32) @ q).astype(np.float64)

    def to_json(self) -> dict:
        """W as little-endian float16 in base64 (288 KiB for 384 dimensions), and the scale."""
        m = np.ascontiguousarray(self.matrix, dtype="<f2")
        packed = base64.b64encode(m.tobytes()).decode()
        return {"dim": int(m.shape[0]), "scale": round(self.scale, 6), "float16": packed}

    @classmethod
    def from_json(cls, d: dict) -> AnswerHead:
        dim = int(d["dim"])
        raw = np.frombuffer(base64.b64decode(d["float16"]), dtype="<f2")
        return cls(raw.reshape(dim, dim).astype(np.float32), float(d["scale"]))
