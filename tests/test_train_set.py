"""The labelled training questions over the bundled corpus (tests/data/train.jsonl), which `qabot train`
learns from: their labels are sound, and none is a near copy of a held-out question, which would let
the held-out figures flatter the reader."""

from __future__ import annotations

import re
from collections import Counter

from bench.evaluate import read_items

from conftest import ROOT, UNANSWERABLE_KINDS, assert_labels_verbatim

DATA = ROOT / "tests" / "data"
NEAR_COPY = 0.6  # the share of their words (Jaccard) at which two questions count as one


def rows(name: str) -> list[dict]:
    return read_items(str(DATA / name))


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def test_ids_are_unique_and_the_unanswerable_ones_cover_the_four_kinds():
    items = rows("train.jsonl")
    assert len({r["id"] for r in items}) == len(items)
    unanswerable = [r for r in items if r["type"] == "unanswerable"]
    assert all(r["answers"] == [] and r["doc"] is None and r["evidence"] is None for r in unanswerable)
    kinds = Counter(t for r in unanswerable for t in r["tags"] if t.startswith("kind:"))
    assert set(kinds) == UNANSWERABLE_KINDS and min(kinds.values()) >= 20


def test_every_gold_answer_and_evidence_is_verbatim_in_its_document():
    assert_labels_verbatim(rows("train.jsonl"), answers_within="evidence")


def test_no_training_question_is_a_near_copy_of_a_held_out_one():
    held = [words(r["question"]) for r in rows("holdout.jsonl")]
    for r in rows("train.jsonl"):
        mine = words(r["question"])
        share = max(len(mine & h) / len(mine | h) for h in held)
        assert share < NEAR_COPY, (r["id"], r["question"], share)
