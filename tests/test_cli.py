"""The `qabot` command line as users run it (subprocesses). Model-loading runs are kept to two; the
rest either never need the model or use tests/qabot_probe.py (the same CLI with the hash encoder)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_reliability import QUESTION

from clikit import qabot
from conftest import ROOT

DOC_KEYS = {"text", "doc", "title", "url", "date", "score"}


@pytest.fixture()
def real_index(engine, corpus_settings, tmp_path):
    d = tmp_path / "real-idx"
    shutil.copytree(corpus_settings.index_path, d, ignore=shutil.ignore_patterns("lock", "activity.sqlite*"))
    return d


def check_shape(out: dict, abstained: bool | None = None):
    assert set(out) == {"question", "abstained", "quotes", "took_ms", "confidence", "follow_up", "sets"}
    assert out["follow_up"] is None and out["sets"] == ["all"]
    assert isinstance(out["took_ms"], (int, float)) and out["took_ms"] >= 0
    assert 0.0 <= out["confidence"] <= 1.0
    if abstained is not None:
        assert out["abstained"] is abstained
    for q in out["quotes"]:
        assert DOC_KEYS <= set(q) <= DOC_KEYS | {"closest", "marks"}
        assert q.get("closest", False) is out["abstained"]
        assert q["text"] in (ROOT / q["doc"]).read_text(encoding="utf-8-sig")
        assert (ROOT / q["doc"]).is_file() and not Path(q["doc"]).is_absolute()


@pytest.mark.slow
def test_ask_json(real_index):
    r = qabot("--index-dir", str(real_index), "ask", "--json", QUESTION)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    check_shape(out)  # the vague seed question: answered or not (the reader is unsure), the bank is quoted
    assert out["question"] == QUESTION
    assert any(
        "Ryujong Credit Bank" in q["text"] and q["url"].startswith("https://home.treasury.gov/") for q in out["quotes"]
    )
    assert any(q["doc"].startswith("docs_corpus/2025-11-04_treasury_") for q in out["quotes"])


@pytest.mark.slow
def test_ask_batch_from_stdin(real_index):
    questions = [QUESTION, "", "What is the boiling point of tungsten?", "Who is John K. Hurley?", "what is the"]
    r = qabot("--index-dir", str(real_index), "ask", "--json", "--batch", "-", stdin="\n".join(questions) + "\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().split("\n")
    assert len(lines) == len(questions)
    outs = [json.loads(line) for line in lines]
    assert [o["question"] for o in outs][0] == QUESTION and outs[3]["question"] == questions[3]
    check_shape(outs[0])
    check_shape(outs[2], abstained=True)
    assert outs[2]["quotes"] and all(q["closest"] for q in outs[2]["quotes"])
    check_shape(outs[3])
    for i in (1, 4):  # unusable lines get an object with the reason, in their place
        assert outs[i]["quotes"] == [] and outs[i]["abstained"] is True and outs[i]["error"]
    assert "empty" in outs[1]["error"] and "no words" in outs[4]["error"]


@pytest.mark.parametrize(
    "question, says", [("", "empty"), ("   ", "empty"), ("what is the", "no words"), ("x" * 5000, "under")]
)
def test_unusable_question_exits_non_zero(real_index, question, says):
    r = qabot("--index-dir", str(real_index), "ask", "--json", question)
    assert r.returncode == 2
    assert r.stdout == "" and says in r.stderr and r.stderr.startswith("qabot: ") and "Traceback" not in r.stderr


def test_ask_without_question_exits_non_zero(real_index):
    r = qabot("--index-dir", str(real_index), "ask")
    assert r.returncode == 2 and "no question given" in r.stderr


def test_index_summary(real_index):
    r = qabot("--index-dir", str(real_index), "index")
    assert r.returncode == 0, r.stderr
    n = len(list((ROOT / "docs_corpus").iterdir())) + len(list((ROOT / "seeds").iterdir()))
    assert r.stdout.startswith(f"Indexed: 0 added, 0 changed, 0 removed, {n} unchanged, 0 skipped;"), r.stdout
    assert "nothing changed" in r.stdout
    r = qabot("--index-dir", str(real_index), "index", "--json")
    s = json.loads(r.stdout)
    assert {"added", "changed", "removed", "unchanged", "chunks", "embedded_chunks", "seconds", "build_id"} <= set(s)
    assert s["unchanged"] == n and s["switched"] is False and s["seconds"] < 3


def test_index_summary_after_changes(corpus_copy):
    root = corpus_copy.root
    assert qabot("index", "-q", probe=True, cwd=root).returncode == 0
    (root / "seeds" / next(p.name for p in (root / "seeds").iterdir())).unlink()
    p = root / "docs_corpus" / "mitre-attack_g0082_apt38.md"
    p.write_text(p.read_text() + "\nAn added sentence.\n")
    (root / "docs_corpus" / "new.md").write_text("# New\n\nA new document about something.\n")
    r = qabot("index", "-q", probe=True, cwd=root)
    assert r.returncode == 0, r.stderr
    assert "1 added, 1 changed, 1 removed, " in r.stdout and "switched to build" in r.stdout


def test_sources(real_index):
    r = qabot("--index-dir", str(real_index), "sources")
    assert r.returncode == 0, r.stderr
    n = len(list((ROOT / "docs_corpus").iterdir())) + len(list((ROOT / "seeds").iterdir()))
    assert r.stdout.rstrip().endswith(f"{n} documents")
    assert "https://home.treasury.gov/news/press-releases/sb0302" in r.stdout
    r = qabot("--index-dir", str(real_index), "sources", "--json")
    docs = json.loads(r.stdout)
    assert len(docs) == n and all(set(d) == {"path", "title", "url", "date", "sets"} for d in docs)
    assert all(d["sets"] == ["all"] for d in docs)
    r = qabot("--index-dir", str(real_index), "sources", "--json", "mitre")
    mitre = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs_corpus").glob("mitre*")}
    assert {d["path"] for d in json.loads(r.stdout)} == mitre


def test_first_ask_builds_the_index_and_says_so(tmp_path):
    r = qabot("--index-dir", str(tmp_path / "fresh"), "ask", "--json", QUESTION, probe=True)
    assert r.returncode == 0, r.stderr
    assert "No index yet: building one" in r.stderr and "Index built:" in r.stderr
    check_shape(json.loads(r.stdout))


def test_human_readable_answer(tmp_path):
    r = qabot("--index-dir", str(tmp_path / "idx"), "ask", QUESTION, probe=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith(f"Q: {QUESTION}\n")
    if "I couldn't find that in the documents." in out:
        assert "Closest passages (not an answer):" in out
    assert "1. “" in out and "   — " in out and "https://" in out and out.rstrip().endswith("ms)")


def test_help():
    r = qabot("--help")
    assert r.returncode == 0
    for cmd in ("ask", "index", "sources"):
        assert cmd in r.stdout
