"""`qabot bench followups [FILE]`: two-turn exchanges, the follow-up asked alone and with its context.

Each line of FILE (default tests/data/followups.jsonl) is an eval item (bench/evaluate.py's format:
question, answers found verbatim in `doc`, evidence, type) plus `previous`, the question asked before it
in the thread, and `carry`, whether the follow-up needs the earlier subject (false for a follow-up that
names its own). Every follow-up is asked twice through Engine.ask, as the bot asks it: alone, and with
`previous=`; both answers are scored like `qabot eval` (hit@1: the first quote holds an expected answer;
abstained). The reader is used as shipped.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.evaluate import read_items, score_item
from index.errors import QuestionError

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "followups.jsonl"


def run(engine, path: str | Path = DEFAULT_FILE) -> dict:
    """Scores of every exchange alone and in context, and the totals."""
    items = read_items(str(path))
    engine.ask("What is ChipMixer?")  # loads the model before anything is timed
    cache: dict = {}
    rows = []
    for it in items:
        try:
            alone = engine.ask(it["question"]).to_json()
        except QuestionError:  # nothing to search for on its own ("what's its other name?"): a miss
            alone = {"abstained": True, "quotes": [], "took_ms": 0.0}
        context = engine.ask(it["question"], previous=it["previous"])
        a = score_item(it, alone, engine.settings.root, cache)
        c = score_item(it, context.to_json(), engine.settings.root, cache)
        rows.append(
            {
                "id": it.get("id"),
                "previous": it["previous"],
                "question": it["question"],
                "understood": context.understood or it["question"],
                "carried": context.follow_up is not None,
                "should_carry": bool(it.get("carry", True)),
                "alone": {"hit1": a["hit1"], "abstained": a["abstained"], "faithful": a["faithful"]},
                "context": {"hit1": c["hit1"], "abstained": c["abstained"], "faithful": c["faithful"]},
                "ms": round(context.took_ms, 1),
            }
        )
    n = len(rows) or 1
    share = lambda key, side: round(sum(r[side][key] for r in rows) / n, 3)
    totals = {
        "n": len(rows),
        "alone_hit_at_1": share("hit1", "alone"),
        "alone_abstained": share("abstained", "alone"),
        "alone_fails": round(sum(not r["alone"]["hit1"] for r in rows) / n, 3),
        "context_hit_at_1": share("hit1", "context"),
        "context_abstained": share("abstained", "context"),
        "context_fails": round(sum(not r["context"]["hit1"] for r in rows) / n, 3),
        "fixed_by_context": sum(r["context"]["hit1"] and not r["alone"]["hit1"] for r in rows),
        "broken_by_context": sum(r["alone"]["hit1"] and not r["context"]["hit1"] for r in rows),
        "carry_decision_accuracy": round(sum(r["carried"] == r["should_carry"] for r in rows) / n, 3),
        "faithfulness": round(sum(r["alone"]["faithful"] and r["context"]["faithful"] for r in rows) / n, 3),
    }
    return {"totals": totals, "rows": rows}


def main(args, engine) -> int:
    """Print every exchange's outcome alone and in context, then the totals (`--json`: one object)."""
    path = getattr(args, "dir", None) or DEFAULT_FILE
    out = run(engine, path)
    if getattr(args, "json", False):
        print(json.dumps(out))
        return 0
    mark = lambda r: "hit" if r["hit1"] else ("abstained" if r["abstained"] else "miss")
    for r in out["rows"]:
        print(f"[{r['id']}] {r['previous']}  →  {r['question']}")
        if r["carried"]:
            print(f"    understood: {r['understood']}")
        print(f"    alone: {mark(r['alone'])}; with context: {mark(r['context'])}")
    print("\nTotals:")
    for k, v in out["totals"].items():
        print(f"  {k:<24} {v}")
    return 0
