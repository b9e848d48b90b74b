"""The answer net: it survives its file format, says nothing about vectors of another encoder, and
trained it tells answering sentences from others on questions it never saw, where cosine cannot."""

from __future__ import annotations

import json

import numpy as np

from bench import train
from bench.answer_net import cross_fitted, fit_net
from index.answer_net import AnswerNet, pair_features
from index.reader import CANDIDATE_FEATURES, NET_COLUMN, QUESTION_FEATURES, READER_FILE

DIM = 8


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def random_net(seed: int, units: int = 5) -> AnswerNet:
    rng = np.random.default_rng(seed)
    return AnswerNet(
        rng.normal(size=(4 * DIM, units)).astype(np.float32),
        rng.normal(size=units).astype(np.float32),
        rng.normal(size=units).astype(np.float32),
        0.25,
    )


def test_the_net_reads_question_and_sentence_as_pair_features():
    q, s = np.arange(DIM, dtype=np.float32), np.ones((2, DIM), np.float32)
    f = pair_features(q, s)
    assert f.shape == (2, 4 * DIM)
    assert np.array_equal(f[1], np.concatenate([q, s[1], q * s[1], np.abs(q - s[1])]))
    net = random_net(0)
    want = np.maximum(f @ net.hidden + net.hidden_bias, 0) @ net.out + net.out_bias
    assert np.allclose(net.scores(q, s), want, atol=1e-5)


def test_the_net_round_trips_through_json_as_float16():
    net = random_net(1)
    back = AnswerNet.from_json(json.loads(json.dumps(net.to_json())))
    assert np.array_equal(back.hidden, net.hidden.astype(np.float16).astype(np.float32))
    assert np.array_equal(back.out, net.out.astype(np.float16).astype(np.float32))
    assert back.out_bias == 0.25 and back.dim == DIM


def test_vectors_of_another_encoder_get_no_opinion():
    rng = np.random.default_rng(2)
    scores = random_net(2).scores(unit(rng.normal(size=2 * DIM)), unit(rng.normal(size=(3, 2 * DIM))))
    assert scores.tolist() == [0.0, 0.0, 0.0]
    assert random_net(2).scores(np.ones(DIM), np.zeros((0, DIM))).shape == (0,)


def planted(n: int, seed: int) -> list[train.Example]:
    """Half the questions are answered by a sentence that is the question's vector with a fixed half of
    its signs flipped; every other sentence is the question plus noise, so cosine prefers the
    distractors. The other half have no answering sentence at all."""
    rng = np.random.default_rng(seed)
    flip = np.where(np.arange(DIM) % 2 == 0, 1.0, -1.0)
    out = []
    for i in range(n):
        q = unit(rng.normal(size=DIM))
        s = unit(q + 0.6 * rng.normal(size=(6, DIM)))
        y = np.zeros(6, dtype=bool)
        if i % 2 == 0:
            j = int(rng.integers(6))
            s[j] = unit(q * flip + 0.1 * rng.normal(size=DIM))
            y[j] = True
        x = np.zeros((6, len(CANDIDATE_FEATURES)))
        tops = np.zeros((6, len(QUESTION_FEATURES) - 4))
        ex = train.Example(f"q{i}", "squad", f"squad:g{i % 10}", bool(y.any()), x, y, tops, q.astype(np.float32), s)
        out.append(ex)
    return out


def separation(examples: list[train.Example], score) -> float:
    """AUROC of a per-sentence score, answering sentences against all the others."""
    values = np.concatenate([score(e) for e in examples])
    labels = np.concatenate([e.y for e in examples])
    return train.auroc(values, labels)


def test_the_trained_net_finds_answering_sentences_cosine_misses_on_new_questions(monkeypatch):
    monkeypatch.setattr("bench.answer_net.NET_EPOCHS", 100)  # a few thousand pairs: more passes
    seen, unseen = planted(400, 3), planted(100, 4)
    net = fit_net(seen, np.ones(len(seen)))
    assert separation(unseen, lambda e: e.sv @ e.qv) < 0.5
    assert separation(unseen, lambda e: net.scores(e.qv, e.sv)) > 0.9


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
    assert not np.allclose(filled[0].tops[:, NET_COLUMN], whole.scores(examples[0].qv, examples[0].sv))


def test_the_shipped_reader_carries_a_trained_net_of_the_encoders_size():
    net = AnswerNet.from_json(json.loads(READER_FILE.read_text())["net"])
    assert net.dim == 384 and net.hidden.shape[1] > 0
    assert np.abs(net.out).max() > 0
