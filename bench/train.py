"""`qabot train`: fit the reader (index/reader.py) and measure it on questions it never saw.

What it reads: SQuAD 2.0 articles and questions (`../shared/bench/squad2`, or --squad DIR) and the
labelled question sets over the bundled corpus (--bundled FILE…; never the held-out split). Each
question goes through the answer path's own retrieve and read stages; the reader's features of its
best candidate sentences are computed exactly as at query time, and labelled by the benchmark's
scorer (does the quote contain a gold answer).

What it fits, with a fixed seed and nothing random but the fold assignment:
1. the pick model, a logistic regression over candidate rows (every candidate of every question;
   those of unanswerable questions are all negatives);
2. the decide model, a logistic regression over one row per question, whose inputs include the pick
   model's probabilities *out of fold* (inner folds by group), so it learns from probabilities like
   those it will see on new questions; its target is "the question is answerable";
3. two thresholds on the decide model's out-of-fold confidence:
   - the shipped one, for a corpus nobody has labelled questions on: the one that maximises accuracy on
     SQuAD's articles (OPEN_FAMILY), each family's hit@1 kept at HIT_FLOOR or more. The mean of both
     families' accuracies, used before, is flat between 0.45 and 0.60 (0.605-0.617) and put the
     threshold where SQuAD abstained on only half its unanswerable questions;
   - the bundled corpus's own calibration (`calibration-bundled.json`, which the repository's qabot.toml
     names): as many of its unanswerable questions abstained as a false abstention of at most
     MAX_FALSE_ABSTAIN allows, the policy `qabot calibrate` applies to a team's own labelled questions.

What it reports (the manifest): the same recipe cross-validated by group (SQuAD by article, the
bundled sets by question), so every figure comes from models and thresholds that never saw the
questions scored, and the data files with their sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import answer_net
from bench.answer_net import (
    NET_BATCH,
    NET_DECAY,
    NET_EPOCHS,
    NET_FOLDS,
    NET_LR,
    NET_UNITS,
    fit_net,
    net_features,
    with_net,
)
from bench.evaluate import quote_has_answer, read_items
from bench.head import HEAD_FOLDS, HEAD_L2, HEAD_LR, HEAD_SCALE, HEAD_STEPS, cross_fitted, fit_head, with_head

SEED = 20261201
FOLDS = 5
INNER_FOLDS = 4
L2_PICK = 1e-3  # L2 penalty of the pick model, per unit of (weighted) question
C_DECIDE = 0.5
DECIDE_TARGET = (
    "answerable"  # what the decide model learns: "answerable" (held out, better than "the first quote answers")
)
HIT_FLOOR = 0.5  # a threshold may not lower a family's out-of-fold hit@1 below this
OPEN_FAMILY = "squad"  # stands for a corpus nobody calibrated: its accuracy sets the shipped threshold
TEAM_FAMILY = "bundled"  # the bundled corpus, calibrated on its own labelled questions
MAX_FALSE_ABSTAIN = 0.10  # the team calibration's bound on false abstention (as `qabot calibrate`)
TEAM_CALIBRATION = "calibration-bundled.json"
BUNDLED_SOURCES = ("docs_corpus",)  # the bundled corpus's folders: the team calibration is for them only
# A bundled question counts this many SQuAD questions: the 941 bundled ones together weigh about what
# 563 did at 12 and 748 at 9. Out of fold (lab), 7 beat 9 for both families with the 941.
BUNDLED_WEIGHT = 7.0
THRESHOLD_POINTS = 201
RELIABILITY_BANDS = 5


@dataclass
class Example:
    """One question's candidates as the reader sees them."""

    id: str
    family: str  # "squad" or "bundled"
    group: str  # the fold unit: the SQuAD article, or the bundled question itself
    answerable: bool
    x: np.ndarray  # candidate features, one row per candidate
    y: np.ndarray  # which candidates' quotes hold a gold answer
    tops: np.ndarray  # Features.top of each candidate: the question row's part once the best one is known
    qv: np.ndarray  # the question's vector, and its candidates' sentence vectors (float16): the head's input
    sv: np.ndarray


def default_bundled() -> list[Path]:
    """The labelled sets over the bundled corpus that training may use: dev, validation, training (never holdout)."""
    root = Path(__file__).resolve().parents[1]
    return [root.parent / "shared" / "eval" / "dev.jsonl", root / "tests/data/validation.jsonl",
            root / "tests/data/train.jsonl"]  # fmt: skip


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def collect(engine, items: list[dict], family: str, progress: bool = True) -> list[Example]:
    """Every item through retrieve and read; the reader's features and labels of its candidates."""
    from tqdm import tqdm

    from index.present import quote
    from index.reader import Features
    from index.wordpieces import shared_pieces

    p = engine.answerer.p
    n = p.reader_candidates
    pieces = shared_pieces()
    build = engine.build()
    qvecs = engine.embed_questions([it["question"] for it in items])
    out = []
    for it, qv in tqdm(list(zip(items, qvecs)), desc=f"reading {family}", unit="q", disable=not progress):
        ev = engine.answerer.evidence(build, it["question"], qv)  # retrieve and read: the reader plays no part
        if not ev.sentences:
            continue
        f = Features(build, ev, qv, pieces, n, p)
        x = f.candidates()
        answerable = it["type"] != "unanswerable"
        y = np.array(
            [answerable and quote_has_answer(it, quote(build, s, p, question=ev.question).text) for s in f.cands],
            dtype=bool,
        )
        group = it.get("article") or it["id"]
        tops = np.vstack([f.top(t) for t in range(len(f.cands))])
        ex = Example(it["id"], family, f"{family}:{group}", answerable, x, y, tops, f.qvec, f.svec.astype(np.float16))
        out.append(ex)
    return out


def group_folds(groups: list[str], k: int, seed: int = SEED) -> list[np.ndarray]:
    """K folds of question indexes, whole groups to a fold, groups dealt in a seeded order."""
    names = sorted(set(groups))
    rng = np.random.default_rng(seed)
    rng.shuffle(names)
    fold_of = {g: i % k for i, g in enumerate(names)}
    idx = np.array([fold_of[g] for g in groups])
    return [np.where(idx == f)[0] for f in range(k)]


def cross_fit(examples: list, weights: np.ndarray, fit, fill, k: int, seed: int) -> list:
    """Copies of `examples` filled (`fill(examples, model)`) by models fitted (`fit(examples, weights)`)
    without their group, k folds: how the head's and the net's scores reach the models above them, as
    they would on new questions."""
    out = list(examples)
    for fold in group_folds([e.group for e in examples], k, seed=seed):
        held = set(fold.tolist())
        rest = [i for i in range(len(examples)) if i not in held]
        model = fit([examples[i] for i in rest], weights[rest])
        for i, e in zip(fold, fill([examples[i] for i in fold], model)):
            out[i] = e
    return out


def logistic(x, y, c, names, weight=None):
    """A logistic regression (L2 penalty 1/c) whose weights keep the signs in SIGNS: what the best
    sentence lacks can only lower the confidence, what it covers only raise it. Unconstrained, the
    correlated "absent" features traded signs, and a question none of whose words the corpus uses
    ("the boiling point of tungsten") came out confident."""
    from scipy.optimize import minimize

    from index.reader import LogisticModel

    mean, scale = standardised(x)
    z = (x - mean) / scale
    t = np.asarray(y, dtype=np.float64)
    wt = np.ones(len(t)) if weight is None else np.asarray(weight, dtype=np.float64)
    total = wt.sum()

    def loss(params):
        w, b = params[:-1], params[-1]
        m = z @ w + b
        p = 1.0 / (1.0 + np.exp(-np.clip(m, -30, 30)))
        ll = wt * (np.logaddexp(0.0, m) - t * m)
        g = wt * (p - t)
        return ll.sum() / total + (w @ w) / (2 * c * total), np.append(
            z.T @ g / total + w / (c * total), g.sum() / total
        )

    bounds = [SIGNS.get(n, (None, None)) for n in names] + [(None, None)]
    fit = minimize(loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    return LogisticModel(tuple(names), mean, scale, fit.x[:-1].copy(), float(fit.x[-1]))


LACKS = (
    "absent_words", "absent_words_sent", "absent_idf_share", "absent_idf_max", "absent_idf_max_sent",
    "absent_in_doc", "absent_nowhere", "absent_in_doc_idf_max", "negation_missing", "superlative_missing",
    "names_absent", "year_missing", "attribute_missing",
)  # fmt: skip
COVERS = (
    "p1", "top_cos", "top_win_cos", "top_li_sent", "top_li_win", "top_name_win", "top_lex_rest_win", "strength", "net",
)  # fmt: skip
SIGNS = {**{n: (None, 0.0) for n in LACKS}, **{n: (0.0, None) for n in COVERS}}


def weights_of(examples: list[Example]) -> np.ndarray:
    """Each question's weight in a fit: a bundled one counts BUNDLED_WEIGHT SQuAD ones."""
    return np.array([BUNDLED_WEIGHT if e.family == "bundled" else 1.0 for e in examples])


def standardised(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean and scale that `LogisticModel` standardises by (a constant feature keeps scale 1)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return mean, scale


def fit_pick(examples: list[Example]):
    """A listwise (softmax) model over each question's candidates, fitted on the questions with an answer
    among them: it learns to choose, which is what picking is (held out, it chose better than a
    pointwise logistic regression on the bundled sets: 0.731 against 0.709)."""
    from scipy.optimize import minimize

    from index.reader import CANDIDATE_FEATURES, LogisticModel

    x = np.vstack([e.x for e in examples])
    mean, scale = standardised(x)
    weight = weights_of(examples)
    lists = [((e.x - mean) / scale, e.y, w) for e, w in zip(examples, weight) if e.y.any()]
    total = sum(w for _, _, w in lists)

    def loss(w):
        value, grad = 0.0, np.zeros_like(w)
        for xs, ys, wt in lists:
            z = xs @ w
            e = np.exp(z - z.max())
            p_all = e / e.sum()
            p_pos = e[ys] / e[ys].sum()
            value += wt * (np.log(e.sum()) - np.log(e[ys].sum()))
            grad += wt * (p_all @ xs - p_pos @ xs[ys])
        return value / total + L2_PICK * (w @ w), grad / total + 2 * L2_PICK * w

    w = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 300}).x
    return LogisticModel(tuple(CANDIDATE_FEATURES), mean, scale, w, 0.0, softmax=True)


def out_of_fold_probs(examples: list[Example], k: int) -> list[np.ndarray]:
    """Each example's pick probabilities from a pick model fitted without its group."""
    probs: list[np.ndarray] = [np.zeros(0)] * len(examples)
    for fold in group_folds([e.group for e in examples], k):
        held = set(fold.tolist())
        model = fit_pick([e for i, e in enumerate(examples) if i not in held])
        for i in fold:
            probs[i] = model.probability(examples[i].x)
    return probs


def question_rows(examples: list[Example], probs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The decide model's rows, and its target: the pick's first sentence answers."""
    from index.reader import decision_row

    rows = np.vstack([decision_row(p, e.tops.__getitem__) for e, p in zip(examples, probs)])
    hit = np.array([bool(e.y[int(np.argmax(p))]) for e, p in zip(examples, probs)])
    return rows, hit


def fit_reader(examples: list[Example], inner: int = INNER_FOLDS) -> tuple[dict, np.ndarray, np.ndarray]:
    """The pick and decide models and the threshold, fitted on `examples` only.
    Also returns the inner out-of-fold confidence and hit of each example (for the threshold)."""
    from index.reader import QUESTION_FEATURES

    weights = weights_of(examples)
    head = fit_head(examples, weights)
    examples = cross_fitted(examples, weights)  # the head's columns as on unseen questions
    net = fit_net(examples, weights)
    examples = answer_net.cross_fitted(examples, weights)  # and the net's column
    pick = fit_pick(examples)
    oof = out_of_fold_probs(examples, inner)
    rows, hit = question_rows(examples, oof)
    target = hit if DECIDE_TARGET == "hit" else np.array([e.answerable for e in examples])
    decide = logistic(rows, target, C_DECIDE, QUESTION_FEATURES, weights)
    # the threshold from confidences the decide model did not fit: inner folds again
    conf = np.zeros(len(examples))
    for fold in group_folds([e.group for e in examples], inner, seed=SEED + 1):
        keep = np.setdiff1d(np.arange(len(examples)), fold)
        m = logistic(rows[keep], target[keep], C_DECIDE, QUESTION_FEATURES, weights[keep])
        conf[fold] = m.probability(rows[fold])
    threshold = fit_threshold(examples, conf, hit)
    team = fit_team_threshold(examples, conf)
    # rounded like the weights, so that a rerun writes the same bytes (BLAS sums differ in the last digits)
    model = {"pick": pick.to_json(), "decide": decide.to_json(), "threshold": round(threshold, 6)}
    model["head"] = head.to_json()
    model["net"] = net.to_json()
    if team is not None:
        model["team_threshold"] = round(team, 6)  # not read by the reader: train() writes it to its own file
    return model, conf, hit


def threshold_for(model: dict, family: str) -> float:
    """The threshold a family's questions are judged at: its own calibration if it has one."""
    return model.get("team_threshold", model["threshold"]) if family == TEAM_FAMILY else model["threshold"]


def family_figures(examples: list[Example], conf: np.ndarray, hit: np.ndarray, threshold: float) -> dict:
    """Per family: accuracy, hit@1, unanswerable abstained, false abstention, answerability AUROC."""
    out = {}
    for fam in sorted({e.family for e in examples}):
        idx = np.array([i for i, e in enumerate(examples) if e.family == fam])
        ans = np.array([examples[i].answerable for i in idx])
        answered = conf[idx] >= threshold
        good = answered & hit[idx] & ans
        right_abst = ~answered & ~ans
        out[fam] = {
            "n": int(len(idx)),
            "accuracy": round(float((good.sum() + right_abst.sum()) / len(idx)), 4),
            "hit_at_1": round(float(good.sum() / max(ans.sum(), 1)), 4),
            "unanswerable_abstained": round(float(right_abst.sum() / max((~ans).sum(), 1)), 4),
            "false_abstention": round(float((~answered & ans).sum() / max(ans.sum(), 1)), 4),
            "pick": round(float(hit[idx][ans].mean()), 4) if ans.any() else None,
            "auroc_answerable": auroc(conf[idx], ans),
        }
    return out


def auroc(score: np.ndarray, positive: np.ndarray) -> float | None:
    pos, neg = score[positive], score[~positive]
    if not len(pos) or not len(neg):
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="stable")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return round(float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))), 4)


def fit_threshold(examples: list[Example], conf: np.ndarray, hit: np.ndarray) -> float:
    """The confidence threshold maximising OPEN_FAMILY's accuracy (every family's mean when it has none),
    each family's hit@1 ≥ HIT_FLOOR."""
    best, best_t = -1.0, 0.5
    for t in np.unique(np.quantile(conf, np.linspace(0, 1, THRESHOLD_POINTS))):
        figs = family_figures(examples, conf, hit, float(t))
        if any(f["hit_at_1"] < HIT_FLOOR for f in figs.values()):
            continue
        open_ = [figs[OPEN_FAMILY]] if OPEN_FAMILY in figs else list(figs.values())
        score = float(np.mean([f["accuracy"] for f in open_]))
        if score > best:
            best, best_t = score, float(t)
    return best_t


def fit_team_threshold(examples: list[Example], conf: np.ndarray) -> float | None:
    """TEAM_FAMILY's own threshold: the most of its unanswerable questions abstained with its false
    abstention at most MAX_FALSE_ABSTAIN (the lowest such threshold among equals); None without any."""
    idx = np.array([i for i, e in enumerate(examples) if e.family == TEAM_FAMILY], dtype=int)
    if not len(idx):
        return None
    c = conf[idx]
    ans = np.array([examples[i].answerable for i in idx])
    best, best_t = -1.0, None
    for t in np.unique(c):
        if ans.any() and float(np.mean(c[ans] < t)) > MAX_FALSE_ABSTAIN + 1e-9:
            continue
        abstained = float(np.mean(c[~ans] < t)) if (~ans).any() else 0.0
        if abstained > best:
            best, best_t = abstained, float(t)
    return best_t


def cross_validate(examples: list[Example], k: int = FOLDS, families: tuple[str, ...] | None = None) -> dict:
    """The whole recipe per fold: fitted without the fold's groups, scored on them. `families` limits the
    folds to those families (the others always train); the figures are on the held-out questions only."""
    from index.reader import decision_row, reader_from_json

    scored = [i for i, e in enumerate(examples) if families is None or e.family in families]
    conf = np.zeros(len(examples))
    hit = np.zeros(len(examples), dtype=bool)
    answered = np.zeros(len(examples), dtype=bool)
    per_fold = []
    for local in group_folds([examples[i].group for i in scored], k):
        fold = np.array([scored[j] for j in local])
        held = set(fold.tolist())
        model, _, _ = fit_reader([e for i, e in enumerate(examples) if i not in held])
        reader = reader_from_json({**model, "candidates": 0})
        for i, e in zip(fold, with_net(with_head([examples[i] for i in fold], reader.head), reader.net)):
            p = reader.pick.probability(e.x)
            conf[i] = float(reader.decide.probability(decision_row(p, e.tops.__getitem__)[None, :])[0])
            hit[i] = bool(e.y[int(np.argmax(p))])
            answered[i] = conf[i] >= threshold_for(model, e.family)
        sub = [examples[i] for i in fold]
        figures: dict = {}
        for fam in sorted({e.family for e in sub}):  # each family at its own threshold
            mine = np.array([i for i in fold if examples[i].family == fam])
            figures |= family_figures([examples[i] for i in mine], conf[mine], hit[mine], threshold_for(model, fam))
        per_fold.append(
            {
                "groups": sorted({e.group for e in sub}),
                "threshold": round(model["threshold"], 4),
                "team_threshold": round(model.get("team_threshold", model["threshold"]), 4),
                **figures,
            }
        )
    # out of fold, each question judged at its own fold's threshold
    held = [examples[i] for i in scored]
    eff = np.where(answered, 1.0, 0.0)[scored]
    return {
        "out_of_fold": family_figures(held, eff, hit[scored], 0.5),
        "auroc": family_figures(held, conf[scored], hit[scored], 0.5),
        "reliability": reliability(held, conf[scored], hit[scored]),
        "folds": per_fold,
    }


def reliability(examples: list[Example], conf: np.ndarray, hit: np.ndarray) -> dict:
    """Per family and confidence band: how many questions, and the share whose first quote answers."""
    out: dict[str, list[dict]] = {}
    edges = np.linspace(0.0, 1.0, RELIABILITY_BANDS + 1)
    for fam in sorted({e.family for e in examples}):
        idx = np.array([i for i, e in enumerate(examples) if e.family == fam])
        right = np.array([hit[i] and examples[i].answerable for i in idx])
        rows = []
        for lo, hi in zip(edges, edges[1:]):
            inside = (conf[idx] >= lo) & ((conf[idx] < hi) | (hi == 1.0))
            share = round(float(right[inside].mean()), 4) if inside.any() else None
            rows.append({"band": [round(lo, 2), round(hi, 2)], "n": int(inside.sum()), "first_quote_answers": share})
        out[fam] = rows
    return out


def bundled_examples(index_dir: Path, files: list[Path], progress: bool = True) -> list[Example]:
    """The labelled bundled sets read through an index of the bundled corpus kept in `index_dir`."""
    from index.config import Settings
    from index.engine import Engine

    root = Path(__file__).resolve().parents[1]
    here = Engine(Settings(root=root, sources=BUNDLED_SOURCES, index_dir=str(index_dir)), reader=False)
    here.rebuild(progress=progress)
    out: list[Example] = []
    for path in files:
        out += collect(here, read_items(str(path)), "bundled", progress)
    return out


def reader_folds(engine, items: list[dict], k: int, index_dir: Path, progress: bool = True) -> dict:
    """`qabot bench squad --folds K` for the reader: retrained K times, each time without one group of
    articles (the bundled sets always train), and scored on that group's questions only."""
    files = [f for f in default_bundled() if f.is_file()]
    examples = collect(engine, items, "squad", progress) + bundled_examples(index_dir, files, progress)
    cv = cross_validate(examples, k, families=("squad",))
    return {"bundled_sets": [str(f) for f in files], **cv}


def train(squad_dir: Path, bundled: list[Path], out_dir: Path, folds: int = FOLDS, progress: bool = True) -> dict:
    """Collect, cross-validate, fit on everything, write reader.json and its manifest to `out_dir`."""
    from index.config import Settings
    from index.engine import Engine
    from index.params import AnswerParams

    t0 = time.time()
    squad_items = [json.loads(line) for line in (squad_dir / "questions.jsonl").read_text().splitlines() if line]
    squad = Engine(Settings(root=squad_dir, sources=("corpus",), index_dir=str(out_dir / "squad-index")), reader=False)
    squad.rebuild(progress=progress)
    examples = collect(squad, squad_items, "squad", progress)
    examples += bundled_examples(out_dir / "bundled-index", bundled, progress)
    collected = time.time() - t0
    cv = cross_validate(examples, folds) if folds > 1 else None
    model, _, _ = fit_reader(examples)
    team = model.pop("team_threshold", None)
    model["candidates"] = AnswerParams().reader_candidates
    out_dir.mkdir(parents=True, exist_ok=True)
    blob = json.dumps(model, indent=1, sort_keys=True).encode()
    (out_dir / "reader.json").write_bytes(blob)
    if team is not None:
        calibration = {
            "answer_above": team,
            "reader_sha256": hashlib.sha256(blob).hexdigest(),
            "fitted_on": f"the bundled sets' out-of-fold confidence, false abstention <= {MAX_FALSE_ABSTAIN}",
            "sources": list(BUNDLED_SOURCES),
        }
        (out_dir / TEAM_CALIBRATION).write_text(json.dumps(calibration, indent=1) + "\n")
    data = [squad_dir / "questions.jsonl", *sorted(squad_dir.glob("corpus/*.md")), *bundled]
    manifest = {
        "reader_sha256": hashlib.sha256(blob).hexdigest(),
        "data": {os.path.relpath(p, Path(__file__).resolve().parents[1]): sha256_of(p) for p in data},
        "hyperparameters": {
            "seed": SEED,
            "folds": folds,
            "inner_folds": INNER_FOLDS,
            "l2_pick": L2_PICK,
            "c_decide": C_DECIDE,
            "hit_floor": HIT_FLOOR,
            "max_false_abstain": MAX_FALSE_ABSTAIN,
            "bundled_weight": BUNDLED_WEIGHT,
            "candidates": model["candidates"],
            "head": {"l2": HEAD_L2, "steps": HEAD_STEPS, "lr": HEAD_LR, "scale": HEAD_SCALE, "folds": HEAD_FOLDS},
            "net": {
                "units": NET_UNITS,
                "epochs": NET_EPOCHS,
                "lr": NET_LR,
                "weight_decay": NET_DECAY,
                "batch_questions": NET_BATCH,
                "folds": NET_FOLDS,
                "loss": "listwise softmax over each question's candidates and no answer",
                "features": list(net_features()),
            },
        },  # fmt: skip
        "questions": {fam: sum(1 for e in examples if e.family == fam) for fam in ("squad", "bundled")},
        "threshold": model["threshold"],
        "team_threshold": team,
        "held_out": cv,
        "seconds": {"collect": round(collected, 1), "total": round(time.time() - t0, 1)},
    }
    (out_dir / "reader-manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
