"""`qabot bench speed`: start-up, build throughput, ask latency, memory, ANN recall and event-loop lag.

Sizes: "demo" (the project's own corpus, its index as configured), "100k" and "1m" (about 100,000 and
1,000,000 chunks made deterministically from SciFact abstracts, cached under .bench_cache/).

How the large sizes are made (said in the output too):
  * text: each synthetic document is 2-3 consecutive real sentences of one SciFact abstract, and for
    half of them 1-2 more real sentences of a second abstract (seeded choice); its title is the first
    abstract's title plus "(#n)". Chunks, sentences, FTS and the questions (SciFact queries) are real.
  * vectors: the model cannot embed 1M (nor 100k) chunks on this machine in reasonable time, so the real
    encoder embeds a real sample (the 5,183 abstract titles) and every chunk's vector is derived from
    it: normalize(title_vec[a] + 0.5 * title_vec[b] + N(0, 0.04^2 I)) with noise seeded by n. Sentence
    vectors are stored as zeros (build_index(sentence_vectors=False)); quote selection costs the same.
  * the build goes through build.build_index(documents=...), so asks run through Engine.ask on the
    project's own store format.

Every size is measured in its own subprocess so peak RSS (ru_maxrss) is per size.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GENERATOR_VERSION = "1"
SIZES = {"demo": 0, "100k": 100_000, "1m": 1_000_000}
NOISE = 0.04
TAG = re.compile(r"\(#(\d+)\)")
DEMO_QUESTIONS = [
    "Which banks were sanctioned?",
    "Who was indicted for the hacks?",
    "What is AppleJeus?",
    "Which mixer did Treasury sanction in 2023?",
    "How do North Korean IT workers get paid?",
    "What is TraderTraitor?",
    "Who laundered money for North Korean hackers?",
    "What happened to ChipMixer?",
    "What did the FBI say about the Ronin bridge?",
    "How much cryptocurrency was stolen?",
]


# ---------------------------------------------------------------------------------------------
# small helpers (unit-tested)


def percentiles(ms: list[float]) -> dict:
    """p50, p95 and p99 of a list of milliseconds (nearest-rank on the sorted list)."""
    if not ms:
        return {"p50": None, "p95": None, "p99": None, "n": 0}
    s = sorted(ms)

    def pick(p):
        return round(s[min(len(s) - 1, max(0, int(np.ceil(p / 100 * len(s))) - 1))], 2)

    return {"p50": pick(50), "p95": pick(95), "p99": pick(99), "n": len(s)}


def exact_topk(vectors, queries: np.ndarray, k: int = 10, block: int = 100_000) -> np.ndarray:
    """1-based ids of the exact top-k rows of `vectors` (may be memory-mapped) for each query."""
    q = np.asarray(queries, dtype=np.float32)
    best_s = np.full((len(q), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), 0), dtype=np.int64)
    for start in range(0, len(vectors), block):
        part = np.asarray(vectors[start : start + block], dtype=np.float32)
        s = q @ part.T
        kk = min(k, s.shape[1])
        idx = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        best_s = np.hstack([best_s, np.take_along_axis(s, idx, 1)])
        best_i = np.hstack([best_i, idx + start + 1])
        if best_s.shape[1] > k:
            keep = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
            best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1)


def recall_at_k(approx: list[list[int]], exact: list[list[int]], k: int = 10) -> float:
    """Mean share of the exact top-k found in the approximate top-k."""
    if not exact:
        return float("nan")
    vals = [len(set(list(a)[:k]) & set(list(e)[:k])) / max(1, min(k, len(e))) for a, e in zip(approx, exact)]
    return float(np.mean(vals))


def ann_recall(build, queries: np.ndarray, k: int = 10) -> float:
    """recall@k of build.dense (whatever index the build has) against exact search over its vectors."""
    exact = exact_topk(build.vectors.chunk_vecs, queries, k)
    approx = [[cid for cid, _ in build.dense(q, k)] for q in queries]
    return recall_at_k(approx, exact.tolist(), k)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def machine() -> dict:
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "")
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "mem_mb": mem,
        "cpu": cpu,
        "python": sys.version.split()[0],
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


# ---------------------------------------------------------------------------------------------
# the synthetic large corpora


def scifact_dir(root: Path) -> Path:
    return Path(os.environ.get("QABOT_SCIFACT", root.parent / "shared" / "bench" / "scifact"))


def load_abstracts(corpus: Path, limit: int | None = None) -> list[tuple[str, list[str]]]:
    """(title, sentences) per SciFact abstract, sentences split by the project's chunker."""
    from index.chunking import chunk_document

    out = []
    with open(corpus, encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            text = " ".join(d.get("text", "").split())
            if not text:
                continue
            sents, _ = chunk_document(text)
            ss = [text[s.start : s.end] for s in sents]
            if ss:
                out.append((" ".join(d.get("title", "").split()) or "Untitled", ss))
            if limit and len(out) >= limit:
                break
    return out


def synthetic_plan(n_abstracts: int, n: int, seed: int = 5) -> np.ndarray:
    """Per synthetic document: abstract a, start share, width, second abstract b (-1 none), its width."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n_abstracts, n)
    start = rng.random(n)
    width = rng.integers(2, 4, n)  # 2-3 sentences
    b = np.where(rng.random(n) < 0.5, rng.integers(0, n_abstracts, n), -1)
    bw = rng.integers(1, 3, n)
    return np.stack([a, (start * 1e6).astype(np.int64), width, b, bw], axis=1)


def bench_sets(j: int) -> tuple[str, ...]:
    """The document sets of synthetic document j for `qabot bench sets`: every 2nd in `half`, every 10th
    in `tenth`, every 100th in `hundredth` (besides `all`)."""
    return ("all",) + tuple(name for name, every in SET_SHARES if j % every == 0)


SET_SHARES = (("half", 2), ("tenth", 10), ("hundredth", 100))


def synthetic_documents(abstracts, plan: np.ndarray, with_sets: bool = False):
    """Documents (deterministic) made of real sentences; chunks come from the project's chunker.
    `with_sets` puts them in bench_sets' sets (otherwise each is in `all` only)."""
    from index.types import Document

    docs = []
    for j, (a, st, w, b, bw) in enumerate(plan.tolist()):
        title, ss = abstracts[a]
        s0 = int(st / 1e6 * max(1, len(ss) - w + 1))
        parts = ss[s0 : s0 + w]
        if b >= 0:
            sb = abstracts[b][1]
            parts = parts + sb[:bw]
        text = " ".join(parts)
        docs.append(
            Document(
                path=f"scifact-synthetic/{j:07d}.txt",
                title=f"{title} (#{j})",
                text=text,
                kind="text",
                content_hash=f"{GENERATOR_VERSION}-{j}-{len(text)}",
                sets=bench_sets(j) if with_sets else ("all",),
            )
        )
    return docs


class DerivedEncoder:
    """Vectors derived from real title embeddings (see the module docstring); the model's name and dim."""

    def __init__(self, title_vecs: np.ndarray, plan: np.ndarray, name: str, seed: int = 7):
        self.title_vecs = np.asarray(title_vecs, dtype=np.float32)
        self.plan = plan
        self.name = name
        self.dim = self.title_vecs.shape[1]
        self.seed = seed
        self.loaded = True

    def load(self):
        return self

    def vector(self, j: int) -> np.ndarray:
        a, _, _, b, _ = self.plan[j]
        v = self.title_vecs[a].copy()
        if b >= 0:
            v += 0.5 * self.title_vecs[b]
        v += np.random.default_rng([self.seed, j]).normal(0.0, NOISE, self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode(self, texts: list[str], progress: bool = False, desc: str = "") -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            m = TAG.search(t[:2000])
            if m:
                out[i] = self.vector(int(m.group(1)))
            else:  # text without a document tag (sentences, when asked): a seeded random unit vector
                v = np.random.default_rng(abs(hash(t)) % (2**32)).normal(size=self.dim).astype(np.float32)
                out[i] = v / np.linalg.norm(v)
        return out


def large_settings(root: Path, size: str, cache: Path | None = None):
    from index.config import Settings

    cache = cache or (root / ".bench_cache")
    return Settings(root=root, sources=("scifact-synthetic",), index_dir=str(cache / f"speed-{size}"))


def title_vectors(root: Path, abstracts, cache: Path, encoder=None) -> tuple[np.ndarray, dict]:
    """The real sample: every abstract title embedded once by the real model (cached)."""
    path = cache / f"scifact-title-vecs-{len(abstracts)}.npy"
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file():
        return np.load(path), json.loads(meta_path.read_text())
    if encoder is None:
        from index.embedding import shared_encoder

        encoder = shared_encoder()
    encoder.load()
    titles = [t for t, _ in abstracts]
    t0 = time.perf_counter()
    vecs = encoder.encode(titles)
    dt = time.perf_counter() - t0
    meta = {"texts": len(titles), "seconds": round(dt, 2), "texts_per_s": round(len(titles) / dt, 1)}
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    meta_path.write_text(json.dumps(meta))
    return vecs, meta


LEAN_ABOVE = 200_000  # larger synthetic sizes are written by write_lean_build (build_index holds ~25 KB a chunk)


def write_lean_build(settings, encoder: DerivedEncoder, docs, index_kind: str | None = None):
    """build_index's rows, files and manifest, through the same build.lay_out and build.write_build, in
    less memory: no text is embedded (each chunk's vector comes from DerivedEncoder.vector), chunk vectors
    fill one preallocated array, sentence vectors are float16 zeros, and the manifest leaves out the
    per-document hash map, which nothing reads. Used for the 1m size only."""
    from index.build import lay_out, write_build
    from index.store import IndexStore
    from index.types import BuildSummary

    t0 = time.perf_counter()
    store = IndexStore(settings.index_path)
    layout = lay_out(docs)
    cv = np.zeros((len(layout.chunks), encoder.dim), dtype=np.float32)
    for i, chunk in enumerate(layout.chunks):
        cv[i] = encoder.vector(layout.documents[chunk[0]][0] - 1)  # the plan's row of the chunk's document
    sv = np.zeros((len(layout.sentences), encoder.dim), dtype=np.float16)
    with store.lock():
        build_id = write_build(store, layout, cv, sv, encoder.name, settings.sources, index_kind, hashes=False)
    summary = BuildSummary(
        chunks=len(layout.chunks),
        sentences=len(layout.sentences),
        build_id=build_id,
        added=len(docs),
        embedded_chunks=len(docs),
        switched=True,
    )
    summary.seconds = time.perf_counter() - t0
    return summary


def ensure_large_index(
    root: Path,
    size: str,
    n: int,
    cache: Path | None = None,
    corpus: Path | None = None,
    encoder=None,
    index_kind: str | None = None,
    with_sets: bool = False,
) -> dict:
    """Build (or reuse from the cache) the synthetic index for `size`; returns what was done. `with_sets`
    builds it with bench_sets' document sets, in a folder of its own (`speed-<size>-sets`)."""
    from index.build import build_index
    from index.embedding import MODEL_NAME
    from index.store import IndexStore

    cache = cache or (root / ".bench_cache")
    settings = large_settings(root, size + ("-sets" if with_sets else ""), cache)
    marker = settings.index_path / "bench.json"
    want = {"generator": GENERATOR_VERSION, "n": n, "index_kind": index_kind} | ({"sets": True} if with_sets else {})
    if IndexStore(settings.index_path).exists() and marker.is_file():
        got = json.loads(marker.read_text())
        if all(got.get(k) == v for k, v in want.items()):
            return got | {"cached": True}
    corpus = corpus or (scifact_dir(root) / "corpus.jsonl")
    t0 = time.perf_counter()
    abstracts = load_abstracts(corpus)
    tvecs, tmeta = title_vectors(root, abstracts, cache, encoder=encoder)
    plan = synthetic_plan(len(abstracts), n)
    docs = synthetic_documents(abstracts, plan, with_sets)
    t_gen = time.perf_counter() - t0
    name = getattr(encoder, "name", None) or MODEL_NAME
    if settings.index_path.exists():
        shutil.rmtree(settings.index_path)
    enc = DerivedEncoder(tvecs, plan, name)
    if n <= LEAN_ABOVE:
        summary = build_index(settings, enc, full=True, documents=docs, sentence_vectors=False, index_kind=index_kind)
        writer = "build.build_index(documents=..., sentence_vectors=False)"
    else:
        summary = write_lean_build(settings, enc, docs, index_kind=index_kind)
        writer = "bench.speed.write_lean_build (build_index's build.lay_out and build.write_build)"
    info = want | {
        "chunks": summary.chunks,
        "sentences": summary.sentences,
        "documents": len(docs),
        "writer": writer,
        "build_s": round(summary.seconds, 1),
        "generate_s": round(t_gen, 1),
        "title_encoder": tmeta,
        "built_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "build_peak_rss_mb": round(peak_rss_mb()),
        "vectors": "derived from real title embeddings + seeded noise; sentence vectors zero",
    }
    marker.write_text(json.dumps(info, indent=1))
    return info | {"cached": False}


# ---------------------------------------------------------------------------------------------
# measurements


def demo_questions(root: Path) -> list[str]:
    path = root.parent / "shared" / "eval" / "dev.jsonl"
    qs = []
    if path.is_file():
        for line in open(path, encoding="utf-8"):
            try:
                qs.append(json.loads(line)["question"])
            except (ValueError, KeyError):
                pass
    return qs or list(DEMO_QUESTIONS)


def scifact_questions(root: Path) -> list[str]:
    path = scifact_dir(root) / "queries.jsonl"
    if not path.is_file():
        return list(DEMO_QUESTIONS)
    return [json.loads(ln)["text"] for ln in open(path, encoding="utf-8") if ln.strip()]


def measure_asks(engine, questions: list[str], n: int = 200, warm: int = 5) -> dict:
    """Warm, in-process Engine.ask latency over `n` distinct questions (cycled if fewer)."""
    from index.errors import QuestionError

    for q in questions[:warm]:
        try:
            engine.ask(q)
        except QuestionError:
            pass
    ms, cpu = [], []
    qs = questions[warm:] or questions
    for i in range(n):
        q = qs[i % len(qs)]
        if i >= len(qs):  # a repeat would hit the question-vector cache: make it distinct
            q = f"{q} ({i // len(qs)})"
        c0, t0 = time.process_time(), time.perf_counter()
        try:
            engine.ask(q)
        except QuestionError:
            continue
        ms.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    # CPU time of the process per ask (all threads): what the ask costs when the machine is not shared
    return percentiles(ms) | {"cpu_ms": percentiles(cpu)}


def size_worker(spec: dict) -> dict:
    """Run in a subprocess: open one size's index, time asks, peak RSS, then ANN recall."""
    from index.config import load_settings
    from index.engine import Engine

    root = Path(spec["root"])
    size = spec["size"]
    if size == "demo":
        settings = load_settings(
            spec.get("config"), **({"index_dir": spec["index_dir"]} if spec.get("index_dir") else {})
        )
        questions = demo_questions(root)
    else:
        settings = large_settings(root, size, Path(spec["cache"]))
        questions = scifact_questions(root)
    t0 = time.perf_counter()
    engine = Engine(settings)
    build = engine.build()
    engine.encoder.load()
    open_s = time.perf_counter() - t0
    asks = measure_asks(engine, questions, n=spec.get("asks", 200))
    out = {
        "size": size,
        "chunks": build.n_chunks,
        "index_type": build.manifest.get("index_type"),
        "open_s": round(open_s, 2),
        "ask_ms": asks,
        "rss_mb": round(peak_rss_mb(), 1),
        "index_bytes": dir_bytes(build.path),
    }
    if build.manifest.get("index_type") not in (None, "flat"):
        qv = np.vstack([engine.embed_question(q) for q in questions[: spec.get("recall_queries", 200)]])
        out["ann_recall_at_10"] = round(ann_recall(build, qv, 10), 4)
    return out


def _run_worker(kind: str, spec: dict, timeout: float = 7200) -> dict:
    cmd = [sys.executable, "-m", "bench.speed", kind, json.dumps(spec)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=spec.get("root"))
    if p.returncode != 0:
        raise RuntimeError(f"{kind} worker failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _time_cmd(argv: list[str], cwd: Path, repeat: int = 3) -> float:
    """Median wall time of a command in a fresh process (seconds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=cwd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3)


def qabot_argv(args_prefix: list[str] | None = None) -> list[str]:
    exe = Path(sys.executable).with_name("qabot")
    base = [str(exe)] if exe.is_file() else [sys.executable, "-m", "cli"]
    return base + (args_prefix or [])


def measure_startup(root: Path, common: list[str], repeat: int = 3) -> dict:
    """`qabot --help`, a no-change `qabot index`, and a cold `qabot ask` (the index must exist)."""
    help_s = _time_cmd(qabot_argv(["--help"]), root, repeat)
    subprocess.run(qabot_argv(common + ["index", "-q"]), cwd=root, capture_output=True, check=True)  # make it current
    nochange = _time_cmd(qabot_argv(common + ["index", "-q"]), root, repeat)
    cold = _time_cmd(qabot_argv(common + ["ask", "--json", "Which banks were sanctioned?"]), root, 1)
    return {"help_s": help_s, "nochange_index_s": nochange, "cold_first_answer_s": cold}


def build_texts(settings) -> tuple[list[str], list[str]]:
    """The chunk and sentence texts a full build of `settings`' sources embeds (same order)."""
    from index.build import lay_out
    from index.loaders import load_documents

    docs, _ = load_documents(settings.source_paths, settings.root, settings.base_url)
    layout = lay_out(docs)
    return layout.chunk_embed_texts(range(len(layout.chunks))), layout.sentence_texts(range(len(layout.sentences)))


def measure_build(settings, encoder=None, rounds: int = 1) -> dict:
    """Full build throughput of the demo sources (load, chunk, embed, store) vs the raw encoder on the
    same texts; both after the model is loaded and warm. Alternates raw/pipeline `rounds` times and
    keeps each one's best."""
    from index.build import build_index
    from index.embedding import shared_encoder

    encoder = encoder or shared_encoder()
    encoder.load()
    chunks, sents = build_texts(settings)
    encoder.encode(chunks[:16])
    raw, pipe, summary = [], [], None
    with tempfile.TemporaryDirectory(prefix="qabot-bench-") as tmp:
        s = settings.with_(index_dir=str(Path(tmp) / "idx"))
        for _ in range(rounds):
            t0 = time.perf_counter()
            encoder.encode(chunks)
            encoder.encode(sents)
            raw.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            summary = build_index(s, encoder, full=True)
            pipe.append(time.perf_counter() - t0)
    t_raw, t_pipe = min(raw), min(pipe)
    n_c, n_s = summary.chunks, summary.sentences
    return {
        "chunks": n_c,
        "sentences": n_s,
        "pipeline_s": round(t_pipe, 2),
        "raw_encoder_s": round(t_raw, 2),
        "pipeline_chunks_per_s": round(n_c / t_pipe, 2),
        "pipeline_sentences_per_s": round(n_s / t_pipe, 2),
        "raw_chunks_per_s": round(n_c / t_raw, 2),
        "raw_sentences_per_s": round(n_s / t_raw, 2),
        "pipeline_texts_per_s": round((n_c + n_s) / t_pipe, 2),
        "raw_texts_per_s": round((len(chunks) + len(sents)) / t_raw, 2),
        "build_ratio": round(t_raw / t_pipe * (n_c + n_s) / max(1, len(chunks) + len(sents)), 3),
    }


async def _loop_lag(
    engine,
    questions: list[str],
    n_questions: int = 50,
    full: bool = True,
    tick: float = 0.01,
    idle: float = 5.0,
    ask=None,
) -> dict:
    """Largest delay of a 10 ms ticker while `ask` (default Engine.aask) runs n questions and a rebuild runs."""
    ask = ask or engine.aask
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker():
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            t0 = loop.time()
            await asyncio.sleep(tick)
            lags.append((loop.time() - t0 - tick) * 1000)

    tk = asyncio.create_task(ticker())
    await asyncio.sleep(idle)  # the machine's own noise floor: the same ticker with nothing in flight
    idle_lags, lags[:] = list(lags), []
    t0 = time.perf_counter()
    qs = [questions[i % len(questions)] + ("" if i < len(questions) else f" ({i})") for i in range(n_questions)]
    results = await asyncio.gather(engine.arebuild(full), *(ask(q) for q in qs), return_exceptions=True)
    wall = time.perf_counter() - t0
    stop.set()
    await tk
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return {
        "loop_lag_ms": round(max(lags), 1) if lags else None,
        "loop_lag_p99_ms": percentiles(lags)["p99"],
        "ticks": len(lags),
        "wall_s": round(wall, 1),
        "idle_lag_ms": round(max(idle_lags), 1) if idle_lags else None,
        "questions": n_questions,
        "reindex": "full" if full else "incremental",
        "errors": errors[:3],
    }


def loop_lag_worker(spec: dict) -> dict:
    """Subprocess: a copy of the demo index, the model warm, then 50 questions through the bot's answering
    path (QABot.answer: its concurrency limit, Engine.aask, the activity log) + a full arebuild at once."""
    from index.config import load_settings
    from index.engine import Engine

    root = Path(spec["root"])
    base = load_settings(spec.get("config"), **({"index_dir": spec["index_dir"]} if spec.get("index_dir") else {}))
    with tempfile.TemporaryDirectory(prefix="qabot-lag-") as tmp:
        shutil.copytree(base.index_path, Path(tmp) / "idx", ignore=shutil.ignore_patterns("lock", "activity.sqlite*"))
        settings = base.with_(index_dir=str(Path(tmp) / "idx"))
        engine = Engine(settings)

        async def run():
            from bot import create_bot  # the Discord edge, imported only for this measurement

            bot = create_bot(settings, engine)
            await bot.warm_up()  # what the bot does on start: index, model, then it freezes the GC's old objects
            res = await _loop_lag(
                engine,
                demo_questions(root),
                spec.get("questions", 50),
                spec.get("full", True),
                ask=lambda q: bot.answer(q, channel="bench"),
            )
            return res | {"path": "QABot.answer"}

        return asyncio.run(run())


# ---------------------------------------------------------------------------------------------


def _say(msg: str, quiet: bool) -> None:
    print(msg, file=sys.stderr if quiet else sys.stdout, flush=True)


def main(args) -> int:
    from index.config import load_settings

    as_json = bool(getattr(args, "json", False))
    sizes = [s.strip().lower() for s in (getattr(args, "sizes", None) or "demo,100k,1m").split(",") if s.strip()]
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        print(f"qabot: unknown size(s) {', '.join(bad)}; choose from {', '.join(SIZES)}", file=sys.stderr)
        return 2
    overrides = {"index_dir": os.path.abspath(args.index_dir)} if getattr(args, "index_dir", None) else {}
    settings = load_settings(getattr(args, "config", None), **overrides)
    root = settings.root
    cache = root / ".bench_cache"
    common = (["--config", args.config] if getattr(args, "config", None) else []) + (
        ["--index-dir", str(settings.index_path)] if overrides else []
    )
    spec_base = {
        "root": str(root),
        "cache": str(cache),
        "config": getattr(args, "config", None),
        "index_dir": overrides.get("index_dir"),
    }
    out: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "command": "qabot bench speed "
        + " ".join((["--sizes", ",".join(sizes)] if sizes != list(SIZES) else []) + (["--json"] if as_json else [])),
    }
    say = lambda m: _say(m, as_json)

    say("start-up (subprocesses) …")
    out.update(measure_startup(root, common))
    say(
        f"  qabot --help {out['help_s']} s; no-change qabot index {out['nochange_index_s']} s; "
        f"cold first answer {out['cold_first_answer_s']} s"
    )

    say("build throughput on the demo corpus (full build vs raw encoder) …")
    out["build"] = _run_worker("--build-worker", spec_base | {"rounds": 3})  # best of 3: one build is ~15 s, noisy here
    out["build_ratio"] = out["build"]["build_ratio"]
    b = out["build"]
    say(
        f"  pipeline {b['pipeline_chunks_per_s']} chunks/s, {b['pipeline_sentences_per_s']} sentences/s; raw encoder "
        f"{b['raw_chunks_per_s']} chunks/s, {b['raw_sentences_per_s']} sentences/s (same texts); "
        f"ratio {b['build_ratio']}"
    )

    out["ask_ms"], out["rss_mb"], out["index_mb"], out["index_type"], out["ann_recall_at_10"], out["sizes"] = (
        {},
        {},
        {},
        {},
        {},
        {},
    )
    for size in sizes:
        if SIZES[size]:
            say(f"{size}: building or reusing the cached synthetic index …")
            info = _run_worker("--large-build-worker", spec_base | {"size": size, "n": SIZES[size]}, timeout=4 * 3600)
            say(
                f"  {info['chunks']} chunks "
                f"({'cached' if info.get('cached') else 'built in {} s'.format(info.get('build_s'))})"
            )
        say(f"{size}: asking …")
        r = _run_worker("--size-worker", spec_base | {"size": size})
        out["sizes"][size] = r
        out["ask_ms"][size] = r["ask_ms"]
        out["rss_mb"][size] = r["rss_mb"]
        out["index_mb"][size] = round(r["index_bytes"] / 2**20, 1)
        out["index_type"][size] = r["index_type"]
        if "ann_recall_at_10" in r:
            out["ann_recall_at_10"][size] = r["ann_recall_at_10"]
        say(
            f"  {r['chunks']} chunks, {r['index_type']}: ask p50 {r['ask_ms']['p50']} / p95 {r['ask_ms']['p95']} / "
            f"p99 {r['ask_ms']['p99']} ms; peak RSS {r['rss_mb']} MB; index {out['index_mb'][size]} MB on disk"
            + (f"; ANN recall@10 {r['ann_recall_at_10']}" if "ann_recall_at_10" in r else "")
        )
    if any(SIZES[s] for s in sizes):
        out["large_sizes_note"] = (
            "100k/1m: real SciFact sentences, real FTS, real SciFact queries; chunk vectors derived from "
            "real title embeddings + seeded noise (not every chunk embedded); sentence vectors zero"
        )

    say("event-loop lag: 50 questions through the bot's answer path + a full engine.arebuild in flight …")
    lag = _run_worker("--lag-worker", spec_base)
    out["loop_lag_ms"] = lag["loop_lag_ms"]
    out["loop_lag"] = lag
    say(
        f"  largest 10 ms ticker delay {lag['loop_lag_ms']} ms over {lag['wall_s']} s "
        f"({lag['ticks']} ticks; idle machine noise {lag.get('idle_lag_ms')} ms)"
    )
    out["txtai"] = (
        "txtai's build time and query latency are measured beside ours, in one run on the same "
        "SciFact texts and model, by `qabot bench beir DIR` (docs/BENCHMARKS.md)"
    )
    say(f"txtai: {out['txtai']}")
    out["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out["targets"] = check_targets(out)
    if as_json:
        print(json.dumps(out))
    else:
        for name, (ok, text) in out["targets"].items():
            print(f"  [{'ok' if ok else 'MISS' if ok is False else '--'}] {name}: {text}")
    return 0


def check_targets(out: dict) -> dict:
    """Which of issue 5's targets this run meets (None when not measured)."""
    t = {}
    lim = {"demo": 50, "100k": 80, "1m": 150}
    for size, cap in lim.items():
        p95 = (out.get("ask_ms", {}).get(size) or {}).get("p95")
        t[f"ask p95 {size} <= {cap} ms"] = (None if p95 is None else p95 <= cap, f"{p95} ms")
    for size, r in (out.get("ann_recall_at_10") or {}).items():
        t[f"ANN recall@10 {size} >= 0.95"] = (r >= 0.95, str(r))
    if "build_ratio" in out:
        t["build ratio >= 0.85"] = (out["build_ratio"] >= 0.85, str(out["build_ratio"]))
    for k, cap in (("help_s", 1.0), ("nochange_index_s", 1.0), ("cold_first_answer_s", 10.0)):
        if k in out:
            t[f"{k} < {cap} s"] = (out[k] < cap, f"{out[k]} s")
    rss = (out.get("rss_mb") or {}).get("100k")
    t["peak RSS 100k <= 1536 MB"] = (None if rss is None else rss <= 1536, f"{rss} MB")
    if out.get("loop_lag_ms") is not None:
        t["loop lag <= 100 ms"] = (out["loop_lag_ms"] <= 100, f"{out['loop_lag_ms']} ms")
    return t


def sets_worker(spec: dict) -> dict:
    """Run in a subprocess: on the 100k index with document sets, time search and Engine.ask unfiltered
    and filtered to each set, check that every hit is in its set, and the filtered dense recall."""
    from index.engine import Engine
    from index.retrieve import search_params
    from index.search import keyword_query, search
    from index.sets import wanted

    root, cache = Path(spec["root"]), Path(spec["cache"])
    settings = large_settings(root, spec["size"] + "-sets", cache)
    engine = Engine(settings)
    build = engine.build()
    engine.encoder.load()
    questions = scifact_questions(root)[: int(spec.get("queries", 200))]
    qvecs = engine.embed_questions(questions)
    sp = search_params(engine.answerer.p)
    k = engine.answerer.p.candidates + engine.answerer.p.retrieve_extra
    out: dict = {"chunks": build.n_chunks, "index_type": build.manifest.get("index_type"), "sets": {}}
    for name in ("all", *(n for n, _ in SET_SHARES)):
        scope, _ = build.scope(wanted([name], None))
        for q, v in zip(questions[:5], qvecs[:5]):  # warm: the scope is made, the pages are read
            search(build, q, v, sp, k=k, scope=scope)
        dense_ms, kw_ms, search_ms, outside = [], [], [], 0
        recall = []
        for q, v in zip(questions, qvecs):
            t0 = time.perf_counter()
            build.dense(v, sp.depth, scope)
            dense_ms.append((time.perf_counter() - t0) * 1000)
            match = keyword_query(build, q)
            t0 = time.perf_counter()
            build.keyword(match, sp.depth, scope)
            kw_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            hits = search(build, q, v, sp, k=k, scope=scope)
            search_ms.append((time.perf_counter() - t0) * 1000)
            if scope is not None:
                outside += sum(not scope.allows(h.chunk_id) for h in hits)
        if scope is not None:  # the filtered dense top-10 against exact search over the set's own vectors
            ids = np.flatnonzero(scope.mask)
            sub = build.vectors.chunk_vecs[ids - 1]
            exact = exact_topk(sub, qvecs[:50], 10)
            got = [[c for c, _ in build.dense(v, 10, scope)] for v in qvecs[:50]]
            recall.append(recall_at_k(got, [[int(ids[i - 1]) for i in row] for row in exact.tolist()], 10))
        asks = measure_asks_scoped(engine, questions, [name] if name != "all" else None)
        out["sets"][name] = {
            "chunks": build.n_chunks if scope is None else scope.chunks,
            "dense_ms": percentiles(dense_ms),
            "keyword_ms": percentiles(kw_ms),
            "search_ms": percentiles(search_ms),
            "ask_ms": asks,
            "hits_outside_set": outside,
            "dense_recall_at_10": round(recall[0], 4) if recall else None,
        }
    out["rss_mb"] = round(peak_rss_mb(), 1)
    return out


def measure_asks_scoped(engine, questions: list[str], sets, n: int = 100) -> dict:
    """Warm Engine.ask latency limited to `sets` (None: every document), over distinct questions."""
    from index.errors import QuestionError

    ms = []
    for i in range(n):
        q = questions[i % len(questions)] + ("" if i < len(questions) else f" ({i})")
        t0 = time.perf_counter()
        try:
            engine.ask(q, sets=sets)
        except QuestionError:
            continue
        ms.append((time.perf_counter() - t0) * 1000)
    return percentiles(ms)


def sets_main(args) -> int:
    """`qabot bench sets`: filtered against unfiltered search at 100k chunks, one index, sets in SQLite."""
    from index.config import load_settings

    as_json = bool(getattr(args, "json", False))
    settings = load_settings(getattr(args, "config", None))
    root = settings.root
    cache = root / ".bench_cache"
    spec = {"root": str(root), "cache": str(cache), "size": "100k", "n": SIZES["100k"]}
    _say("100k with document sets: building or reusing the cached synthetic index …", as_json)
    info = _run_worker("--large-build-worker", spec | {"sets": True}, timeout=4 * 3600)
    built = "cached" if info.get("cached") else f"built in {info.get('build_s')} s"
    _say(f"  {info['chunks']} chunks ({built})", as_json)
    _say("searching and asking, unfiltered and per set …", as_json)
    res = _run_worker("--sets-worker", spec)
    res |= {
        "command": "qabot bench sets" + (" --json" if as_json else ""),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "note": "sets: every 2nd synthetic document in `half`, every 10th in `tenth`, every 100th in `hundredth`; "
        "SciFact queries; one FAISS index filtered by IDSelectorBitmap, FTS5 rows filtered by the same mask",
    }
    if as_json:
        print(json.dumps(res))
        return 0
    print(
        f"{res['chunks']} chunks, {res['index_type']} index; p50 / p95 ms over "
        f"{res['sets']['all']['dense_ms']['n']} queries"
    )
    print(
        f"  {'set':<10} {'chunks':>8} {'dense':>13} {'keyword':>13} {'search':>13} {'Engine.ask':>13}"
        "  outside  recall@10"
    )
    for name, r in res["sets"].items():
        cell = lambda d: f"{d['p50']:.1f} / {d['p95']:.1f}"
        print(
            f"  {name:<10} {r['chunks']:>8} {cell(r['dense_ms']):>13} {cell(r['keyword_ms']):>13} "
            f"{cell(r['search_ms']):>13} {cell(r['ask_ms']):>13}  {r['hits_outside_set']:>7}  "
            f"{'-' if r['dense_recall_at_10'] is None else r['dense_recall_at_10']}"
        )
    print(f"  peak RSS {res['rss_mb']} MB")
    return 0


def _worker_main(argv: list[str]) -> int:
    kind, spec = argv[0], json.loads(argv[1])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("discord").setLevel(logging.ERROR)  # "voice will NOT be supported": not news here
    if kind == "--size-worker":
        res = size_worker(spec)
    elif kind == "--build-worker":
        from index.config import load_settings

        st = load_settings(spec.get("config"), **({"index_dir": spec["index_dir"]} if spec.get("index_dir") else {}))
        res = measure_build(st, rounds=int(spec.get("rounds", 1)))
    elif kind == "--large-build-worker":
        res = ensure_large_index(
            Path(spec["root"]), spec["size"], int(spec["n"]), Path(spec["cache"]), with_sets=bool(spec.get("sets"))
        )
    elif kind == "--sets-worker":
        res = sets_worker(spec)
    elif kind == "--lag-worker":
        res = loop_lag_worker(spec)
    else:
        print(f"unknown worker {kind}", file=sys.stderr)
        return 2
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
