"""`qabot bench squad`: the scoring rules of the SQuAD 2.0 open benchmark, article folds that never
score a question with a threshold fitted on its own article, and the command end to end on a small
corpus in the benchmark's layout."""

from __future__ import annotations

import json

import pytest

from bench.squad import Result, article_folds, best_threshold, cross_validate, figures

from clikit import qabot


def res(article, answerable, hit1, confidence, abstained=False, hit3=None):
    return Result(
        id=f"{article}-{answerable}-{confidence}",
        article=article,
        answerable=answerable,
        abstained=abstained,
        hit1=hit1,
        hit3=hit1 if hit3 is None else hit3,
        confidence=confidence,
        took_ms=10.0,
    )


def test_figures_follow_the_benchmarks_rules():
    rs = [
        res("A", True, True, 0.9),
        res("A", True, False, 0.8),
        res("A", True, True, 0.1, abstained=True),
        res("B", False, False, 0.2, abstained=True),
        res("B", False, True, 0.7),
    ]

    f = figures(rs)

    assert f["n"] == 5 and f["answerable"] == 3 and f["unanswerable"] == 2
    assert f["hit_at_1"] == round(1 / 3, 4)  # an abstention is a miss even when its closest quote holds the answer
    assert f["unanswerable_abstained"] == 0.5
    assert f["accuracy"] == round((1 + 1) / 5, 4)
    assert f["false_abstention"] == round(1 / 3, 4)
    assert f["always_abstain"] == 0.4
    # With a threshold, abstaining is exactly "confidence below it".
    at = figures(rs, threshold=0.5)
    assert at["hit_at_1"] == round(1 / 3, 4) and at["unanswerable_abstained"] == 0.5
    assert figures(rs, threshold=0.0)["unanswerable_abstained"] == 0.0


def test_best_threshold_maximises_accuracy():
    rs = [
        res("A", True, True, 0.9),
        res("A", True, True, 0.8),
        res("A", False, False, 0.3),
        res("A", False, False, 0.2),
    ]
    t = best_threshold(rs)
    assert 0.3 < t < 0.8
    assert figures(rs, t)["accuracy"] == 1.0
    assert best_threshold([res("A", True, True, None)]) is None


def test_folds_split_by_article_and_fit_on_the_others_only():
    rs = []
    for art, n in (("A", 6), ("B", 5), ("C", 4), ("D", 3)):
        rs += [res(art, i % 2 == 0, True, 0.5 + 0.01 * i) for i in range(n)]

    groups = article_folds(rs, 2)
    assert sorted(a for g in groups for a in g) == ["A", "B", "C", "D"]
    assert all(len(set(g)) == len(g) for g in groups) and not set(groups[0]) & set(groups[1])

    cv = cross_validate(rs, 2)
    assert cv["k"] == 2 and cv["out_of_fold"]["n"] == len(rs)
    for fold in cv["folds"]:
        train = [r for r in rs if r.article not in fold["articles"]]
        assert fold["threshold"] == round(best_threshold(train), 4)  # fitted without the fold's own questions


@pytest.mark.slow
def test_bench_squad_end_to_end(tmp_path):
    data = tmp_path / "squadlike"
    (data / "corpus").mkdir(parents=True)
    (data / "corpus" / "Glorp.md").write_text(
        "---\ntitle: Glorp\nurl: https://example.org/wiki/Glorp\n---\n"
        "The Glorp river rises in the Zanthu mountains. It was first mapped in 1832 by Ada Quill.\n\n"
        "The river is 412 kilometres long and flows into the Vell sea.\n",
        encoding="utf-8",
    )
    (data / "corpus" / "Harpin.md").write_text(
        "---\ntitle: Harpin\nurl: https://example.org/wiki/Harpin\n---\n"
        "Harpin is a town of 9,000 people. Its cathedral was built in the twelfth century.\n",
        encoding="utf-8",
    )
    questions = [
        {
            "id": "1",
            "question": "Who first mapped the Glorp river?",
            "answers": ["Ada Quill"],
            "type": "factoid",
            "article": "Glorp",
            "doc": "Glorp.md",
        },
        {
            "id": "2",
            "question": "How long is the Glorp river?",
            "answers": ["412 kilometres"],
            "type": "factoid",
            "article": "Glorp",
            "doc": "Glorp.md",
        },
        {
            "id": "3",
            "question": "When was the cathedral of Harpin built?",
            "answers": ["twelfth century"],
            "type": "factoid",
            "article": "Harpin",
            "doc": "Harpin.md",
        },
        {
            "id": "4",
            "question": "Who designed the cathedral of Harpin?",
            "answers": [],
            "type": "unanswerable",
            "article": "Harpin",
            "doc": None,
            "plausible": ["twelfth century"],
        },
    ]
    (data / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))

    png = tmp_path / "sweep.png"
    r = qabot(
        "bench",
        "squad",
        str(data),
        "--json",
        "--folds",
        "2",
        "--bench-index",
        str(tmp_path / "idx"),
        "--plot",
        str(png),
    )

    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["overall"]["n"] == 4 and out["overall"]["unanswerable"] == 1
    assert set(out["per_article"]) == {"Glorp", "Harpin"}
    # found, though the reader (trained on whole articles) may be unsure on a three-sentence corpus
    assert out["overall"]["found_at_3"] >= 0.33  # (rounded to 4 places: one of the three)
    assert out["overall"]["hit_at_3"] <= out["overall"]["found_at_3"]
    assert out["cross_validation"]["k"] == 2 and out["cross_validation"]["out_of_fold"]["n"] == 4
    assert (tmp_path / "idx" / "CURRENT").is_file()
    # the shipped reader was trained on SQuAD questions: --folds also retrains it without each fold's articles
    rcv = out["reader_cross_validation"]
    assert rcv["out_of_fold"]["squad"]["n"] == 4 and len(rcv["folds"]) == 2
    assert all(g.startswith("squad:") for f in rcv["folds"] for g in f["groups"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_squad_needs_its_folder():
    r = qabot("bench", "squad", probe=True)
    assert r.returncode == 1 and "needs the dataset folder" in r.stderr
