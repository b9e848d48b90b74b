"""Issue 6, engine side: kill -9 during builds, write failures, corruption, two builds at once,
reindex under load, and a database opened read-only.

Build mechanics use the deterministic hash encoder (through tests/qabot_probe.py, which runs the real
`qabot` CLI code with instrumented moments); a few kill trials, the CLI corruption checks and the load
test use the real model and the real session index. Lines starting "RELIABILITY" carry the figures
quoted in docs/RELIABILITY.md (run with -s to see them).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from index import store as store_mod
from index.build import build_index
from index.config import Settings
from index.embedding import HashEncoder
from index.engine import Engine
from index.errors import BuildError, BuildLockedError, CorruptIndexError, IndexUnavailableError
from index.store import DATA_FILES, IndexStore

from clikit import ENV, PROBE, PY, QABOT
from conftest import ROOT

QUESTION = "Which banks were sanctioned?"

pytestmark = pytest.mark.slow


def report(**figures):
    print("RELIABILITY " + json.dumps(figures, sort_keys=True), flush=True)


# ---- helpers ---------------------------------------------------------------------------------
class Proc:
    """A subprocess whose stderr is read line by line so a test can wait for a "@moment" marker."""

    def __init__(self, argv, env=None, cwd=ROOT):
        self.p = subprocess.Popen(
            argv, cwd=cwd, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.out = ""

    def _read(self):
        for line in self.p.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append("<eof>")
            self.cond.notify_all()

    def wait_for(self, marker: str, timeout: float = 300) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while "@" + marker not in self.lines:
                if "<eof>" in self.lines:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(30)

    def finish(self, timeout=300) -> int:
        self.out = self.p.stdout.read()
        rc = self.p.wait(timeout)
        self.t.join(10)
        return rc

    @property
    def stderr(self) -> str:
        return "\n".join(line for line in self.lines if line != "<eof>")


def probe(*args, hash_encoder=True, extra_env=None, stop=None, go=None) -> Proc:
    env = dict(ENV)
    if hash_encoder:
        env["QT_ENCODER"] = "hash"
    if stop:
        env["QT_STOP"] = stop
    if go:
        env["QT_GO"] = str(go)
    env.update(extra_env or {})
    return Proc([PY, PROBE, *args], env=env)


def run(argv, hash_encoder=True, timeout=600, stdin=None, extra_env=None):
    """Run the CLI to completion: through the probe (hash encoder) or the real `qabot` script."""
    env = dict(ENV)
    if hash_encoder:
        env["QT_ENCODER"] = "hash"
        argv = [PY, PROBE, *argv]
    else:
        argv = [QABOT, *argv]
    env.update(extra_env or {})
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, input=stdin)


def leftovers(index_dir: Path) -> list[str]:
    """Unfinished builds, pointer temp files and finished builds never switched to."""
    s = IndexStore(index_dir)
    out = [p.name for p in (index_dir / "builds").glob(".tmp-*")] + [p.name for p in index_dir.glob("CURRENT.tmp-*")]
    ptr = s.pointer()
    if ptr:
        out += [p.name for p in (index_dir / "builds").iterdir() if not p.name.startswith(".") and p.name > ptr[0]]
    return out


def check_answer_json(stdout: str) -> dict:
    out = json.loads(stdout.strip().splitlines()[-1])
    assert set(out) >= {"question", "abstained", "quotes", "took_ms"}
    for q in out["quotes"]:
        assert q["text"] in (ROOT / q["doc"]).read_text(encoding="utf-8"), q
    return out


@pytest.fixture(scope="module")
def hash_template(tmp_path_factory):
    """An index of the real corpus built with the hash encoder (copied by tests that damage it)."""
    d = tmp_path_factory.mktemp("hash-template") / "idx"
    s = build_index(Settings(root=ROOT, index_dir=str(d)), HashEncoder(), full=True)
    assert s.switched and s.added >= 20
    return d


@pytest.fixture()
def hash_index(hash_template, tmp_path):
    d = tmp_path / "idx"
    shutil.copytree(hash_template, d)
    return d


@pytest.fixture()
def real_index(engine, corpus_settings, tmp_path):
    """A copy of the session's real-model index (sources: the project's corpus)."""
    d = tmp_path / "real-idx"
    shutil.copytree(corpus_settings.index_path, d, ignore=shutil.ignore_patterns("lock", "activity.sqlite*"))
    return d


# ---- 1. kill -9 during `qabot index --full` ----------------------------------------------------
# Each moment is reached in order during a build; the process pauses there and is killed with SIGKILL.
HASH_MOMENTS = [
    "t+0.3",
    "cleanup-1",
    "load",
    "load-mid",
    "loaded",
    "chunk",
    "embed-chunks",
    "embed-sentences",
    "tmpdir",
    "db-written",
    "npy",
    "commit",
    "fsync",
    "rename",
    "renamed",
    "switch",
    "switched",
    "cleanup-2",
]
PHASE = {
    "t+0.3": "loading",
    "cleanup-1": "loading",
    "load": "loading",
    "load-mid": "loading",
    "loaded": "loading",
    "chunk": "loading",
    "embed-chunks": "embedding",
    "embed-sentences": "embedding",
    "tmpdir": "writing",
    "db-written": "writing",
    "npy": "writing",
    "commit": "writing",
    "fsync": "writing",
    "rename": "switching",
    "renamed": "switching",
    "switch": "switching",
    "switched": "switching",
    "cleanup-2": "switching",
}
AFTER_SWITCH = {"switched", "cleanup-2"}


def kill_trial(index_dir: Path, moment: str, hash_encoder: bool, script: bool = False) -> dict:
    store = IndexStore(index_dir)
    before = store.pointer()[0]
    t0 = time.monotonic()
    if moment.startswith("t+"):
        argv = ([QABOT] if script else [PY, PROBE]) + ["--index-dir", str(index_dir), "index", "--full", "-q"]
        env = dict(ENV, **({"QT_ENCODER": "hash"} if hash_encoder else {}))
        p = Proc(argv, env=env)
        time.sleep(float(moment[2:]))
        assert p.p.poll() is None, "the build finished before it could be killed"
        p.kill()
    elif "+" in moment:  # "marker+seconds": kill that long after the marker, without pausing
        marker, delay = moment.split("+")
        p = probe("--index-dir", str(index_dir), "index", "--full", "-q", hash_encoder=hash_encoder)
        assert p.wait_for(marker), p.stderr
        time.sleep(float(delay))
        assert p.p.poll() is None, "the build finished before it could be killed"
        p.kill()
    else:
        p = probe("--index-dir", str(index_dir), "index", "--full", "-q", hash_encoder=hash_encoder, stop=moment)
        assert p.wait_for(moment), p.stderr
        p.kill()
    killed_after = time.monotonic() - t0
    # the pointer names a complete, verified build: the previous one, or the new one once switched
    after = store.pointer()[0]
    if moment not in AFTER_SWITCH:
        assert after == before, f"killed at {moment}: pointer moved from {before} to {after}"
    store.open_current(verify=True).close()
    # `qabot ask` answers from it
    r = run(["--index-dir", str(index_dir), "ask", "--json", QUESTION], hash_encoder=hash_encoder)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    ans = check_answer_json(r.stdout)
    assert ans["quotes"], "no quotes after the kill"
    assert store.pointer()[0] == after
    # and the next `qabot index` succeeds and cleans up the leftovers
    left_before = leftovers(index_dir)
    r = run(["--index-dir", str(index_dir), "index", "-q"], hash_encoder=hash_encoder)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert leftovers(index_dir) == []
    store.open_current(verify=True).close()
    return {
        "moment": moment,
        "phase": PHASE.get(moment, "embedding" if "embed" in moment else "loading"),
        "killed_after_s": round(killed_after, 2),
        "served": after,
        "previous": before,
        "leftovers_cleaned": len(left_before),
        "model": "hash" if hash_encoder else "real",
    }


def test_kill_during_build_hash_encoder(hash_index):
    """18 SIGKILL moments spread over loading, embedding, writing and switching (fast encoder)."""
    results = [kill_trial(hash_index, m, hash_encoder=True) for m in HASH_MOMENTS]
    for r in results:
        report(kind="kill", **r)
    assert len(results) == 18
    phases = {r["phase"] for r in results}
    assert phases == {"loading", "embedding", "writing", "switching"}
    assert sum(r["leftovers_cleaned"] for r in results) >= 8  # tmp dirs, pointer temp files, orphans were there


def test_kill_during_build_real_model(real_index):
    """Two more kills of a real-model build: the `qabot` script itself while it starts, and mid-embedding."""
    results = [
        kill_trial(real_index, "t+4", hash_encoder=False, script=True),
        kill_trial(real_index, "embed-batch+1.0", hash_encoder=False),
    ]
    for r in results:
        report(kind="kill", **r)
    # Both killed before the switch, while loading and while embedding: the build in service stayed.
    assert [(r["phase"], r["model"]) for r in results] == [("loading", "real"), ("embedding", "real")]
    assert all(r["served"] == r["previous"] for r in results), results


# ---- 2. write failures -------------------------------------------------------------------------
def _enospc(*a, **kw):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _erofs(*a, **kw):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


def _raiser(exc: Exception):
    def fail(*a, **kw):
        raise exc

    return fail


FAILURES = {
    "npy-enospc": lambda mp: mp.setattr(store_mod.np, "save", _enospc),
    "sqlite-full": lambda mp: mp.setattr(
        "sqlite_utils.db.Table.insert_all", _raiser(sqlite3.OperationalError("database or disk is full"))
    ),
    "faiss-write": lambda mp: mp.setattr(
        "faiss.write_index",
        _raiser(RuntimeError("Error in faiss::FileIOWriter: fwrite failed: No space left on device")),
    ),
    "manifest-fsync": lambda mp: mp.setattr(store_mod.os, "fsync", _enospc),
    "mkdir-readonly": lambda mp: mp.setattr(
        store_mod.IndexStore, "new_build_dir", _wrap_mkdir_fail(store_mod.IndexStore.new_build_dir)
    ),
    "switch-readonly": lambda mp: mp.setattr(store_mod.os, "replace", _erofs),
}


def _wrap_mkdir_fail(orig):
    def new_build_dir(self):
        real_mkdir = Path.mkdir

        def mkdir(p, *a, **k):
            if p.name.startswith(".tmp-"):
                _erofs()
            return real_mkdir(p, *a, **k)

        Path.mkdir = mkdir
        try:
            return orig(self)
        finally:
            Path.mkdir = real_mkdir

    return new_build_dir


@pytest.mark.parametrize("failure", list(FAILURES))
def test_write_failure_keeps_previous_build(failure, corpus_copy, hash_encoder, monkeypatch):
    eng = Engine(corpus_copy, encoder=hash_encoder)
    eng.rebuild(full=True)
    before = eng.ask(QUESTION)
    doc = corpus_copy.root / "docs_corpus" / "2025-11-04_treasury_sb0302_dprk-bankers-cybercrime-it-worker-funds.md"
    doc.write_text(doc.read_text() + "\nA paragraph added so that the next build has work to do.\n")
    with monkeypatch.context() as mp:
        FAILURES[failure](mp)
        with pytest.raises(BuildError) as ei:
            eng.rebuild()
    msg = str(ei.value)
    assert "cannot" in msg and str(corpus_copy.index_path) in msg, msg
    assert any(s in msg for s in ("No space left", "Read-only", "disk is full")), msg
    # the previous build is still the one in service, intact, and answers
    store = IndexStore(corpus_copy.index_path)
    assert store.pointer()[0] == before.build_id
    store.open_current(verify=True).close()
    after = eng.ask(QUESTION)
    assert after.build_id == before.build_id and [q.text for q in after.quotes] == [q.text for q in before.quotes]
    assert not list((corpus_copy.index_path / "builds").glob(".tmp-*"))
    report(kind="write-failure", failure=failure, message=msg, served=after.build_id)
    # once the disk has room again the next build succeeds and leaves nothing behind
    s = eng.rebuild()
    assert s.switched and s.changed == 1
    assert leftovers(corpus_copy.index_path) == []
    assert eng.ask(QUESTION).build_id == s.build_id


def test_write_failure_cli_message(hash_index):
    before = IndexStore(hash_index).pointer()[0]
    r = run(["--index-dir", str(hash_index), "index", "--full", "-q"], extra_env={"QT_FAIL": "enospc"})
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "cannot write the new build" in r.stderr and "No space left on device" in r.stderr, r.stderr
    assert IndexStore(hash_index).pointer()[0] == before
    r = run(["--index-dir", str(hash_index), "ask", "--json", QUESTION])
    assert r.returncode == 0 and check_answer_json(r.stdout)["quotes"]


def test_read_only_index_folder(hash_index):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod does not stop root's writes; the ENOSPC/EROFS simulations above cover it")
    builds = hash_index / "builds"
    os.chmod(builds, 0o555)
    try:
        with pytest.raises(BuildError, match="cannot"):
            build_index(Settings(root=ROOT, index_dir=str(hash_index)), HashEncoder(), full=True)
    finally:
        os.chmod(builds, 0o755)
    IndexStore(hash_index).open_current(verify=True).close()


# ---- 3. corruption -----------------------------------------------------------------------------
def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:  # flip one byte in the middle
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])


@pytest.mark.parametrize("how", ["truncate", "flip"])
@pytest.mark.parametrize("name", list(DATA_FILES) + ["manifest.json"])
def test_corruption_detected_and_rebuilt(name, how, hash_index, hash_encoder):
    store = IndexStore(hash_index)
    bid = store.pointer()[0]
    damage(hash_index / "builds" / bid / name, how)
    with pytest.raises(CorruptIndexError) as ei:
        store.open_current()
    assert name in str(ei.value), str(ei.value)
    assert "qabot index --full" in ei.value.hint
    eng = Engine(Settings(root=ROOT, index_dir=str(hash_index)), encoder=hash_encoder)
    with pytest.raises(IndexUnavailableError):
        eng.ask(QUESTION)
    # `qabot index` (incremental) notices, does not reuse the damaged build, and rebuilds in full
    s = eng.rebuild()
    assert s.switched and s.added >= 20 and s.unchanged == 0
    assert eng.ask(QUESTION).build_id == s.build_id
    store.open_current(verify=True).close()


@pytest.mark.parametrize("content", ["", "garbage", "20990101T000000-abcdef deadbeef\n"])
def test_damaged_pointer_detected_and_rebuilt(content, hash_index, hash_encoder):
    (hash_index / "CURRENT").write_text(content)
    store = IndexStore(hash_index)
    with pytest.raises(CorruptIndexError, match="CURRENT"):
        store.open_current()
    assert store.exists()
    s = build_index(Settings(root=ROOT, index_dir=str(hash_index)), hash_encoder)
    assert s.switched and s.unchanged == 0
    store.open_current(verify=True).close()


@pytest.mark.parametrize("name", ["chunks.faiss", "db.sqlite", "manifest.json"])
def test_corruption_cli_says_what_and_how(name, real_index):
    bid = IndexStore(real_index).pointer()[0]
    damage(real_index / "builds" / bid / name, "flip")
    for argv in (["ask", "--json", QUESTION], ["sources"]):
        t0 = time.monotonic()
        r = run(["--index-dir", str(real_index), *argv], hash_encoder=False)
        assert r.returncode == 3, (r.returncode, r.stderr)
        assert "Traceback" not in r.stderr
        assert name in r.stderr and "qabot index --full" in r.stderr, r.stderr
        assert r.stdout == ""
        report(
            kind="corrupt-cli",
            file=name,
            command=argv[0],
            stderr=r.stderr.strip(),
            seconds=round(time.monotonic() - t0, 2),
        )


def test_corruption_cli_recovers_with_index(hash_index):
    bid = IndexStore(hash_index).pointer()[0]
    damage(hash_index / "builds" / bid / "db.sqlite", "truncate")
    r = run(["--index-dir", str(hash_index), "ask", "--json", QUESTION])
    assert r.returncode == 3 and "db.sqlite" in r.stderr
    r = run(["--index-dir", str(hash_index), "index", "-q"])
    assert r.returncode == 0, r.stderr
    assert "switched to build" in r.stdout and " 0 unchanged" in r.stdout, r.stdout
    r = run(["--index-dir", str(hash_index), "ask", "--json", QUESTION])
    assert r.returncode == 0 and check_answer_json(r.stdout)["quotes"]
    assert leftovers(hash_index) == []


# ---- 4. two builds at once ---------------------------------------------------------------------
def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.stat().st_size for p in sorted(d.rglob("*")) if p.is_file() and p.name != "lock"}


def test_second_build_refused_never_interleaves(hash_index, tmp_path):
    go = tmp_path / "go"
    a = probe("--index-dir", str(hash_index), "index", "--full", "-q", stop="db-written", go=go)
    assert a.wait_for("db-written"), a.stderr
    snap = _snapshot(hash_index / "builds")
    assert len(list((hash_index / "builds").glob(".tmp-*"))) == 1
    t0 = time.monotonic()
    r = run(["--index-dir", str(hash_index), "index", "--full", "-q"])
    took = time.monotonic() - t0
    assert r.returncode == 1
    assert all(s in r.stderr for s in ("another build is running", "locked", "wait for the other")), r.stderr
    assert f"pid {a.p.pid}" in r.stderr
    assert "Traceback" not in r.stderr
    assert _snapshot(hash_index / "builds") == snap  # the refused build wrote nothing
    go.touch()
    assert a.finish() == 0, a.stderr
    store = IndexStore(hash_index)
    store.open_current(verify=True).close()
    assert leftovers(hash_index) == []
    report(kind="lock", refused_in_s=round(took, 2), message=r.stderr.strip())


def test_second_build_with_wait_runs_after_the_first(hash_index, tmp_path):
    go = tmp_path / "go"
    a = probe("--index-dir", str(hash_index), "index", "--full", "-q", stop="embed-chunks", go=go)
    assert a.wait_for("embed-chunks"), a.stderr
    b = probe("--index-dir", str(hash_index), "index", "--full", "-q", "--wait", "120")
    time.sleep(2.0)
    assert b.p.poll() is None  # b waits for the lock...
    assert "@cleanup-1" not in b.lines  # ...and has touched nothing yet
    go.touch()
    assert a.finish() == 0, a.stderr
    assert b.finish() == 0, b.stderr
    assert "switched to build" in a.out and "switched to build" in b.out
    assert b.lines.index("@cleanup-1") >= 0
    IndexStore(hash_index).open_current(verify=True).close()
    assert leftovers(hash_index) == []


def test_cli_index_refuses_while_locked(real_index):
    with IndexStore(real_index).lock():
        r = run(["--index-dir", str(real_index), "index"], hash_encoder=False)
    assert r.returncode == 1
    assert "locked" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_lock_in_process(hash_index):
    store = IndexStore(hash_index)
    with store.lock():
        with pytest.raises(BuildLockedError, match="locked"):
            with IndexStore(hash_index).lock(wait=0.3):
                pass
    with store.lock():  # released
        pass


# ---- 5. reindex under load ---------------------------------------------------------------------
LOAD_QUESTIONS = [
    QUESTION,
    "Who is Ryujong Credit Bank?",
    "What is the Zorblax Credit Union accused of?",
    "Which Treasury official commented on North Korean hackers?",
    "What did the FBI attribute the Bybit theft to?",
    "What is a laptop farm?",
    "Who was sentenced for running a laptop farm?",
    "What is the Sinbad mixer?",
    "Which groups does MITRE associate with North Korea?",
    "What is the boiling point of tungsten?",
]


async def test_reindex_under_load(engine, corpus_copy):
    """200 asks through Engine.aask, 50 at a time, while arebuild() switches builds."""
    shutil.copytree(
        engine.settings.index_path, corpus_copy.index_path, ignore=shutil.ignore_patterns("lock", "activity.sqlite*")
    )
    eng = Engine(corpus_copy, encoder=engine.encoder)
    old_id = eng.build().build_id
    old_build = eng.build()
    doc = corpus_copy.root / "docs_corpus" / "2025-11-04_treasury_sb0302_dprk-bankers-cybercrime-it-worker-funds.md"
    doc.write_text(
        doc.read_text() + "\nThe Zorblax Credit Union was also accused of moving funds for the IT workers.\n"
    )
    variants = [q for base in LOAD_QUESTIONS for q in (base, base.lower(), base.rstrip("?"), base + " Please.")]
    questions = [variants[i % len(variants)] for i in range(200)]
    sem = asyncio.Semaphore(50)
    done = {"n": 0}
    start_rebuild = asyncio.Event()

    rebuilt = asyncio.Event()
    window = {}

    async def one(i, q):
        if i >= 150:  # the last 50 are asked once the new build is in service; the rest before and during
            await rebuilt.wait()
        async with sem:
            t0 = time.perf_counter()
            a = await eng.aask(q)
            t1 = time.perf_counter()
            done["n"] += 1
            if done["n"] == 30:
                start_rebuild.set()
            return a, (t1 - t0) * 1000, t0, t1

    async def rebuild():
        await start_rebuild.wait()
        window["start"] = time.perf_counter()
        try:
            return await eng.arebuild()
        finally:
            window["end"] = time.perf_counter()
            rebuilt.set()

    t0 = time.perf_counter()
    results = await asyncio.gather(rebuild(), *(one(i, q) for i, q in enumerate(questions)), return_exceptions=True)
    wall = time.perf_counter() - t0
    summary, answers = results[0], results[1:]
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures[:3]
    assert summary.switched and summary.changed == 1
    new_id = summary.build_id
    builds = {old_id: old_build, new_id: eng.build()}
    assert eng.build().build_id == new_id
    seen = {old_id: 0, new_id: 0}
    for a, *_ in answers:
        assert a.build_id in builds, a.build_id
        seen[a.build_id] += 1
        b = builds[a.build_id]
        by_path = {d["path"]: i for i, d in b.documents.items()}
        for q in a.quotes + a.more:  # wholly from that build: every quote is that build's text at its offsets
            assert b.doc_text(by_path[q.doc])[q.start : q.end] == q.text
            if a.build_id == old_id:
                assert "Zorblax" not in q.text
    assert seen[old_id] > 0 and seen[new_id] > 0, seen
    during = sum(1 for _, _, t0, t1 in answers if t0 < window["end"] and t1 > window["start"])
    assert during > 0
    lat = sorted(dt for _, dt, *_ in answers)
    p50, p95 = lat[len(lat) // 2], lat[int(len(lat) * 0.95) - 1]
    report(
        kind="reindex-under-load",
        asks=len(answers),
        concurrency=50,
        failures=len(failures),
        old_build_answers=seen[old_id],
        new_build_answers=seen[new_id],
        asks_during_rebuild=during,
        p50_ms=round(p50, 1),
        p95_ms=round(p95, 1),
        max_ms=round(lat[-1], 1),
        wall_s=round(wall, 2),
        rebuild_s=round(summary.seconds, 2),
        embedded_chunks=summary.embedded_chunks,
    )
    # the new build answers from the changed text
    z = eng.ask("What was the Zorblax Credit Union accused of?")
    assert any("Zorblax" in q.text for q in z.quotes + z.more)


# ---- 8. a database opened only for reading ------------------------------------------------------
READ_ONLY = "readonly|read-only|read only"


def test_build_db_is_read_only(engine):
    """No statement can change a build's database, on the asking thread or any other (Build keeps one
    connection per thread), and nothing was changed by trying."""
    b = engine.build()
    for sql in (
        "delete from documents",
        "update documents set title = 'x'",
        "insert into terms(term, df) values ('x', 1)",
        "create table t(x)",
        "drop table chunks",
    ):
        with pytest.raises(sqlite3.OperationalError, match=READ_ONLY):
            b.db.execute(sql)
    errors = []

    def other():
        try:
            b.db.execute("delete from chunks")
        except sqlite3.OperationalError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 1 and re.search(READ_ONLY, errors[0]), errors
    assert b.query("select count(*) as n from documents")[0]["n"] == b.manifest["counts"]["documents"]
    assert engine.info()["documents"] == len(engine.sources()) == b.manifest["counts"]["documents"] > 0


# ---- 9. a reader in another process (issue 10, item 3) -------------------------------------------
READER = """
import sys, time
from index.store import IndexStore
b = IndexStore(sys.argv[1]).open_current(verify=True)
print("@open " + b.build_id, file=sys.stderr, flush=True)
time.sleep(600)
"""


def test_a_reader_process_keeps_its_build_and_its_kill_releases_it(hash_index, hash_encoder):
    """A process with a build open (its reader lease) keeps cleanup off it; killed with -9, it holds nothing."""
    store = IndexStore(hash_index)
    served = store.pointer()[0]
    reader = Proc([PY, "-c", READER, str(hash_index)])
    assert reader.wait_for("open " + served, timeout=60), reader.stderr
    settings = Settings(root=ROOT, index_dir=str(hash_index))
    ids = [build_index(settings, hash_encoder, full=True).build_id for _ in range(3)]
    names = sorted(p.name for p in (hash_index / "builds").iterdir())
    assert names == [served] + ids[-2:], names  # keep=2 would have removed it: the lease kept it
    kept = hash_index / "builds" / served
    store.verify(kept, json.loads((kept / "manifest.json").read_text()))  # intact, not just present
    reader.kill()
    s = build_index(settings, hash_encoder, full=True)
    names_after = sorted(p.name for p in (hash_index / "builds").iterdir())
    assert names_after == [ids[-1], s.build_id], names_after
    report(
        kind="reader-lease",
        kept_while_open=served in names,
        removed_after_kill=served not in names_after,
        builds_while_open=len(ids),
    )
