"""The held-out split (tests/data/holdout.jsonl): chat-style questions over the bundled corpus,
written apart from the code and never used to train, tune or calibrate anything. Only its soundness
is tested here; the figures on it are reported in docs/BENCHMARKS.md, never asserted, so nobody is
tempted to fit the code to it."""

from __future__ import annotations

from collections import Counter

from bench.evaluate import read_items

from conftest import ROOT, UNANSWERABLE_KINDS, assert_labels_verbatim

HOLDOUT = ROOT / "tests" / "data" / "holdout.jsonl"


def rows() -> list[dict]:
    return read_items(str(HOLDOUT))


def test_the_split_is_large_enough_and_covers_the_four_kinds_of_unanswerable():
    items = rows()
    assert len(items) >= 60 and len({r["id"] for r in items}) == len(items)
    unanswerable = [r for r in items if r["type"] == "unanswerable"]
    assert len(unanswerable) >= 20
    kinds = Counter(t for r in unanswerable for t in r["tags"] if t.startswith("kind:"))
    assert set(kinds) == UNANSWERABLE_KINDS and min(kinds.values()) >= 5
    assert all(r["answers"] == [] and r["doc"] is None and r.get("why") for r in unanswerable)


def test_every_gold_answer_and_evidence_is_verbatim_in_its_document():
    assert_labels_verbatim(rows())
