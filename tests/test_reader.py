"""The trained reader: its shipped weights are checked when loaded, its models behave as models, its
training recipe holds groups out, and it answers and abstains through the real answer path."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bench import train
from index.errors import ModelError
from index.reader import (
    CANDIDATE_FEATURES,
    HEAD_COLUMNS,
    QUESTION_FEATURES,
    READER_FILE,
    READER_SHA256,
    LogisticModel,
    load_reader,
    margins,
)


def test_the_shipped_reader_matches_its_checksum_and_features():
    reader = load_reader(READER_FILE)
    assert reader.pick.names == CANDIDATE_FEATURES
    assert reader.decide.names == QUESTION_FEATURES
    assert 0.0 < reader.threshold < 1.0
    assert READER_FILE.stat().st_size < 50 * 1024 * 1024
    manifest = json.loads(READER_FILE.with_name("reader-manifest.json").read_text())
    assert manifest["reader_sha256"] == READER_SHA256


def test_a_changed_reader_file_is_refused(tmp_path):
    copy = tmp_path / "reader.json"
    shutil.copy(READER_FILE, copy)
    data = json.loads(copy.read_text())
    data["threshold"] = 0.0  # a reader that always answers
    copy.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="sha256"):
        load_reader(copy, expect_sha256=READER_SHA256)


def test_softmax_chooses_among_rows_and_sigmoid_judges_each():
    m = LogisticModel(("a",), np.zeros(1), np.ones(1), np.array([2.0]), 0.0, softmax=True)
    p = m.probability(np.array([[0.0], [1.0], [3.0]]))
    assert p.sum() == pytest.approx(1.0) and p.argmax() == 2
    s = LogisticModel(("a",), np.zeros(1), np.ones(1), np.array([2.0]), -2.0)
    q = s.probability(np.array([[0.0], [1.0], [3.0]]))
    assert q[1] == pytest.approx(0.5) and q[0] < 0.5 < q[2]


def test_margins_lead_for_the_best_and_lag_for_the_rest():
    assert margins(np.array([0.2, 0.5, 0.4])).tolist() == pytest.approx([-0.3, 0.1, -0.1])


def synthetic(n: int, family: str, seed: int) -> list[train.Example]:
    """Questions whose answering candidate has a high first feature; unanswerable ones have none."""
    rng = np.random.default_rng(seed)
    rng_tops = np.random.default_rng(seed + 1000)  # its own draws: the candidates stay as they are when decide grows
    out = []
    for i in range(n):
        x = np.zeros((6, len(CANDIDATE_FEATURES)))  # the head's columns stay 0: its vectors below are 0
        x[:, : HEAD_COLUMNS[0]] = rng.normal(size=(6, HEAD_COLUMNS[0]))
        answerable = i % 2 == 0
        y = np.zeros(6, dtype=bool)
        if answerable:
            j = int(rng.integers(6))
            x[j, 0] += 4.0
            y[j] = True
        tops = rng_tops.normal(size=(6, len(QUESTION_FEATURES) - 4))
        tops[:, 0] = 1.0 if answerable else -1.0  # what the best candidate lacks tells them apart
        qv, sv = np.ones(8, np.float32), np.zeros((6, 8), np.float16)  # the head has nothing to learn
        out.append(train.Example(f"{family}{i}", family, f"{family}:g{i % 10}", answerable, x, y, tops, qv, sv))
    return out


def test_training_learns_to_pick_and_to_abstain():
    examples = synthetic(120, "squad", 1) + synthetic(40, "bundled", 2)
    cv = train.cross_validate(examples, k=4)
    for fam in ("squad", "bundled"):
        held = cv["out_of_fold"][fam]
        assert held["pick"] > 0.8  # the planted feature is found on held-out groups
        assert cv["auroc"][fam]["auroc_answerable"] > 0.9
        assert held["accuracy"] > 0.8


def test_folds_never_split_a_group_and_each_question_is_held_out_once():
    groups = [f"a{i % 7}" for i in range(70)]
    folds = train.group_folds(groups, 3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(70))
    for f in folds:
        inside = {groups[i] for i in f}
        outside = {groups[i] for g in folds if g is not f for i in g}
        assert not inside & outside


def test_answers_carry_the_readers_confidence(engine):
    sure = engine.ask("Which banks were sanctioned for helping North Korea's weapons programs in May 2022?")
    assert sure.confidence is not None and 0.0 <= sure.confidence <= 1.0
    assert not sure.abstained
    assert "confidence" in sure.to_json()
    never = engine.ask("What was the score of the 1998 World Cup final?")
    assert never.abstained and never.confidence is not None
    assert never.confidence < sure.confidence


def test_the_rules_still_answer_without_a_reader(engine):
    from index.answer import Answerer

    plain = Answerer(reader=False)
    build = engine.build()
    q = "Which banks were sanctioned for helping North Korea's weapons programs in May 2022?"
    answer = plain.answer(build, q, engine.embed_question(q))
    assert answer.confidence is None and answer.quotes


def test_the_team_threshold_keeps_false_abstention_within_its_bound():
    examples = synthetic(60, "squad", 3) + synthetic(40, "bundled", 4)
    conf = np.random.default_rng(5).uniform(size=len(examples))
    t = train.fit_team_threshold(examples, conf)
    team = [(c, e.answerable) for c, e in zip(conf, examples) if e.family == "bundled"]
    false_abstention = np.mean([c < t for c, a in team if a])
    assert false_abstention <= train.MAX_FALSE_ABSTAIN
    # one step higher would abstain wrongly on more than the bound allows, or abstain on no more
    higher = min(c for c, _ in team if c > t)
    assert np.mean([c < higher for c, a in team if a]) > train.MAX_FALSE_ABSTAIN or np.mean(
        [c < higher for c, a in team if not a]
    ) <= np.mean([c < t for c, a in team if not a])
    assert train.fit_team_threshold(synthetic(10, "squad", 6), conf[:10]) is None


def test_a_corpus_calibration_sets_the_threshold_unless_fitted_for_another_reader(tmp_path, caplog):
    from index.answer import Answerer
    from index.config import Settings
    from index.engine import Engine

    cal = tmp_path / "calibration.json"
    cal.write_text(json.dumps({"answer_above": 0.3, "reader_sha256": READER_SHA256}))
    engine = Engine(Settings(root=tmp_path, sources=(), calibration="calibration.json", encoder="hash"))
    assert engine.calibration_path == cal.resolve()
    assert engine.answerer.answer_above == pytest.approx(0.3)
    cal.write_text(json.dumps({"answer_above": 0.3, "reader_sha256": "0" * 64}))
    stale = Answerer(calibration=json.loads(cal.read_text()))
    assert stale.answer_above == pytest.approx(load_reader(READER_FILE).threshold)
    assert "another reader" in caplog.text
    missing = Engine(Settings(root=tmp_path, sources=(), calibration="nowhere.json", encoder="hash"))
    assert missing.calibration_path.name == "calibration.json" and missing.calibration_path.parent.name == "index"


def test_a_corpus_calibration_is_not_applied_to_other_sources(tmp_path, caplog):
    from index.config import Settings
    from index.engine import Engine

    (tmp_path / "docs_corpus").mkdir()
    (tmp_path / "other").mkdir()
    cal = tmp_path / "calibration.json"
    cal.write_text(json.dumps({"answer_above": 0.3, "reader_sha256": READER_SHA256, "sources": ["docs_corpus"]}))
    mine = Engine(
        Settings(root=tmp_path, sources=("docs_corpus", "other"), calibration="calibration.json", encoder="hash")
    )
    assert mine.calibration_path == cal.resolve()
    elsewhere = Engine(Settings(root=tmp_path, sources=("other",), calibration="calibration.json", encoder="hash"))
    assert elsewhere.calibration_path.parent.name == "index"
    assert elsewhere.answerer.answer_above == pytest.approx(load_reader(READER_FILE).threshold)
    assert "fitted on other sources" in caplog.text
