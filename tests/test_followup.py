"""Follow-ups: the earlier question's subject carried over when the new one points back or names nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.errors import QuestionError
from index.followup import name_phrases, understand

DATA = Path(__file__).resolve().parent / "data" / "followups.jsonl"
ROOT = DATA.parent.parent.parent


def items() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize(
    "earlier, question, searched, how",
    [
        ("Who is Matthew Knoot?", "which judge sentenced him?", "which judge sentenced matthew knoot?", "pronoun"),
        ("What is Kimsuky?", "since when is it active?", "since when is kimsuky active?", "pronoun"),
        ("Who is Kim Ung Sun?", "what's his actual job?", "what's kim ung sun's actual job?", "pronoun"),
        (
            "What are Jon Chang Hyok and Park Jin Hyok charged with?",
            "how long could they get?",
            "how long could jon chang hyok and park jin hyok get?",
            "pronoun",
        ),
        ("What did the FBI say about DMM Bitcoin?", "who stole from it?", "who stole from dmm bitcoin?", "pronoun"),
        ("Which judge sentenced Knoot?", "what about Prince?", "Which judge sentenced Prince?", "about"),
        ("What happened to Bybit?", "and how much was taken?", "how much was taken (bybit)?", "no-name"),
        ("What is the refund policy?", "who approves that?", "who approves refund policy?", "pronoun"),
    ],
)
def test_the_earlier_subject_is_carried_over(earlier, question, searched, how):
    f = understand(earlier, question)
    assert (f.question, f.previous, f.how) == (searched, earlier, how)


@pytest.mark.parametrize(
    "earlier, question",
    [
        ("Who is Rim Jong Hyok?", "In which state did Emanuel Ashtor run a laptop farm at his residence?"),
        ("What is ChipMixer?", "When did OFAC sanction the Lazarus Group?"),
        ("What is ChipMixer?", "What is ChipMixer?"),
        ("", "which judge sentenced him?"),
        (None, "which judge sentenced him?"),
    ],
)
def test_a_question_that_names_its_own_subject_stands_alone(earlier, question):
    f = understand(earlier, question)
    assert (f.question, f.previous) == (question, None)


def test_names_are_runs_of_capitalised_words_and_numbers():
    assert name_phrases("Did Park Jin Hyok work for Lazarus in 2018?") == ["Park Jin Hyok", "Lazarus", "2018"]


def test_the_exchanges_are_two_turn_questions_over_the_bundled_corpus():
    rows = items()
    assert len(rows) >= 20 and len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        path = next(p for p in (ROOT / "docs_corpus" / r["doc"], ROOT / "seeds" / r["doc"]) if p.exists())
        text = " ".join(path.read_text(encoding="utf-8").split())
        assert all(a in text for a in r["answers"]), r["id"]
        assert " ".join(r["evidence"].split()) in text, r["id"]
        assert r["previous"] and r["question"] and r["previous"] != r["question"]
        assert (understand(r["previous"], r["question"]).previous is not None) == r["carry"], r["id"]


def test_the_engine_searches_a_follow_up_with_its_context(engine):
    alone = engine.ask("which judge sentenced him?")
    assert alone.follow_up is None and alone.understood == ""  # alone, "him" is nobody in particular
    answer = engine.ask("which judge sentenced him?", previous="Who is Matthew Knoot?")
    assert answer.follow_up == "Who is Matthew Knoot?" and "knoot" in answer.understood
    assert "Eli Richardson" in answer.quotes[0].text
    # the context decides whose judge: with the other defendant's question the first quote is about him,
    # not Knoot's judge (whether either clears the threshold is the calibration's call; this engine has none)
    prince = engine.ask("which judge sentenced him?", previous="Who is Erick Ntekereze Prince?")
    assert "prince" in prince.understood
    assert "Prince" in prince.quotes[0].text and "Eli Richardson" not in prince.quotes[0].text
    out = answer.to_json()
    assert out["follow_up"] == "Who is Matthew Knoot?" and out["question"] == "which judge sentenced him?"
    standalone = engine.ask("Which judge sentenced Knoot?", previous="What is ChipMixer?")
    assert standalone.follow_up is None and standalone.to_json()["follow_up"] is None


def test_a_follow_up_without_words_of_its_own_is_searched_with_its_context(engine):
    with pytest.raises(QuestionError):
        engine.ask("what's its other name?")
    answer = engine.ask("what's its other name?", previous="What is Sobaeksu?")
    assert answer.follow_up == "What is Sobaeksu?" and "sobaeksu" in answer.understood


def test_context_turns_failures_into_answers_on_the_exchanges(engine):
    from bench.followups import run

    t = run(engine, DATA)["totals"]
    assert t["n"] == len(items())
    assert t["carry_decision_accuracy"] == 1.0 and t["faithfulness"] == 1.0
    assert t["context_hit_at_1"] >= t["alone_hit_at_1"] + 0.2
    # context may cost an exchange the follow-up alone happened to answer (two with the seventh reader:
    # "what kind of sports organization did his crimes victimize?", and "what unpatched bug did they use
    # to get in?", whose answer becomes the second quote), and it fixes five times that
    assert t["broken_by_context"] <= 2 and t["fixed_by_context"] >= 10
