"""The project's own validation questions (tests/data/validation.jsonl, written from the bundled corpus
independently of the shared dev split): the file is sound, and the bot stays faithful and rarely
abstains wrongly on it."""

from __future__ import annotations

import json

from bench.evaluate import calibrate, evaluate, norm

from conftest import ROOT

VALIDATION = ROOT / "tests" / "data" / "validation.jsonl"


def test_every_gold_answer_is_verbatim_in_its_document():
    rows = [json.loads(line) for line in VALIDATION.read_text().splitlines() if line.strip()]
    assert len(rows) == 40 and len({r["id"] for r in rows}) == 40
    by_name = {p.name: p for d in ("docs_corpus", "seeds") for p in (ROOT / d).rglob("*") if p.is_file()}
    for r in rows:
        if r["type"] == "unanswerable":
            assert r["answers"] == [] and r["doc"] is None
            continue
        docs = r["doc"] if isinstance(r["doc"], list) else [r["doc"]]
        text = " ".join(norm(by_name[d].read_text(encoding="utf-8-sig", errors="replace")) for d in docs)
        if r["type"] != "yes-no":
            for ans in r["answers"]:
                assert norm(ans) in text, (r["id"], ans)


def test_eval_on_the_validation_set(engine):
    tot, results = evaluate(engine, str(VALIDATION))
    assert tot["n"] == 40 and len(results) == 40
    assert tot["faithfulness"] == 1.0
    # the reader trained on these questions (with many others): a guard against a broken reader, not a
    # held-out figure (those are in docs/BENCHMARKS.md); the rules alone abstained on 4 of these 12
    assert tot["abstain_accuracy"] >= 0.5
    assert tot["false_abstain_rate"] <= 0.25
    assert tot["hit_at_3"] >= 0.6


def test_calibrate_pools_several_sets_without_writing(engine):
    from index.decide import CALIBRATION_FILE

    before = CALIBRATION_FILE.read_text()
    cal = calibrate(engine, [str(VALIDATION), str(VALIDATION)], write=False)
    assert CALIBRATION_FILE.read_text() == before
    assert cal["n"] == 80 and cal["calibrated_on"] == ["validation.jsonl", "validation.jsonl"]
    assert cal["false_abstain_rate"] <= 0.10
    assert 0.0 < cal["answer_above"] < 1.0  # the reader's confidence threshold for this index


def test_calibrate_writes_into_the_index_folder_and_the_engine_uses_it(engine, corpus_settings, tmp_path):
    """The installed package is never written; the index folder's own fit wins over the shipped one."""
    import shutil

    from index.decide import CALIBRATION_FILE
    from index.engine import Engine

    idx = tmp_path / "idx"
    shutil.copytree(corpus_settings.index_path, idx, ignore=shutil.ignore_patterns("lock", "activity.*"))
    own = Engine(corpus_settings.with_(index_dir=str(idx)), encoder=engine.encoder)
    shipped = CALIBRATION_FILE.read_text()
    assert own.calibration_path == CALIBRATION_FILE

    cal = calibrate(own, [str(VALIDATION)])

    assert CALIBRATION_FILE.read_text() == shipped
    assert cal["written_to"] == str(idx / "calibration.json")
    assert json.loads((idx / "calibration.json").read_text())["answer_above"] == cal["answer_above"]
    again = Engine(corpus_settings.with_(index_dir=str(idx)), encoder=engine.encoder)
    assert again.calibration_path == idx / "calibration.json"
    assert again.answerer.answer_above == cal["answer_above"] != engine.answerer.answer_above
