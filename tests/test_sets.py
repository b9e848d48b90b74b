"""Document sets: `sets = [...]` on [[source]] tables, stored per document, filtered inside one build.

The index is the session's real one (real model) copied and rebuilt with sets: a change of sets alone
re-embeds nothing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from index.config import Settings
from index.errors import ConfigError
from index.search import keyword_query, search
from index.sets import wanted
from index.sourcespec import SourceSpec

ROOT_FOLDERS = ("docs_corpus", "seeds")
NEWS_DOC = "seeds/crypto-news_south-korea-open-to-revisiting-sanctions.txt"
QUESTIONS = [
    "Which banks were sanctioned?",
    "Which South Korean vice foreign minister said Seoul could consider reviewing its sanctions?",
    "What happened to ChipMixer?",
    "How much cryptocurrency was stolen?",
    "Who laundered money for North Korean hackers?",
]


def specs(docs_sets=("sanctions",), seeds_sets=("news",)):
    return SourceSpec.parse_all(
        [
            {"folder": "docs_corpus", "sets": list(docs_sets), "watch": False},
            {"folder": "seeds", "sets": list(seeds_sets), "watch": False},
        ]
    )


@pytest.fixture(scope="module")
def sets_engine(engine, tmp_path_factory):
    """The session's corpus index, copied, then rebuilt with docs_corpus in `sanctions` and seeds in `news`."""
    from index.engine import Engine

    root = tmp_path_factory.mktemp("sets-root")
    for folder in ROOT_FOLDERS:
        shutil.copytree(engine.settings.root / folder, root / folder)
    shutil.copytree(engine.settings.index_path, root / ".qabot", ignore=shutil.ignore_patterns("activity*"))
    eng = Engine(Settings(root=root, sources=(), source=specs(), index_dir=".qabot"), encoder=engine.encoder)
    eng.first_summary = eng.rebuild()
    return eng


def test_a_change_of_sets_rewrites_the_build_without_embedding(sets_engine):
    s = sets_engine.first_summary
    assert s.switched and s.embedded_chunks == 0
    assert s.regrouped == s.unchanged > 20
    again = sets_engine.rebuild()
    assert not again.switched and again.regrouped == 0  # nothing changed since


def test_info_and_sources_show_sets(sets_engine):
    sets = sets_engine.info()["sets"]
    total = sets["all"]
    assert sets["news"]["documents"] == 1
    assert sets["sanctions"]["documents"] == total["documents"] - 1
    assert sets["news"]["chunks"] + sets["sanctions"]["chunks"] == total["chunks"]
    rows = {r["path"]: r for r in sets_engine.sources()}
    assert rows[NEWS_DOC]["sets"] == ["all", "news"]
    status = {r["name"]: r for r in sets_engine.source_status()}
    assert status["seeds"]["sets"] == ["all", "news"] and status["docs_corpus"]["sets"] == ["all", "sanctions"]


@pytest.mark.parametrize("name, inside", [("news", True), ("sanctions", False)])
def test_no_quote_comes_from_outside_the_sets(sets_engine, name, inside):
    for q in QUESTIONS:
        answer = sets_engine.ask(q, sets=[name])
        assert answer.sets == (name,)
        docs = {x.doc for x in (*answer.quotes, *answer.more)}
        assert docs, q
        assert all((d == NEWS_DOC) == inside for d in docs), (q, docs)


def test_both_retrievers_are_filtered_in_the_same_index(sets_engine):
    build = sets_engine.build()
    scope, note = build.scope(wanted(["news"], None))
    assert scope is not None and not note
    allowed = set(np.flatnonzero(scope.mask).tolist())
    for q in QUESTIONS:
        v = sets_engine.embed_question(q)
        for mode in ("dense", "bm25", "hybrid"):
            hits = search(build, q, v, mode=mode, scope=scope)
            assert {h.chunk_id for h in hits} <= allowed, (q, mode)
        # the filtered dense search is the exact top among the set's own chunks
        ids = np.array(sorted(allowed))
        exact = ids[np.argsort(-(build.chunk_vectors(ids) @ v), kind="stable")][:3]
        assert [c for c, _ in build.dense(v, 3, scope)] == exact.tolist()
        # the filtered keyword list is the unfiltered one with the others left out
        match = keyword_query(build, q)
        everything = [c for c, _ in build.keyword(match, 10_000) if c in allowed]
        assert [c for c, _ in build.keyword(match, 5, scope)] == everything[:5]


def test_all_or_none_searches_every_source_document(sets_engine):
    q = QUESTIONS[0]
    plain, named = sets_engine.ask(q), sets_engine.ask(q, sets=["all", "news"])
    assert plain.sets == named.sets == ("all",)
    assert [x.text for x in plain.quotes] == [x.text for x in named.quotes]


def test_an_unknown_set_searches_nothing_and_says_so(sets_engine):
    answer = sets_engine.ask(QUESTIONS[0], sets=["billing"])
    assert answer.abstained and not answer.quotes
    assert "billing" in answer.note and "news" in answer.note
    assert answer.to_json()["note"] == answer.note
    mixed = sets_engine.ask(QUESTIONS[1], sets=["billing", "news"])
    assert mixed.quotes and "billing" in mixed.note


def test_a_saved_set_cannot_be_named_as_a_set():
    assert wanted(["saved:123", "news"], None) == ("news",)
    assert wanted(["saved:123"], 7) == ("all", "saved:7")


@pytest.mark.parametrize("bad", ["", "saved:1", "two words", "x" * 65])
def test_bad_set_names_are_refused_with_the_table_named(bad):
    with pytest.raises(ConfigError, match=r"\[\[source\]\] #1"):
        SourceSpec.parse_all([{"folder": "docs", "sets": [bad]}])


def test_sets_are_read_from_qabot_toml(tmp_path):
    from index.config import load_settings

    (tmp_path / "qabot.toml").write_text('[[source]]\nfolder = "docs"\nsets = ["billing", "eng"]\n')
    s = load_settings(tmp_path / "qabot.toml", env={})
    assert s.source[0].sets == ("billing", "eng") and s.source[0].all_sets == ("all", "billing", "eng")
