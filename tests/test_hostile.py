"""Hostile documents (indexed or skipped with a warning naming them, never a crash) and hostile
questions (an answer to the question as asked, quoting verbatim, or a QuestionError with a helpful
message, never anything else)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_answer import assert_faithful

from index.build import build_index
from index.engine import Engine
from index.errors import QuestionError
from index.loaders import load_documents

from conftest import ROOT


# ---- hostile documents ---------------------------------------------------------------------------
def add_hostile_files(root) -> dict[str, str]:
    """Write hostile files into docs_corpus/; returns {relative path: "indexed" | "skipped" | "absent"}."""
    d = root / "docs_corpus"
    rnd = random.Random(6)
    expect = {}

    def put(name, data, outcome):
        p = d / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        expect[f"docs_corpus/{name}"] = outcome

    put("random-bytes.md", bytes(rnd.randrange(256) for _ in range(4096)), "skipped")
    put("random-bytes-nonul.md", bytes(rnd.randrange(128, 256) for _ in range(4096)), "skipped")
    with open(d / "huge-50mb.txt", "w") as fh:  # 50 MB of real text
        line = "This is a very large plain text file that nobody should index in full. " * 10 + "\n"
        for _ in range((50 * 1024 * 1024) // len(line) + 1):
            fh.write(line)
    expect["docs_corpus/huge-50mb.txt"] = "skipped"
    put("invalid-utf8.md", b"# Title\n\nValid start then " + b"\xc3\x28\xa0\xa1 invalid bytes.\n", "skipped")
    put(
        "deep.html",
        "<html><head><title>Deep</title></head><body>"
        + "<div>" * 20000
        + "The deeply nested sentence survives."
        + "</div>" * 20000
        + "</body></html>",
        "indexed",
    )
    put(
        "scripts.html",
        "<html><head><title>Scripts</title><script>alert('SCRIPTTEXT')</script><style>body{}</style>"
        "</head><body><p>Visible paragraph about the Glorp Mixer.</p><script>document.write('SCRIPTTEXT')</script>"
        "<noscript>SCRIPTTEXT</noscript></body></html>",
        "indexed",
    )
    put("malformed-fm.md", "---\ntitle: [unclosed\nurl: : :\n---\nBody.\n", "skipped")
    put("unclosed-fm.md", "---\ntitle: never closed\n\nBody text that never gets a closing fence.\n", "skipped")
    put("huge-fm.md", "---\ntitle: huge\nblob: " + "y" * 200_000 + "\n---\nBody.\n", "skipped")
    put(
        "yaml-bomb.md",
        '---\na: &a ["lol","lol","lol","lol","lol"]\nb: &b [*a,*a,*a,*a,*a]\n'
        "c: &c [*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c]\ntitle: Bomb\n---\nThe yaml bomb document has a body sentence.\n",
        "indexed",
    )
    put(
        "zero-width-rtl.md",
        "# Zero\u200bwidth and \u202eRTL\u202c\n\nThe Fo\u200bo\u200dbar Bank\u200f moved money. "
        "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 mixed with English text. "
        "\ufeffA BOM in the middle.\n",
        "indexed",
    )
    put("nul-in-text.txt", "Text with a NUL \x00 byte inside.\n", "skipped")
    put("empty.md", "", "skipped")
    put("only-spaces.txt", "   \n\n\t  \n", "skipped")
    put("control-chars.md", "# Controls\n\nA sentence with \x07 bell and \x1b[31m escape codes in it.\n", "indexed")
    src = ROOT / "docs_corpus" / "2025-11-04_treasury_sb0302_dprk-bankers-cybercrime-it-worker-funds.md"
    put("duplicate-of-sb0302.md", src.read_bytes(), "skipped")  # same bytes as a real document
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\nThe OUTSIDESECRET must never be indexed.\n")
    (d / "link-to-secret.md").symlink_to(outside / "secret.md")
    expect["docs_corpus/link-to-secret.md"] = "absent"
    (d / "linked-dir").symlink_to(outside, target_is_directory=True)
    expect["docs_corpus/linked-dir/secret.md"] = "absent"
    (d / "dangling.md").symlink_to(root / "nowhere.md")
    expect["docs_corpus/dangling.md"] = "absent"
    return expect


@pytest.fixture()
def hostile_build(corpus_copy, hash_encoder):
    originals = sorted(
        p.relative_to(corpus_copy.root).as_posix()
        for f in ("docs_corpus", "seeds")
        for p in (corpus_copy.root / f).iterdir()
    )
    expect = add_hostile_files(corpus_copy.root)
    summary = build_index(corpus_copy, hash_encoder)
    return corpus_copy, summary, expect, originals


def test_hostile_documents(hostile_build, hash_encoder):
    settings, summary, expect, originals = hostile_build
    assert summary.switched
    eng = Engine(settings, encoder=hash_encoder)
    indexed = {d["path"] for d in eng.sources()}
    for path in originals:
        assert path in indexed, path  # the other documents are all there
    for path, outcome in expect.items():
        named = [w for w in summary.warnings if w.startswith(path + ":")]
        if outcome == "indexed":
            assert path in indexed and not named, (path, named)
        elif outcome == "skipped":
            assert path not in indexed and len(named) == 1, (path, summary.warnings)
        else:
            assert path not in indexed, path
    assert any("link-to-secret.md" in w and "outside" in w for w in summary.warnings)
    assert len(indexed) == len(originals) + sum(v == "indexed" for v in expect.values())
    b = eng.build()
    for d_id in b.documents:
        text = b.doc_text(d_id)
        assert "OUTSIDESECRET" not in text and "SCRIPTTEXT" not in text
    # offsets still round-trip in the hostile documents that were indexed
    for c in b.query(
        "select c.start, c.end, c.text, c.doc_id from chunks c join documents d on d.id = c.doc_id "
        "where d.path in ({})".format(",".join("?" * len(expect))),
        list(expect),
    ):
        assert b.doc_text(c["doc_id"])[c["start"] : c["end"]] == c["text"]
    for q in ("What did the Foobar Bank do?", "Glorp Mixer", "deeply nested sentence", "OUTSIDESECRET"):
        a = eng.ask(q)
        for quote in a.quotes:
            assert quote.text in (settings.root / quote.doc).read_text(
                encoding="utf-8-sig", errors="strict"
            ) or quote.doc.endswith(".html")
    print(
        f"hostile documents: {len(expect)} files, {sum(v == 'indexed' for v in expect.values())} indexed, "
        f"{sum(v == 'skipped' for v in expect.values())} skipped with a warning, "
        f"{sum(v == 'absent' for v in expect.values())} symlinks not followed; "
        f"{len(originals)} originals all present"
    )


def test_hostile_warnings_are_logged(corpus_copy, caplog):
    add_hostile_files(corpus_copy.root)
    with caplog.at_level("WARNING", logger="index.loaders"):
        docs, warnings = load_documents(corpus_copy.source_paths, corpus_copy.root)
    for w in warnings:
        assert w in caplog.text
    assert any("huge-50mb.txt" in w and "larger than 20 MB" in w for w in warnings)


# ---- hostile questions ---------------------------------------------------------------------------
HOSTILE_QUESTIONS = [
    "@everyone which banks were sanctioned?",
    "<@123456789012345678> who is Park Jin Hyok?",
    "<@&987654321> <#1234> <:emoji:1234> what is Lazarus?",
    "[click here](https://evil.example/phish) which banks were sanctioned?",
    "**bold** _italic_ `code` ```block``` ||spoiler|| > quote # heading",
    "https://evil.example/?q=Ryujong+Credit+Bank",
    "<script>alert(1)</script> Lazarus",
    "朝鲜 黑客 银行 制裁?",
    "북한 해커는 무엇을 훔쳤나요?",
    "ما هي البنوك التي تمت معاقبتها؟",
    "Какие банки попали под санкции?",
    "\u202eWhich banks were sanctioned?\u202c",
    "Which\u200b banks\u200d were\ufeff sanctioned?",
    "🏦🏦🏦 sanctioned 💰?",
    "%s %d {0} ${HOME} $(rm -rf /) `id`",
    "\\x00\\n\\r escaped Lazarus",
    "Lazarus " * 150,
]


# The same question behind invisible characters: it must read, and be answered, exactly as the plain one.
DISGUISED_BANKS = ["\u202eWhich banks were sanctioned?\u202c", "Which\u200b banks\u200d were\ufeff sanctioned?"]
# Markup and pings around the seed question: still quoting banks (answered or not, as the plain question).
DECORATED_BANKS = [
    "@everyone which banks were sanctioned?",
    "[click here](https://evil.example/phish) which banks were sanctioned?",
]
TOO_LONG = "Lazarus " * 150


def assert_answers(engine, q: str, a) -> None:
    """`a` answers `q` as asked: its question is `q` cleaned (printable, single-spaced, nothing added),
    every quote is verbatim from its document with its own link, marked closest exactly when abstaining."""
    assert a.question and a.question.isprintable() and a.question == " ".join(a.question.split())
    assert all(word in q for word in a.question.split()), (q, a.question)
    assert_faithful(engine, a)
    assert all(quote.closest == a.abstained for quote in a.quotes), a
    assert all("evil.example" not in (quote.url or "") for quote in a.quotes + a.more)


@pytest.mark.parametrize("q", HOSTILE_QUESTIONS)
def test_hostile_questions(engine, q):
    try:
        a = engine.ask(q)
    except QuestionError as exc:
        assert q == TOO_LONG and "please keep it under 1000" in str(exc), (q, str(exc))
        return
    assert q != TOO_LONG
    assert_answers(engine, q, a)
    if q in DISGUISED_BANKS:
        plain = engine.ask("Which banks were sanctioned?")
        assert a.question == plain.question
        assert [x.text for x in a.quotes] == [x.text for x in plain.quotes] and a.abstained == plain.abstained
    if q in DECORATED_BANKS:
        assert any("bank" in x.text.lower() for x in a.quotes), [x.text for x in a.quotes]


VOCAB = [
    "which",
    "banks",
    "sanctioned",
    "Lazarus",
    "Ryujong",
    "Credit",
    "Bank",
    "what",
    "is",
    "the",
    '"',
    "*",
    "NEAR(",
    ")",
    "AND",
    "OR",
    "NOT",
    "'",
    ":",
    "^",
    "-",
    "who",
    "Bybit",
    "laptop",
    "farm",
    "?",
    "@everyone",
    "<@1>",
    "`",
    "\x00",
    "\u200b",
    "北朝鮮",
    "é",
]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=300),
        st.lists(st.sampled_from(VOCAB), max_size=25).map(" ".join),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=1200),
    )
)
def test_any_text_gives_an_answer_or_a_question_error(engine, q):
    try:
        a = engine.ask(q)
    except QuestionError as exc:
        assert str(exc).endswith((".", "?")) and len(str(exc)) > 20  # a sentence saying what to ask instead
        return
    assert_answers(engine, q, a)
