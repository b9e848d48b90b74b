"""The answer head: untrained it is the cosine, it survives its file format, and trained it learns a
question-sentence relation that cosine cannot see, on questions it never saw."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import train
from bench.head import cross_fitted, fit_head
from index.head import AnswerHead
from index.reader import CANDIDATE_FEATURES, HEAD_COLUMNS, READER_FILE

DIM = 8


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_the_untrained_head_is_scaled_cosine():
    rng = np.random.default_rng(0)
    q, s = unit(rng.normal(size=DIM)), unit(rng.normal(size=(5, DIM)))
    assert AnswerHead.identity(DIM, 3.0).scores(q, s) == pytest.approx(3.0 * (s @ q), rel=1e-5)


def test_vectors_of_another_encoder_get_the_untrained_head():
    rng = np.random.default_rng(6)
    head = AnswerHead(rng.normal(size=(DIM, DIM)).astype(np.float32), 2.0)
    q, s = unit(rng.normal(size=DIM * 2)), unit(rng.normal(size=(4, DIM * 2)))
    assert head.scores(q, s) == pytest.approx(2.0 * (s @ q), rel=1e-5)


def test_the_head_round_trips_through_json_as_float16():
    rng = np.random.default_rng(1)
    head = AnswerHead(rng.normal(size=(DIM, DIM)).astype(np.float32), 12.5)
    back = AnswerHead.from_json(json.loads(json.dumps(head.to_json())))
    assert back.scale == 12.5
    assert np.array_equal(back.matrix, head.matrix.astype(np.float16).astype(np.float32))


def planted(n: int, seed: int) -> list[train.Example]:
    """Questions whose answering sentence is a fixed permutation of the question's vector, beside
    distractors that are the question plus noise: cosine prefers a distractor, a learned W need not."""
    rng = np.random.default_rng(seed)
    perm = np.roll(np.arange(DIM), 1)
    out = []
    for i in range(n):
        q = unit(rng.normal(size=DIM))
        s = unit(q + 0.6 * rng.normal(size=(6, DIM)))
        j = int(rng.integers(6))
        s[j] = unit(q[perm] + 0.1 * rng.normal(size=DIM))
        y = np.zeros(6, dtype=bool)
        y[j] = True
        x = np.zeros((6, len(CANDIDATE_FEATURES)))
        tops = np.zeros((6, 1))
        out.append(train.Example(f"q{i}", "squad", f"squad:g{i % 10}", True, x, y, tops, q.astype(np.float32), s))
    return out


def picked(examples: list[train.Example], head: AnswerHead) -> float:
    return float(np.mean([e.y[int(np.argmax(head.scores(e.qv, e.sv)))] for e in examples]))


def test_the_trained_head_picks_what_cosine_misses_on_new_questions(monkeypatch):
    monkeypatch.setattr("bench.head.HEAD_STEPS", 1000)  # a whole permutation is far from the identity
    seen, unseen = planted(300, 2), planted(100, 3)
    head = fit_head(seen, np.ones(len(seen)))
    assert picked(unseen, AnswerHead.identity(DIM)) < 0.5
    assert picked(unseen, head) > 0.9


def test_cross_fitted_head_columns_come_from_heads_that_never_saw_the_question():
    examples = planted(40, 4)
    filled = cross_fitted(examples, np.ones(len(examples)))
    assert [e.id for e in filled] == [e.id for e in examples]
    for e in filled:
        scores = e.x[:, HEAD_COLUMNS[0]]
        assert scores.any()
        assert e.x[int(np.argmax(scores)), HEAD_COLUMNS[1]] > 0  # the best one leads the others
    whole = fit_head(examples, np.ones(len(examples)))
    assert not np.allclose(filled[0].x[:, HEAD_COLUMNS[0]], whole.scores(examples[0].qv, examples[0].sv))


def test_the_shipped_reader_carries_a_head_of_the_encoders_size():
    d = json.loads(READER_FILE.read_text())
    head = AnswerHead.from_json(d["head"])
    assert head.matrix.shape == (384, 384) and head.scale > 0
    assert not np.allclose(head.matrix, np.eye(384), atol=1e-3)  # trained, not the identity
