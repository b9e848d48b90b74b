"""Score answers on a question set (the shared eval format) and calibrate the abstention threshold."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from index.text import content_terms


def norm(s: str) -> str:
    return " ".join(str(s).lower().split())


def _golds(item) -> list[str]:
    d = item.get("doc")
    return [] if d is None else ([d] if isinstance(d, str) else list(d))


def _evidence(item) -> list[str]:
    e = item.get("evidence") or []
    return [e] if isinstance(e, str) else list(e)


def quote_has_answer(item: dict, text: str) -> bool:
    t = norm(text)
    if item["type"] == "yes-no":
        for ev in _evidence(item):
            terms = content_terms(ev)
            if norm(ev) in t or (terms and sum(1 for w in terms if w in set(content_terms(text))) / len(terms) >= 0.6):
                return True
        return False
    return any(norm(a) in t for a in item.get("answers", []))


def faithful(quote: dict, root: Path, cache: dict) -> bool:
    """The quote occurs verbatim (whitespace folded) in the file it names."""
    path = root / quote["doc"]
    if path not in cache:
        try:
            if path.suffix.lower() == ".pdf":
                from index.loaders import load_file

                cache[path] = " ".join(load_file(path, root).text.split())
            else:
                cache[path] = " ".join(path.read_text(encoding="utf-8-sig", errors="strict").split())
        except (OSError, UnicodeDecodeError, Exception):
            cache[path] = None
    text = cache[path]
    return text is not None and " ".join(quote["text"].split()) in text


def score_item(item: dict, out: dict, root: Path, cache: dict) -> dict:
    """Per-question results from one `ask --json` object."""
    quotes = out.get("quotes", [])
    answerable = item["type"] != "unanswerable"
    shown = [] if out.get("abstained") else quotes
    hits = [quote_has_answer(item, q["text"]) for q in shown]
    golds = {Path(g).name for g in _golds(item)}
    r = {
        "id": item.get("id"),
        "question": item["question"],
        "type": item["type"],
        "answerable": answerable,
        "abstained": bool(out.get("abstained")),
        "hit1": bool(hits[:1] and hits[0]),
        "hit3": any(hits[:3]),
        "source_ok": None,
        "list_recall": None,
        "faithful": all(faithful(q, root, cache) for q in quotes),
        "took_ms": float(out.get("took_ms", 0.0)),
        "quoted": [q["text"][:160] for q in quotes[:3]],
    }
    if answerable and any(hits):
        first = next(q for q, h in zip(shown, hits) if h)
        r["source_ok"] = not golds or Path(first["doc"]).name in golds
    if item["type"] == "list":
        answers = item.get("answers", [])
        alltext = norm(" ".join(q["text"] for q in shown))
        r["list_recall"] = sum(1 for a in answers if norm(a) in alltext) / max(len(answers), 1)
    return r


def totals(results: list[dict]) -> dict:
    ans = [r for r in results if r["answerable"]]
    una = [r for r in results if not r["answerable"]]
    lists = [r for r in results if r["list_recall"] is not None]
    src = [r for r in ans if r["source_ok"] is not None]
    lat = np.array([r["took_ms"] for r in results]) if results else np.array([0.0])
    mean = lambda xs: float(np.mean(xs)) if xs else None
    return {
        "n": len(results),
        "hit_at_1": mean([r["hit1"] for r in ans]),
        "hit_at_3": mean([r["hit3"] for r in ans]),
        "list_recall": mean([r["list_recall"] for r in lists]),
        "source_accuracy": mean([r["source_ok"] for r in src]),
        "abstain_accuracy": mean([r["abstained"] for r in una]),
        "false_abstain_rate": mean([r["abstained"] for r in ans]),
        "faithfulness": mean([r["faithful"] for r in results]),
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
    }


def read_items(path: str) -> list[dict]:
    items = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                items.append(json.loads(line))
    return items


def evaluate(engine, path: str) -> tuple[dict, list[dict]]:
    """Ask every question through Engine.ask (the path the CLI and bot use) and score the answers."""
    from index.errors import QuestionError

    items = read_items(path)
    engine.ask("warm up")  # load the model before timing
    cache: dict = {}
    results = []
    for item in items:
        try:
            out = engine.ask(item["question"]).to_json()
        except QuestionError:
            out = {"abstained": True, "quotes": [], "took_ms": 0.0}
        results.append(score_item(item, out, engine.settings.root, cache))
    return totals(results), results


def run_eval(engine, path: str, as_json: bool = False, show_misses: bool = True) -> int:
    tot, results = evaluate(engine, path)
    if as_json:
        print(json.dumps(tot))
        return 0
    misses = [
        r
        for r in results
        if (r["answerable"] and (not r["hit1"] or (r["list_recall"] or 1) < 1 or r["source_ok"] is False))
        or (not r["answerable"] and not r["abstained"])
        or not r["faithful"]
    ]
    if show_misses and misses:
        items = {i.get("id"): i for i in read_items(path)}
        print(f"Misses ({len(misses)}):")
        for r in misses:
            it = items.get(r["id"], {})
            why = []
            if not r["faithful"]:
                why.append("UNFAITHFUL QUOTE")
            if r["answerable"] and r["abstained"]:
                why.append("abstained")
            elif r["answerable"] and not r["hit1"]:
                why.append("hit@3" if r["hit3"] else "no hit")
            if r["list_recall"] is not None and r["list_recall"] < 1:
                why.append(f"list recall {r['list_recall']:.2f}")
            if r["source_ok"] is False:
                why.append("wrong source")
            if not r["answerable"] and not r["abstained"]:
                why.append("should abstain")
            print(
                f"- [{r['id']}] {r['question']}\n    why: {', '.join(why)}\n"
                f"    expected: {it.get('answers') or '(abstain)'}"
            )
            for q in r["quoted"]:
                print(f"    quoted: {q}")
        print()
    width = max(len(k) for k in tot)
    print("Totals:")
    for k, v in tot.items():
        print(f"  {k:<{width}}  {'-' if v is None else (f'{v:.3f}' if isinstance(v, float) else v)}")
    return 0


def calibrate(
    engine, paths: str | list[str], write: bool = True, max_false_abstain: float = 0.10, out: str | Path | None = None
) -> dict:
    """Pick the abstention threshold on evidence strength from labelled question sets (pooled), and
    (`write`) save it to `out`, by default the index folder's calibration.json, which the engine then
    prefers over the shipped one (the installed package is never written).

    Among thresholds whose false-abstention rate on answerable questions stays within
    `max_false_abstain` (the project's target), take the one that abstains on the most unanswerable
    questions (ties: the fewest false abstentions), placed in the middle of the strengths between
    which it is equally good, so it does not hug one example. Rates count the whole abstention rule
    (`Answerer.abstains`: the threshold, and the focus test with its fixed parameters).
    """
    paths = [paths] if isinstance(paths, str) else list(paths)
    items = [item for path in paths for item in read_items(path)]
    if engine.answerer.reader is not None:
        return calibrate_reader(engine, paths, items, write, max_false_abstain, out)
    b = engine.build()
    evs = []  # (evidence, answerable)
    for item in items:
        q = item["question"]
        evs.append((engine.answerer.evidence(b, q, engine.embed_question(q)), item["type"] != "unanswerable"))
    strengths = [(ev.strength, a) for ev, a in evs]
    vals = sorted({round(s, 6) for s, _ in strengths})
    pos = [s for s, a in strengths if a]
    neg = [s for s, a in strengths if not a]
    cands = [vals[0] - 1e-3] + [(x + y) / 2 for x, y in zip(vals, vals[1:])]

    def rates(t):  # the whole abstention rule (strength below t, or no sentence stating the answer)
        far = float(np.mean([engine.answerer.abstains(ev, t) for ev, a in evs if a])) if pos else 0.0
        tnr = float(np.mean([engine.answerer.abstains(ev, t) for ev, a in evs if not a])) if neg else 1.0
        return far, tnr

    scored = [(k, rates(t)) for k, t in enumerate(cands)]
    ok = [(k, r) for k, r in scored if r[0] <= max_false_abstain + 1e-9] or scored[:1]
    best = max((r[1], -r[0]) for _, r in ok)
    ks = [k for k, r in ok if (r[1], -r[0]) == best]
    lo, hi = min(ks), max(ks)
    if hi > lo:  # equally good thresholds: the middle of the strengths they span
        threshold = ((vals[lo - 1] if lo else cands[0]) + vals[hi]) / 2
    else:
        threshold = cands[lo]
    far, tnr = rates(threshold)
    cal = {k: v for k, v in engine.answerer.calibration.items() if k == "params"}  # parameters stay; figures are redone
    cal["abstain_below"] = round(threshold, 4)
    cal["calibrated_on"] = [Path(p).name for p in paths]
    cal["n"] = len(items)
    cal["false_abstain_rate"] = round(far, 4)
    cal["abstain_accuracy"] = round(tnr, 4)
    cal["strengths"] = {
        "answerable_min": round(min(pos), 4) if pos else None,
        "unanswerable_max": round(max(neg), 4) if neg else None,
    }
    return save_calibration(engine, cal, write, out)


def save_calibration(engine, cal: dict, write: bool, out: str | Path | None) -> dict:
    from index.engine import CALIBRATION_NAME

    if write:
        target = Path(out) if out else engine.settings.index_path / CALIBRATION_NAME
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(cal, indent=1) + "\n")
        os.replace(tmp, target)
        cal["written_to"] = str(target)
    return cal


def calibrate_reader(engine, paths: list[str], items: list[dict], write: bool, max_false_abstain: float, out) -> dict:
    """With the trained reader: its confidence threshold (`answer_above`) for this index, by the same
    policy: the most unanswerable questions abstained with false abstention within `max_false_abstain`."""
    b = engine.build()
    answerer = engine.answerer
    scored = []  # (confidence, answerable)
    for item in items:
        qv = engine.embed_question(item["question"])
        judged = answerer.judge(b, answerer.evidence(b, item["question"], qv), qv)
        scored.append((judged.confidence if judged else 0.0, item["type"] != "unanswerable"))
    confs = sorted({c for c, _ in scored})
    cands = [confs[0] - 1e-6] + [(x + y) / 2 for x, y in zip(confs, confs[1:])] + [confs[-1] + 1e-6]
    pos = [c for c, a in scored if a]
    neg = [c for c, a in scored if not a]

    def rates(t):
        return (
            float(np.mean([c < t for c in pos])) if pos else 0.0,
            float(np.mean([c < t for c in neg])) if neg else 1.0,
        )

    ok = [t for t in cands if rates(t)[0] <= max_false_abstain + 1e-9] or cands[:1]
    threshold = max(ok, key=lambda t: (rates(t)[1], -rates(t)[0], -t))
    far, tnr = rates(threshold)
    cal = {k: v for k, v in answerer.calibration.items() if k in ("params", "abstain_below")}
    cal.update(
        answer_above=round(threshold, 4),
        calibrated_on=[Path(p).name for p in paths],
        n=len(items),
        false_abstain_rate=round(far, 4),
        abstain_accuracy=round(tnr, 4),
    )
    return save_calibration(engine, cal, write, out)
