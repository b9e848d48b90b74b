"""`qabot bench beir`: the metrics on cases with known values, and a tiny BEIR folder end to end."""

from __future__ import annotations

import argparse
import json
import math

import pytest

from bench.beir import evaluate, load_beir, main, ndcg_at_k, recall_at_k


def test_ndcg_binary_by_hand():
    # relevant a, b found at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3)
    got = ndcg_at_k(["x", "a", "y", "b"], {"a": 1, "b": 1}, k=10)
    assert got == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert got == pytest.approx(0.650921, abs=1e-6)


def test_ndcg_graded_and_cutoff():
    # grades 2 and 1 in the wrong order: (1 + 2/log2 3) / (2 + 1/log2 3)
    assert ndcg_at_k(["b", "a"], {"a": 2, "b": 1}) == pytest.approx(0.859719, abs=1e-6)
    assert ndcg_at_k(["a", "b"], {"a": 2, "b": 1}) == pytest.approx(1.0)
    # a relevant document past the cut-off counts for nothing
    assert ndcg_at_k([f"n{i}" for i in range(10)] + ["a"], {"a": 1}, k=10) == 0.0
    # zero-grade judgements are not relevant
    assert ndcg_at_k(["z", "a"], {"z": 0, "a": 1}) == pytest.approx(1 / math.log2(3))


def test_recall_and_mean_over_qrels():
    assert recall_at_k(["x", "a"], {"a": 1, "b": 1}, k=100) == 0.5
    assert recall_at_k(["x", "a"], {"a": 1, "b": 1}, k=1) == 0.0
    # a judged query with no results still counts (as 0) in the mean
    m = evaluate({"q1": ["a"]}, {"q1": {"a": 1}, "q2": {"b": 1}})
    assert m == {"ndcg_at_10": 0.5, "recall_at_100": 0.5}


def test_metrics_agree_with_pytrec_eval():
    """The same figures as trec_eval (pytrec_eval, which BEIR's own evaluator uses), when it is installed."""
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec_eval-terrier (the reference) is not installed")
    qrels = {"q1": {"a": 2, "b": 1, "c": 1}, "q2": {"d": 1}, "q3": {"e": 3, "f": 1, "g": 0}}
    runs = {"q1": ["x", "b", "a", "y", "c"], "q2": ["d"], "q3": [f"n{i}" for i in range(12)] + ["g", "f", "e"]}
    rrun = {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in runs.items()}
    ref = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100", "recall.15"}).evaluate(rrun)
    ours = evaluate(runs, qrels)
    assert ours["ndcg_at_10"] == pytest.approx(sum(r["ndcg_cut_10"] for r in ref.values()) / 3, abs=1e-9)
    assert ours["recall_at_100"] == pytest.approx(sum(r["recall_100"] for r in ref.values()) / 3, abs=1e-9)
    assert sum(recall_at_k(runs[q], qrels[q], 15) for q in qrels) / 3 == pytest.approx(
        sum(r["recall_15"] for r in ref.values()) / 3, abs=1e-9
    )
    assert 0 < ours["ndcg_at_10"] < 1


CORPUS = [
    {
        "_id": "d1",
        "title": "Honey bees and colony collapse",
        "text": "Colony collapse disorder kills honey bee hives when worker bees vanish. "
        "Pesticides called neonicotinoids are suspected.",
    },
    {
        "_id": "d2",
        "title": "Volcanic eruptions",
        "text": "Magma rises through the crust and erupts as lava. Ash clouds from eruptions disrupt air travel.",
    },
    {
        "_id": "d3",
        "title": "Vitamin D and bone density",
        "text": "Vitamin D supplements increase calcium absorption and bone mineral density in older adults.",
    },
    {
        "_id": "d4",
        "title": "Coral reef bleaching",
        "text": "Warm ocean water makes corals expel their algae, which bleaches the reef white.",
    },
    {
        "_id": "d5",
        "title": "Black holes",
        "text": "A black hole's gravity is so strong that not even light escapes beyond the event horizon.",
    },
    {
        "_id": "d6",
        "title": "Sourdough bread",
        "text": "Wild yeast and lactic acid bacteria leaven sourdough and give it a sour taste.",
    },
]
QUERIES = [
    {"_id": "q1", "text": "Neonicotinoid pesticides cause bee colony collapse."},
    {"_id": "q2", "text": "Vitamin D improves bone mineral density."},
    {"_id": "q3", "text": "Warm seas bleach coral reefs."},
    {"_id": "q9", "text": "A query without judgements in the test split."},
]


def write_beir(folder):
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in CORPUS) + "\n")
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in QUERIES) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\nq3\td4\t1\n")
    return folder


def test_load_beir_keeps_only_judged_queries(tmp_path):
    corpus, queries, qrels = load_beir(write_beir(tmp_path / "tiny"), "test")
    assert len(corpus) == 6 and corpus["d2"][0] == "Volcanic eruptions"
    assert set(queries) == {"q1", "q2", "q3"} and qrels["q2"] == {"d3": 1}


@pytest.mark.slow
def test_bench_end_to_end_with_real_model_and_cache(tmp_path, monkeypatch, capsys):
    folder = write_beir(tmp_path / "tiny")
    monkeypatch.setenv("QABOT_BENCH_CACHE", str(tmp_path / "cache"))
    args = argparse.Namespace(dir=str(folder), split="test", no_txtai=True, json=True, index_dir=None, config=None)
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert set(first) == {"bm25", "dense", "hybrid"}
    for mode in ("bm25", "dense", "hybrid"):
        r = first[mode]
        assert set(r) == {"ndcg_at_10", "recall_at_100", "build_s", "query_ms_p50"}
        assert r["recall_at_100"] == 1.0 or mode == "bm25"
    assert first["hybrid"]["ndcg_at_10"] == 1.0 and first["dense"]["ndcg_at_10"] == 1.0
    assert len(list((tmp_path / "cache").iterdir())) == 1
    # second run: the cached build is reused (no new build folder), same figures
    assert main(args) == 0
    captured = capsys.readouterr()
    second = json.loads(captured.out)
    assert "cached" in captured.err
    assert second["hybrid"]["ndcg_at_10"] == first["hybrid"]["ndcg_at_10"]
    assert second["hybrid"]["build_s"] == first["hybrid"]["build_s"]


def test_bench_rejects_a_folder_that_is_not_beir(tmp_path, capsys):
    args = argparse.Namespace(dir=str(tmp_path), split="test", no_txtai=True, json=True, index_dir=None, config=None)
    assert main(args) == 2
    assert "not a BEIR dataset" in capsys.readouterr().err


def test_bench_without_txtai_notes_and_exits_zero(tmp_path, monkeypatch, capsys):
    import bench.beir as bb

    folder = write_beir(tmp_path / "tiny")
    monkeypatch.setenv("QABOT_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(bb, "txtai_available", lambda: False)
    from index.embedding import HashEncoder

    monkeypatch.setattr("index.embedding.shared_encoder", lambda: HashEncoder())
    args = argparse.Namespace(dir=str(folder), split="test", no_txtai=False, json=False, index_dir=None, config=None)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "txtai is not installed" in out and "hybrid" in out
