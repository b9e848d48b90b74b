"""Issue 10, item 3, engine side: a running engine follows `qabot index` runs made by other processes.

The old engine never re-read CURRENT, and the builds' cleanup (keep 2) deleted the build a live
process still had open: after two builds from a terminal the bot answered from stale handles or said
"index unavailable, run `qabot index --full`". Here the builds come from the real `qabot` script in a
subprocess (hash encoder), and the engine under test is this process's.
"""

from __future__ import annotations

import json
import threading

import pytest

from index.config import Settings
from index.engine import Engine
from index.errors import CorruptIndexError
from index.store import IndexStore

from clikit import CLI_TIMEOUT_S, admin_qabot

pytestmark = pytest.mark.slow

DOC = "2025-11-04_treasury_sb0302_dprk-bankers-cybercrime-it-worker-funds.md"
NEW_TEXT = "The Quokka Harbour Savings Bank was added to the watch list on 1 June 2026 after it moved funds."
QUESTION = "Which savings bank was added to the watch list in June 2026?"
SOURCES = "docs_corpus"


@pytest.fixture()
def setup(corpus_copy, hash_encoder):
    settings = Settings(root=corpus_copy.root, index_dir=".qabot", sources=(SOURCES,))
    first = admin_qabot(settings.root, "index", "-q", sources=SOURCES)
    assert first.returncode == 0, first.stderr
    return settings, Engine(settings, encoder=hash_encoder), IndexStore(settings.index_path)


def cli_build(settings, *flags) -> str:
    """One `qabot index` in another process; the id of the build it switched to."""
    r = admin_qabot(settings.root, "index", "--json", "-q", *flags, sources=SOURCES)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["switched"], summary
    return summary["build_id"]


def change_document(settings) -> None:
    doc = settings.root / SOURCES / DOC
    doc.write_text(doc.read_text(encoding="utf-8") + "\n" + NEW_TEXT + "\n", encoding="utf-8")


def test_engine_switches_to_builds_made_by_another_process(setup):
    settings, eng, store = setup
    before = eng.ask(QUESTION)
    served = before.build_id
    assert not any("Quokka" in q.text for q in before.quotes + before.more)
    old_dir = store.builds / served
    manifest = json.loads((old_dir / "manifest.json").read_text())

    second = cli_build(settings, "--full")
    change_document(settings)
    third = cli_build(settings)
    assert len({served, second, third}) == 3

    # cleanup (keep 2) would have removed the engine's build: its reader lease kept it, intact
    assert old_dir.is_dir()
    store.verify(old_dir, manifest)

    after = eng.ask(QUESTION)
    assert after.build_id == third
    assert any(NEW_TEXT in q.text for q in after.quotes), [q.text for q in after.quotes]
    assert eng.info()["build_id"] == third

    # the engine closed its old build (no ask uses it): the next build's cleanup may now remove it
    fourth = cli_build(settings, "--full")
    assert not old_dir.exists()
    assert sorted(p.name for p in store.builds.iterdir()) == [third, fourth]  # third: still open by the engine
    assert eng.ask(QUESTION).build_id == fourth


def test_an_ask_in_flight_keeps_its_build_until_it_ends(setup, monkeypatch):
    settings, eng, store = setup
    old = eng.build().build_id
    started, finish = threading.Event(), threading.Event()
    real = eng.answerer.answer

    def slow_answer(build, *a, **kw):  # the in-flight ask: holds its build until the test lets it finish
        if not started.is_set():
            started.set()
            assert finish.wait(CLI_TIMEOUT_S)
        return real(build, *a, **kw)

    monkeypatch.setattr(eng.answerer, "answer", slow_answer)
    result = {}
    t = threading.Thread(target=lambda: result.update(answer=eng.ask(QUESTION)))
    t.start()
    assert started.wait(CLI_TIMEOUT_S)
    change_document(settings)
    new = cli_build(settings)
    cli_build(settings, "--full")
    newest = eng.build()  # the next ask's build: the newest
    assert newest.build_id != old and newest.build_id == store.pointer()[0]
    assert (store.builds / old).is_dir()  # still leased: the ask in flight reads it
    finish.set()
    t.join(CLI_TIMEOUT_S)
    assert result["answer"].build_id == old and result["answer"].quotes
    assert not any("Quokka" in q.text for q in result["answer"].quotes)
    # the ask ended: its retired build was closed, and the next build's cleanup removes it
    cli_build(settings, "--full")
    assert not (store.builds / old).exists()
    assert new not in [p.name for p in store.builds.iterdir()]


def test_stat_of_current_decides_when_the_pointer_is_read(setup, monkeypatch):
    settings, eng, store = setup
    eng.ask(QUESTION)
    reads = []
    real = IndexStore.pointer
    monkeypatch.setattr(IndexStore, "pointer", lambda self: reads.append(1) or real(self))
    for _ in range(5):
        eng.ask(QUESTION)
    assert reads == []  # CURRENT unchanged: one stat per ask, no read
    (settings.index_path / "CURRENT").touch()  # a new mtime, the same build: read once, nothing reopened
    build = eng.build()
    eng.ask(QUESTION)
    assert len(reads) == 1 and eng.build() is build


def test_open_reads_the_pointer_again_when_its_build_was_replaced(setup, monkeypatch):
    settings, eng, store = setup
    good = store.pointer()
    stale = ("20000101T000000-abcdef", good[1])  # what CURRENT named a moment ago: removed since
    answers = iter([stale, good])
    monkeypatch.setattr(IndexStore, "pointer", lambda self: next(answers, good))
    b = store.open_current()
    assert b.build_id == good[0]
    b.close()
    # a build that is missing while CURRENT still names it is damage: then the hint says rebuild
    monkeypatch.setattr(IndexStore, "pointer", lambda self: stale)
    with pytest.raises(CorruptIndexError, match="missing") as ei:
        store.open_current()
    assert "qabot index --full" in ei.value.hint
