"""The answer net: it survives its file format, says nothing about vectors of another encoder, and
trained it tells answering sentences from others on questions it never saw, where cosine cannot."""

from __future__ import annotations

import json

import numpy as np

from bench import train
from bench.answer_net import cross_fitted, fit_net
from index.answer_net import AnswerNet, pair_features
from index.reader import CANDIDATE_FEATURES, NET_COLUMN, QUESTION_FEATURES, READER_FILE, feature_columns

DIM = 8
READS = ("cos", "lex_sent")  # the candidate features the hand-made nets read


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def random_net(seed: int, units: int = 5) -> AnswerNet:
    rng = np.random.default_rng(seed)
    f = lambda *shape: rng.normal(size=shape).astype(np.float32)
    return AnswerNet(
        READS, f(len(READS)), 1 + np.abs(f(len(READS))), f(4 * DIM + len(READS), units), f(units), f(units), 0.25,
        f(DIM, units), f(units), f(units), -0.5,
    )  # fmt: skip


def test_the_net_reads_the_pair_and_the_candidates_features_against_no_answer():
    q, s = np.arange(DIM, dtype=np.float32), np.ones((2, DIM), np.float32)
    f = pair_features(q, s)
    assert f.shape == (2, 4 * DIM)
    assert np.array_equal(f[1], np.concatenate([q, s[1], q * s[1], np.abs(q - s[1])]))
    net, x = random_net(0), np.array([[0.3, 1.0], [0.9, 0.0]])
    inputs = np.hstack([f, (x - net.feature_mean) / net.feature_scale])
    null = np.maximum(q @ net.null_hidden + net.null_hidden_bias, 0) @ net.null_out + net.null_out_bias
    want = np.maximum(inputs @ net.hidden + net.hidden_bias, 0) @ net.out + net.out_bias - null
    assert np.isclose(net.no_answer(q), null, atol=1e-4)
    assert np.allclose(net.scores(q, s, x), want, atol=1e-4)


def test_the_net_round_trips_through_json_as_float16():
    net = random_net(1)
    back = AnswerNet.from_json(json.loads(json.dumps(net.to_json())))
    assert np.array_equal(back.hidden, net.hidden.astype(np.float16).astype(np.float32))
    assert np.array_equal(back.null_hidden, net.null_hidden.astype(np.float16).astype(np.float32))
    assert np.allclose(back.feature_scale, net.feature_scale, atol=1e-6)
    assert back.out_bias == 0.25 and back.null_out_bias == -0.5 and back.dim == DIM and back.features == READS


def test_vectors_of_another_encoder_get_no_opinion():
    rng = np.random.default_rng(2)
    x = np.zeros((3, len(READS)))
    scores = random_net(2).scores(unit(rng.normal(size=2 * DIM)), unit(rng.normal(size=(3, 2 * DIM))), x)
    assert scores.tolist() == [0.0, 0.0, 0.0]
    assert random_net(2).scores(np.ones(DIM), np.zeros((0, DIM)), x[:0]).shape == (0,)


def example(i: int, q: np.ndarray, s: np.ndarray, y: np.ndarray, x: np.ndarray | None = None) -> train.Example:
    n = len(y)
    x = np.zeros((n, len(CANDIDATE_FEATURES))) if x is None else x
    tops = np.zeros((n, len(QUESTION_FEATURES) - 4))
    return train.Example(f"q{i}", "squad", f"squad:g{i % 10}", bool(y.any()), x, y, tops, q.astype(np.float32), s)


def planted(n: int, seed: int) -> list[train.Example]:
    """Half the questions are answered by a sentence that is the question's vector with a fixed half of
    its signs flipped; every other sentence is the question plus noise, so cosine prefers the
    distractors. The other half have no answering sentence at all. Lists are 4 to 6 long."""
    rng = np.random.default_rng(seed)
    flip = np.where(np.arange(DIM) % 2 == 0, 1.0, -1.0)
    out = []
    for i in range(n):
        k = 4 + i % 3
        q = unit(rng.normal(size=DIM))
        s = unit(q + 0.6 * rng.normal(size=(k, DIM)))
        y = np.zeros(k, dtype=bool)
        if i % 2 == 0:
            j = int(rng.integers(k))
            s[j] = unit(q * flip + 0.1 * rng.normal(size=DIM))
            y[j] = True
        out.append(example(i, q, s, y))
    return out


def separation(examples: list[train.Example], score) -> float:
    """AUROC of a per-sentence score, answering sentences against all the others."""
    values = np.concatenate([score(e) for e in examples])
    labels = np.concatenate([e.y for e in examples])
    return train.auroc(values, labels)


def scores(net: AnswerNet, e: train.Example) -> np.ndarray:
    return net.scores(e.qv, e.sv, e.x[:, feature_columns(net.features)])


def test_the_trained_net_finds_answering_sentences_cosine_misses_on_new_questions(monkeypatch):
    monkeypatch.setattr("bench.answer_net.NET_EPOCHS", 100)  # a few thousand pairs: more passes
    seen, unseen = planted(400, 3), planted(100, 4)
    net = fit_net(seen, np.ones(len(seen)))
    assert separation(unseen, lambda e: e.sv @ e.qv) < 0.5
    assert separation(unseen, lambda e: scores(net, e)) > 0.9
    # and its best score says which questions have an answer among their candidates at all
    best = np.array([scores(net, e).max() for e in unseen])
    assert train.auroc(best, np.array([e.answerable for e in unseen])) > 0.9


def test_the_net_reads_the_candidates_features_and_what_the_question_asks(monkeypatch):
    """The answering sentence is marked only in one reader feature, and only questions of one kind (the
    first coordinate positive) have one: the vectors of the sentences say nothing."""
    monkeypatch.setattr("bench.answer_net.NET_EPOCHS", 60)
    col = CANDIDATE_FEATURES.index("lex_sent")

    def lists(n: int, seed: int) -> list[train.Example]:
        rng = np.random.default_rng(seed)
        out = []
        for i in range(n):
            q = unit(rng.normal(size=DIM))
            s = unit(rng.normal(size=(5, DIM)))
            y = np.zeros(5, dtype=bool)
            x = np.zeros((5, len(CANDIDATE_FEATURES)))
            x[:, col] = rng.uniform(0.0, 0.5, size=5)
            if q[0] > 0:
                j = int(rng.integers(5))
                y[j], x[j, col] = True, 1.0
            out.append(example(i, q, s, y, x))
        return out

    seen, unseen = lists(400, 7), lists(100, 8)
    net = fit_net(seen, np.ones(len(seen)))
    assert "lex_sent" in net.features and "head" not in net.features
    assert separation(unseen, lambda e: scores(net, e)) > 0.9
    asks = np.array([net.no_answer(e.qv) for e in unseen])
    assert train.auroc(-asks, np.array([e.answerable for e in unseen])) > 0.8


def test_the_same_data_gives_the_same_net():
    examples = planted(60, 5)
    a = fit_net(examples, np.ones(len(examples))).to_json()
    b = fit_net(examples, np.ones(len(examples))).to_json()
    assert a == b


def test_cross_fitted_net_scores_come_from_nets_that_never_saw_the_question():
    examples = planted(60, 6)
    filled = cross_fitted(examples, np.ones(len(examples)))
    assert [e.id for e in filled] == [e.id for e in examples]
    assert all(e.tops[:, NET_COLUMN].any() for e in filled)
    assert all(not e.tops[:, :NET_COLUMN].any() for e in filled)  # the other columns are left alone
    whole = fit_net(examples, np.ones(len(examples)))
    assert not np.allclose(filled[0].tops[:, NET_COLUMN], scores(whole, examples[0]))


def test_the_shipped_reader_carries_a_trained_net_of_the_encoders_size():
    net = AnswerNet.from_json(json.loads(READER_FILE.read_text())["net"])
    assert net.dim == 384 and net.hidden.shape == (4 * 384 + len(net.features), net.null_hidden.shape[1])
    assert set(net.features) <= set(CANDIDATE_FEATURES)
    assert np.abs(net.out).max() > 0 and np.abs(net.null_out).max() > 0
