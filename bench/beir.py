"""`qabot bench beir DIR`: retrieval quality on a BEIR-layout dataset through the project's own index and search.

The corpus is indexed with `build_index` (the same chunking, embedding, FTS5 and FAISS code as the
bot) into `.bench_cache/<dataset>-<key>/` under the project root, keyed by the corpus hash, the model
and the chunker version, so a second run skips embedding. Every query is answered by
`index.search.search` (the path answers use) in three modes; a document's rank is that of its best
chunk. nDCG@10 and recall@100 follow trec_eval / pytrec_eval (linear gain, log2 discount, queries
from the qrels split only); `tests/test_bench_beir.py` checks them against hand-computed values and
against ranx when it is installed.

txtai (the optional `bench` extra) is run on the same texts with the same local model directory,
as a peer, in the same process.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from index.types import Document

BENCH_VERSION = "3"  # bump when what is indexed for a benchmark changes
MODES = ("bm25", "dense", "hybrid")
NDCG_K = 10
RECALL_K = 100


# ---- data --------------------------------------------------------------------------------------
def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_beir(folder: str | os.PathLike, split: str = "test") -> tuple[dict, dict, dict]:
    """(corpus {id: (title, text)}, queries {id: text} of the split, qrels {qid: {doc id: grade}})."""
    folder = Path(folder)
    corpus = {str(d["_id"]): (d.get("title") or "", d.get("text") or "") for d in _read_jsonl(folder / "corpus.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    qpath = folder / "qrels" / f"{split}.tsv"
    with open(qpath, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        for row in reader:
            if len(row) < 3 or row[0] == "query-id":
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
    all_q = {str(q["_id"]): q["text"] for q in _read_jsonl(folder / "queries.jsonl")}
    queries = {qid: all_q[qid] for qid in qrels if qid in all_q}
    qrels = {qid: rel for qid, rel in qrels.items() if qid in queries}
    return corpus, queries, qrels


def corpus_documents(corpus: dict) -> list[Document]:
    """One Document per corpus entry: path = the BEIR id, so a hit maps straight back to it."""
    docs = []
    for did, (title, text) in corpus.items():
        body = text.strip() or title.strip()
        if not body:
            continue
        h = hashlib.sha256((title + "\x00" + body).encode()).hexdigest()
        docs.append(Document(path=did, title=title.strip() or did, text=body, kind="text", content_hash=h))
    return docs


# ---- metrics (trec_eval conventions) -------------------------------------------------------------
def ndcg_at_k(ranking: list[str], rels: dict[str, int], k: int = NDCG_K) -> float:
    """nDCG@k of one ranked list of doc ids: gain = grade, discount log2(rank + 1)."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]) if rels.get(d, 0) > 0)
    ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: list[str], rels: dict[str, int], k: int = RECALL_K) -> float:
    relevant = {d for d, g in rels.items() if g > 0}
    return len(relevant & set(ranking[:k])) / len(relevant) if relevant else 0.0


def evaluate(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict:
    """Mean nDCG@10 and recall@100 over the queries of the qrels (a query with no run scores 0)."""
    qids = [q for q in qrels if any(g > 0 for g in qrels[q].values())]
    if not qids:
        return {"ndcg_at_10": 0.0, "recall_at_100": 0.0}
    return {
        "ndcg_at_10": sum(ndcg_at_k(run.get(q, []), qrels[q]) for q in qids) / len(qids),
        "recall_at_100": sum(recall_at_k(run.get(q, []), qrels[q]) for q in qids) / len(qids),
    }


def _p50(ms: list[float]) -> float:
    return round(statistics.median(ms), 2) if ms else 0.0


# ---- our index -----------------------------------------------------------------------------------
def cache_root() -> Path:
    from index.config import PACKAGE_ROOT

    return Path(os.environ.get("QABOT_BENCH_CACHE") or PACKAGE_ROOT / ".bench_cache")


def cache_key(folder: Path, encoder_name: str) -> str:
    from index.build import CHUNKER_VERSION

    h = hashlib.sha256()
    with open(folder / "corpus.jsonl", "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    h.update(f"|{encoder_name}|chunker {CHUNKER_VERSION}|bench {BENCH_VERSION}".encode())
    return h.hexdigest()[:16]


def ensure_index(folder: Path, corpus: dict, encoder, root: Path | None = None, progress: bool = False):
    """The benchmark's build, from the cache when the key matches. Returns (Build, build_s, cached)."""
    from index.build import build_index
    from index.config import Settings
    from index.store import IndexStore

    root = root or cache_root()
    slot = root / f"{folder.resolve().name}-{cache_key(folder, encoder.name)}"
    settings = Settings(root=slot, sources=(), index_dir="index")
    meta_path = slot / "bench.json"
    store = IndexStore(settings.index_path)
    if meta_path.is_file() and store.exists():
        try:
            meta = json.loads(meta_path.read_text())
            return store.open_current(encoder.name), float(meta["build_s"]), True
        except Exception as exc:  # a damaged cache is rebuilt, not trusted
            print(f"note: benchmark cache {slot} unusable ({exc}); rebuilding", file=sys.stderr)
    shutil.rmtree(slot, ignore_errors=True)
    slot.mkdir(parents=True)
    docs = corpus_documents(corpus)
    t0 = time.perf_counter()
    summary = build_index(settings, encoder, full=True, progress=progress, documents=docs, sentence_vectors=False)
    build_s = time.perf_counter() - t0
    meta_path.write_text(
        json.dumps(
            {
                "build_s": round(build_s, 2),
                "documents": len(docs),
                "chunks": summary.chunks,
                "model": encoder.name,
                "built": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
    )
    return store.open_current(encoder.name), build_s, False


def bench_params(params=None):
    """The answer path's search parameters, with candidate lists at least as deep as recall@100 needs."""
    from index.search import SearchParams

    p = params or SearchParams()
    return replace(p, depth=max(p.depth, RECALL_K))


def rank_documents(build, question: str, qvec, params, mode: str, k: int = RECALL_K) -> list[str]:
    """Document ids best first, each ranked by its best chunk, through `index.search.search`."""
    from index.search import search

    hits = search(build, question, qvec, params, mode=mode, k=3 * k)
    out, seen = [], set()
    for h in hits:
        path = build.documents[h.doc_id]["path"]
        if path not in seen:
            seen.add(path)
            out.append(path)
            if len(out) >= k:
                break
    return out


def run_ours(build, encoder, queries: dict, params=None, modes=MODES) -> dict[str, tuple[dict, list[float]]]:
    """{mode: (run, per-query ms)}; latency is question embedding (if used) + search, warm."""
    p = bench_params(params)
    qids = list(queries)
    if qids:  # warm up the model, FAISS and SQLite
        encoder.encode([queries[qids[0]]])
        for mode in modes:
            rank_documents(build, queries[qids[0]], encoder.encode([queries[qids[0]]])[0], p, mode)
    out = {}
    for mode in modes:
        run, ms = {}, []
        for qid in qids:
            t0 = time.perf_counter()
            qvec = encoder.encode([queries[qid]])[0] if mode != "bm25" else None
            run[qid] = rank_documents(build, queries[qid], qvec, p, mode)
            ms.append((time.perf_counter() - t0) * 1000)
        out[mode] = (run, ms)
    return out


# ---- txtai ---------------------------------------------------------------------------------------
def txtai_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("txtai") is not None


def run_txtai(corpus: dict, queries: dict, hybrid: bool) -> tuple[dict, list[float], float]:
    """txtai on the same texts (title + text) and model folder; exact FAISS like ours. (run, ms, build_s)."""
    from txtai import Embeddings

    from index.embedding import model_dir

    config = {
        "path": str(model_dir()),
        "content": False,
        "backend": "faiss",
        "faiss": {"components": "IDMap,Flat"},
        "hybrid": hybrid,
    }
    emb = Embeddings(config)
    rows = [(did, f"{title}. {text}" if title else text, None) for did, (title, text) in corpus.items()]
    t0 = time.perf_counter()
    emb.index(rows)
    build_s = time.perf_counter() - t0
    qids = list(queries)
    if qids:
        emb.search(queries[qids[0]], RECALL_K)
    run, ms = {}, []
    for qid in qids:
        t0 = time.perf_counter()
        res = emb.search(queries[qid], RECALL_K)
        ms.append((time.perf_counter() - t0) * 1000)
        run[qid] = [str(r[0]) for r in res]
    emb.close()
    return run, ms, build_s


# ---- command -------------------------------------------------------------------------------------
def _row(name, r, ref=None):
    cells = [
        f"{name:<13}",
        f"{r['ndcg_at_10']:.4f}",
        f"{r['recall_at_100']:.4f}",
        f"{r['build_s']:8.1f}" if r.get("build_s") is not None else f"{'-':>8}",
        f"{r['query_ms_p50']:8.2f}",
    ]
    return "  ".join(cells)


def main(args) -> int:
    folder = Path(args.dir or "")
    if not args.dir or not (folder / "corpus.jsonl").is_file():
        print(
            f"error: {folder} is not a BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)",
            file=sys.stderr,
        )
        return 2
    split = getattr(args, "split", "test") or "test"
    if not (folder / "qrels" / f"{split}.tsv").is_file():
        print(f"error: {folder / 'qrels' / (split + '.tsv')} not found", file=sys.stderr)
        return 2
    as_json = bool(getattr(args, "json", False))
    say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
    corpus, queries, qrels = load_beir(folder, split)
    say(f"{folder.name}: {len(corpus)} documents, {len(queries)} queries with judgements in split '{split}'")

    from index.embedding import shared_encoder

    encoder = shared_encoder()
    build, build_s, cached = ensure_index(folder, corpus, encoder, progress=not as_json and sys.stderr.isatty())
    say(
        f"index: {build.n_chunks} chunks, built in {build_s:.1f} s"
        + (" (cached; embedding skipped this run)" if cached else "")
    )
    results: dict[str, dict] = {}
    for mode, (run, ms) in run_ours(build, encoder, queries).items():
        results[mode] = {**evaluate(run, qrels), "build_s": round(build_s, 2), "query_ms_p50": _p50(ms)}
    build.close()

    notes = []
    if getattr(args, "no_txtai", False):
        notes.append("txtai skipped (--no-txtai)")
    elif not txtai_available():
        notes.append("txtai is not installed: install the bench extra (pip install -e '.[bench]') to compare; skipped")
    else:
        for name, hybrid in (("txtai_dense", False), ("txtai_hybrid", True)):
            say(f"{name}: indexing {len(corpus)} documents …")
            run, ms, tb = run_txtai(corpus, queries, hybrid)
            results[name] = {**evaluate(run, qrels), "build_s": round(tb, 2), "query_ms_p50": _p50(ms)}
    for k in results:
        results[k] = {m: round(v, 4) if isinstance(v, float) else v for m, v in results[k].items()}

    if as_json:
        print(json.dumps(results))
        for n in notes:
            print("note: " + n, file=sys.stderr)
        return 0
    print(f"\n{'':<13}  nDCG@10  R@100    build_s  query_ms_p50")
    for name, r in results.items():
        print(_row(name, r))
    if "txtai_dense" in results:
        best = max(("txtai_dense", "txtai_hybrid"), key=lambda n: results[n]["ndcg_at_10"])
        o, t = results["hybrid"], results[best]
        print(
            f"\nours hybrid / {best}: nDCG@10 {o['ndcg_at_10'] / max(t['ndcg_at_10'], 1e-9):.3f}x, "
            f"recall@100 {o['recall_at_100'] / max(t['recall_at_100'], 1e-9):.3f}x, "
            f"build time {o['build_s'] / max(t['build_s'], 1e-9):.3f}x"
            + (" (ours from cache: time of the first build)" if cached else "")
            + f", query latency p50 {o['query_ms_p50'] / max(t['query_ms_p50'], 1e-9):.3f}x"
        )
        od = results["dense"]
        td = results["txtai_dense"]
        print(
            f"ours dense / txtai_dense: nDCG@10 {od['ndcg_at_10'] / max(td['ndcg_at_10'], 1e-9):.3f}x, "
            f"query latency p50 {od['query_ms_p50'] / max(td['query_ms_p50'], 1e-9):.3f}x"
        )
    for n in notes:
        print("note: " + n)
    return 0
