"""`qabot bench squad DIR`: SQuAD 2.0 as an open-corpus benchmark of answering and abstaining.

DIR holds `corpus/*.md` (Wikipedia articles) and `questions.jsonl` (half of them unanswerable by
design: written to look answerable from the article). The articles are indexed as one corpus by the
normal build, and every question is asked through `Engine.ask`, the bot's own path, against all of
them at once. Scoring (the benchmark's README): an answerable question is a hit@1 when the first
quote contains a gold answer (case-insensitive, whitespace folded) and the bot did not abstain; an
unanswerable one is right when the bot abstains; accuracy is both over all questions.

`--folds K` splits the articles into K groups and, for each group, fits the abstention threshold on
the questions of the other groups only, then scores the group: the figures then never come from a
threshold that saw the questions it is judged on. The shipped reader was trained on these questions,
so with it `--folds` also retrains the whole reader K times (bench/train.py), each time without one
group's articles, and scores it on that group alone: the held-out figures to quote. `--plot FILE.png`
draws accuracy and false abstention against that threshold.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.evaluate import norm

DEFAULT_INDEX = ".bench_cache/squad2-index"  # under the project root: DIR may be read-only
SWEEP_POINTS = 101


@dataclass
class Result:
    """One question's outcome; `confidence` is the engine's (None when it gives none)."""

    id: str
    article: str
    answerable: bool
    abstained: bool
    hit1: bool  # the first quote (shown or closest) contains a gold answer
    hit3: bool
    confidence: float | None
    took_ms: float


def load_questions(folder: Path) -> list[dict]:
    with open(folder / "questions.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def contains_answer(item: dict, text: str) -> bool:
    t = norm(text)
    return any(norm(a) in t for a in item.get("answers", []))


def ask_all(engine, items: list[dict], progress: bool = False) -> list[Result]:
    """Every question through the engine's ask, scored."""
    from tqdm import tqdm

    out = []
    for item in tqdm(items, desc="questions", disable=not progress, unit="q"):
        answer = engine.ask(item["question"])
        hits = [contains_answer(item, q.text) for q in answer.quotes]
        out.append(
            Result(
                id=item["id"],
                article=item["article"],
                answerable=item["type"] != "unanswerable",
                abstained=answer.abstained,
                hit1=bool(hits[:1] and hits[0]),
                hit3=any(hits[:3]),
                confidence=getattr(answer, "confidence", None),
                took_ms=answer.took_ms,
            )
        )
    return out


def figures(results: list[Result], threshold: float | None = None) -> dict:
    """Accuracy and its parts; with `threshold`, abstain exactly when confidence is below it."""
    if not results:
        return {"n": 0}

    def abstains(r: Result) -> bool:
        return r.abstained if threshold is None or r.confidence is None else r.confidence < threshold

    ans = [r for r in results if r.answerable]
    una = [r for r in results if not r.answerable]
    hit1 = sum(1 for r in ans if r.hit1 and not abstains(r))
    hit3 = sum(1 for r in ans if r.hit3 and not abstains(r))
    right_abstain = sum(1 for r in una if abstains(r))
    ms = [r.took_ms for r in results]
    return {
        "n": len(results),
        "answerable": len(ans),
        "unanswerable": len(una),
        "accuracy": round((hit1 + right_abstain) / len(results), 4),
        "hit_at_1": round(hit1 / len(ans), 4) if ans else None,
        "hit_at_3": round(hit3 / len(ans), 4) if ans else None,
        # the answer among the first three quotes shown, answered or not (an abstention shows the closest
        # passages): what retrieval and reading found before deciding
        "found_at_3": round(sum(1 for r in ans if r.hit3) / len(ans), 4) if ans else None,
        "unanswerable_abstained": round(right_abstain / len(una), 4) if una else None,
        "false_abstention": round(sum(1 for r in ans if abstains(r)) / len(ans), 4) if ans else None,
        "always_abstain": round(len(una) / len(results), 4),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
    }


def per_article(results: list[Result], threshold: float | None = None) -> dict[str, dict]:
    arts = sorted({r.article for r in results})
    return {a: figures([r for r in results if r.article == a], threshold) for a in arts}


def article_folds(results: list[Result], k: int) -> list[list[str]]:
    """Articles dealt into k groups of about equal question counts (largest first, deterministic)."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.article] = counts.get(r.article, 0) + 1
    groups: list[list[str]] = [[] for _ in range(max(1, min(k, len(counts))))]
    sizes = [0] * len(groups)
    for art in sorted(counts, key=lambda a: (-counts[a], a)):
        i = sizes.index(min(sizes))
        groups[i].append(art)
        sizes[i] += counts[art]
    return groups


def best_threshold(results: list[Result]) -> float | None:
    """The confidence threshold with the highest accuracy on `results` (None without confidences)."""
    confs = sorted({r.confidence for r in results if r.confidence is not None})
    if not confs:
        return None
    cands = [confs[0] - 1e-6] + [(a + b) / 2 for a, b in zip(confs, confs[1:])] + [confs[-1] + 1e-6]
    return max(cands, key=lambda t: (figures(results, t)["accuracy"], -t))


def cross_validate(results: list[Result], k: int) -> dict:
    """Out-of-fold figures: each group scored at the threshold fitted on the other groups."""
    folds = []
    oof: list[tuple[Result, float | None]] = []
    for group in article_folds(results, k):
        train = [r for r in results if r.article not in group]
        test = [r for r in results if r.article in group]
        t = best_threshold(train)
        folds.append({"articles": group, "threshold": None if t is None else round(t, 4), **figures(test, t)})
        oof += [(r, t) for r in test]
    pooled_hits = {"n": len(oof)}
    if oof:

        def abst(r, t):
            return r.abstained if t is None or r.confidence is None else r.confidence < t

        ans = [(r, t) for r, t in oof if r.answerable]
        una = [(r, t) for r, t in oof if not r.answerable]
        hit1 = sum(1 for r, t in ans if r.hit1 and not abst(r, t))
        right = sum(1 for r, t in una if abst(r, t))
        pooled_hits.update(
            accuracy=round((hit1 + right) / len(oof), 4),
            hit_at_1=round(hit1 / len(ans), 4) if ans else None,
            unanswerable_abstained=round(right / len(una), 4) if una else None,
            false_abstention=round(sum(1 for r, t in ans if abst(r, t)) / len(ans), 4) if ans else None,
        )
    return {"k": len(folds), "folds": folds, "out_of_fold": pooled_hits}


def sweep(results: list[Result]) -> list[dict]:
    """Accuracy and false abstention at evenly spaced confidence thresholds."""
    confs = [r.confidence for r in results if r.confidence is not None]
    if not confs:
        return []
    lo, hi = min(confs), max(confs)
    points = np.linspace(lo - 1e-6, hi + 1e-6, SWEEP_POINTS)
    return [
        {
            "threshold": float(t),
            **{
                k: v
                for k, v in figures(results, float(t)).items()
                if k in ("accuracy", "false_abstention", "unanswerable_abstained")
            },
        }
        for t in points
    ]


def plot(results: list[Result], path: Path, shipped: float | None) -> None:
    """Accuracy and false abstention against the abstention threshold, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = sweep(results)
    if not pts:
        raise ValueError("the engine gives no confidence to sweep")
    xs = [p["threshold"] for p in pts]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.plot(xs, [p["accuracy"] for p in pts], label="accuracy")
    ax.plot(xs, [p["false_abstention"] for p in pts], label="false abstention (answerable)")
    ax.plot(xs, [p["unanswerable_abstained"] for p in pts], label="unanswerable abstained", linestyle=":")
    ax.axhline(figures(results)["always_abstain"], color="grey", linestyle="--", linewidth=0.8, label="always abstain")
    if shipped is not None:
        ax.axvline(shipped, color="black", linewidth=0.8, label=f"shipped threshold {shipped:.2f}")
    ax.set_xlabel("abstain when confidence is below")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"SQuAD 2.0 open, {len(results)} questions")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(args) -> int:
    """Build (incrementally) the index of DIR/corpus, ask every question, print the figures."""
    from index.config import Settings
    from index.engine import Engine
    from index.errors import QabotError

    folder = Path(args.dir).resolve()
    if not (folder / "questions.jsonl").is_file() or not (folder / "corpus").is_dir():
        raise QabotError(
            f"{folder} has no questions.jsonl and corpus/ folder (a SQuAD benchmark folder, such as "
            "../shared/bench/squad2)"
        )
    index_dir = Path(getattr(args, "bench_index", None) or DEFAULT_INDEX).resolve()
    engine = Engine(Settings(root=folder, sources=("corpus",), index_dir=str(index_dir)))
    t0 = time.perf_counter()
    summary = engine.rebuild(progress=not args.json)
    items = load_questions(folder)
    if getattr(args, "limit", None):
        items = items[: args.limit]
    engine.ask(items[0]["question"])  # warm: the first ask loads the model
    results = ask_all(engine, items, progress=not args.json)
    out = {
        "dir": str(folder),
        "build": summary.line(),
        "seconds": round(time.perf_counter() - t0, 1),
        "overall": figures(results),
        "per_article": per_article(results),
    }
    answerer = engine.answerer
    if args.folds:
        out["cross_validation"] = cross_validate(results, args.folds)
        if answerer.reader is not None:
            from bench.train import reader_folds

            out["reader_cross_validation"] = reader_folds(
                engine, items, args.folds, index_dir.with_name(index_dir.name + "-bundled"), progress=not args.json
            )
    if args.plot:
        plot(results, Path(args.plot), answerer.answer_above if answerer.reader else answerer.threshold)
        out["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(out))
        return 0
    o = out["overall"]
    print(f"SQuAD 2.0 open ({o['n']} questions, {o['unanswerable']} unanswerable) over {folder / 'corpus'}")
    print(
        f"accuracy {o['accuracy']:.3f} (always abstaining: {o['always_abstain']:.3f}); answerable hit@1 "
        f"{o['hit_at_1']:.3f}, hit@3 {o['hit_at_3']:.3f}; unanswerable abstained {o['unanswerable_abstained']:.3f}; "
        f"false abstention {o['false_abstention']:.3f}; p50/p95 {o['p50_ms']:.0f}/{o['p95_ms']:.0f} ms"
    )
    print(f"\n{'article':40} {'n':>5} {'acc':>6} {'hit@1':>6} {'abst':>6} {'false':>6}")
    for art, f in out["per_article"].items():
        print(
            f"{art[:40]:40} {f['n']:>5} {f['accuracy']:>6.3f} {f['hit_at_1'] or 0:>6.3f} "
            f"{f['unanswerable_abstained'] or 0:>6.3f} {f['false_abstention'] or 0:>6.3f}"
        )
    if "cross_validation" in out:
        cv = out["cross_validation"]["out_of_fold"]
        print(
            f"\n{args.folds}-fold by article, threshold fitted on the other folds: accuracy {cv.get('accuracy')}, "
            f"hit@1 {cv.get('hit_at_1')}, abstained {cv.get('unanswerable_abstained')}, "
            f"false abstention {cv.get('false_abstention')}"
        )
    if "reader_cross_validation" in out:
        rcv = out["reader_cross_validation"]
        f, auc = rcv["out_of_fold"]["squad"], rcv["auroc"]["squad"]["auroc_answerable"]
        print(
            f"{args.folds}-fold by article, the reader retrained without each fold's articles: accuracy "
            f"{f['accuracy']}, hit@1 {f['hit_at_1']}, abstained {f['unanswerable_abstained']}, false abstention "
            f"{f['false_abstention']}, answerability AUROC {auc}"
        )
    return 0
