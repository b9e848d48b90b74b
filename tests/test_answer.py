"""Answers from the real corpus with the real model: verbatim quotes, links, abstention, safe queries."""

from __future__ import annotations

import json

import pytest

from index.errors import QuestionError
from index.present import text_fragment_link
from index.question import is_list_question
from index.types import Answer

from conftest import DEV_SET, ROOT, require_shared

QUESTION = "Which banks were sanctioned?"


def assert_faithful(engine, answer: Answer):
    """Every quote is verbatim in the file it names, at its offsets, with that document's own link."""
    b = engine.build()
    docs = {d["path"]: d for d in b.documents.values()}
    for q in answer.quotes + answer.more:
        assert q.text, q
        assert q.text in (ROOT / q.doc).read_text(encoding="utf-8-sig"), (q.doc, q.text)
        meta = docs[q.doc]
        assert b.doc_text(meta["id"])[q.start : q.end] == q.text
        assert q.title == meta["title"] and q.date == meta["date"]
        if meta["url"]:
            assert q.url.startswith(meta["url"]), (q.url, meta["url"])  # never a forged link
        else:
            assert q.url is None


def test_which_banks_were_sanctioned(engine):
    """The seed question is vague (which action, which year: the dev split tags it so), and the reader is
    not sure of it; answered or not, the sanctioned bank is among the first passages, linked to the sentence."""
    a = engine.ask(QUESTION)
    assert a.confidence is not None
    ryujong = [q for q in a.quotes if "Ryujong Credit Bank" in q.text]
    assert ryujong, [q.text for q in a.quotes]
    assert any(q.url and q.url.startswith("https://home.treasury.gov/") for q in ryujong), [q.url for q in ryujong]
    assert any(q.url and "#:~:text=" in q.url for q in a.quotes)  # deep links to the sentence
    assert 1 <= len(a.quotes) <= engine.settings.max_list_quotes
    assert_faithful(engine, a)


def test_every_dev_set_quote_is_verbatim(engine):
    path = require_shared(DEV_SET)
    rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    answered = 0
    for row in rows:
        a = engine.ask(row["question"])
        assert_faithful(engine, a)
        answered += not a.abstained
        for q in a.quotes:
            assert q.closest == a.abstained
    assert answered >= len(rows) // 2


def test_out_of_corpus_question_abstains(engine):
    a = engine.ask("What is the boiling point of tungsten?")
    assert a.abstained
    assert 1 <= len(a.quotes) <= 3 and all(q.closest for q in a.quotes)
    out = a.to_json()
    assert out["abstained"] is True and all(q["closest"] is True for q in out["quotes"])
    assert_faithful(engine, a)


@pytest.mark.parametrize(
    "q",
    [
        'What did "Lazarus Group steal?',
        "Which bank* were sanctioned?",
        "NEAR(Lazarus Bybit) theft?",
        "what's the Sinbad mixer?",
        "Lazarus AND OR NOT Kimsuky",
        "title:Treasury sanctions?",
        "^Ryujong bank",
        "((who was indicted",
        "who was indicted))",
        "'; drop table chunks; --",
        'Robert"); DROP TABLE documents;--',
        "bank OR OR OR",
        "NEAR NEAR NEAR",
        "chunks_fts MATCH 'x'",
        "{Lazarus} [Bybit] <hack>",
        "Ryujong + Credit - Bank : ?",
        "a.k.a. KMCTC e.o. 13810",
        "it-worker laptop-farm 'knoot'",
    ],
)
def test_fts5_and_sql_syntax_never_raises(engine, q):
    a = engine.ask(q)
    assert isinstance(a, Answer)
    assert_faithful(engine, a)


@pytest.mark.parametrize(
    "q, says",
    [
        ("", "empty"),
        ("   \t\n ", "empty"),
        ("\x00\x01\x02\x1b", "empty"),
        ("x" * 5000, "under"),
        ("Which banks? " * 400, "under"),
        ("what is the", "no words"),
        ("?!?", "no words"),
        ("the of and to", "no words"),
    ],
)
def test_unusable_questions_get_a_helpful_message(engine, q, says):
    with pytest.raises(QuestionError) as ei:
        engine.ask(q)
    msg = str(ei.value)
    assert says in msg and len(msg) > 20, msg
    assert "Traceback" not in msg


def test_control_characters_are_cleaned(engine):
    a = engine.ask("Which\x00 banks\x07 were\u200b sanctioned?\x1b")
    clean = engine.ask(QUESTION)
    assert "\x00" not in a.question and "\x1b" not in a.question
    assert a.abstained == clean.abstained and [q.text for q in a.quotes] == [q.text for q in clean.quotes]
    assert_faithful(engine, a)


def test_list_question_detection():
    assert is_list_question("Which banks were sanctioned?")
    assert is_list_question("What are the aliases of Lazarus?")
    assert not is_list_question("Who is John K. Hurley?")


def test_text_fragment_links():
    assert text_fragment_link(None, "x", "markdown", None) is None
    assert (
        text_fragment_link("https://a.org/p", "Short sentence here.", "markdown", None)
        == "https://a.org/p#:~:text=Short%20sentence%20here."
    )
    long = "one two three four five six seven eight nine ten"
    assert (
        text_fragment_link("https://a.org/p", long, "html", None)
        == "https://a.org/p#:~:text=one%20two%20three%20four,seven%20eight%20nine%20ten"
    )
    assert (
        text_fragment_link("https://a.org/p#sec", "Hi there.", "html", None) == "https://a.org/p#sec:~:text=Hi%20there."
    )
    assert text_fragment_link("https://a.org/f.pdf#x", "Hi.", "pdf", 3) == "https://a.org/f.pdf#page=3"


def test_answer_json_shape(engine):
    out = engine.ask(QUESTION).to_json()
    assert set(out) == {"question", "abstained", "quotes", "took_ms", "confidence", "follow_up", "sets"}
    assert 0.0 <= out["confidence"] <= 1.0
    for q in out["quotes"]:
        assert set(q) >= {"text", "doc", "title", "url", "date", "score"}
        assert set(q) <= {"text", "doc", "title", "url", "date", "score", "closest", "marks"}


def test_both_questions_are_split_in_two_halves():
    from index.question import question_parts

    a, b = question_parts(
        "Which mixer appears both in the Sinbad press release and in the case about the Atlanta theft?"
    )
    assert a == "Which mixer appears in the Sinbad press release"
    assert b == "Which mixer appears in the case about the Atlanta theft"
    assert question_parts("Were both banks sanctioned?") is None  # halves too short to search on their own
    assert question_parts("Which banks were sanctioned?") is None


def test_names_in_a_sentence_skip_question_words_and_sentence_starts():
    from index.bridge import names_in
    from index.text import term_set

    text = "To hide the money, Kim Kwang Jin used the mixer Tornado Cash and sent it to the Lazarus Group."
    assert names_in(text, term_set("Which mixer did the Lazarus Group use?")) == {"Kim Kwang Jin", "Tornado Cash"}


def test_a_both_question_quotes_the_name_the_two_documents_share(engine):
    """The answer to "which X is in both A and B" is a name found in one sentence for A and one for B."""
    q = (
        "Which mixer is named both in Treasury's Sinbad press release and in the DOJ case about North Korean "
        "IT workers who stole virtual currency from a blockchain company in Atlanta?"
    )
    ans = engine.ask(q)
    assert not ans.abstained
    first, second = ans.quotes[:2]
    assert "Tornado Cash" in first.text and "Tornado Cash" in second.text
    assert first.doc != second.doc
    assert "sinbad" in first.doc and "doj" in second.doc
    assert len(ans.quotes) <= 3


def test_answer_kind_detection():
    from index.question import answer_kind

    def kind(q, sentence):
        k = answer_kind(q)
        return (k[0], bool(k[1].search(sentence))) if k else None

    assert kind("How much did APT38 steal?", "APT38 stole $81 million.") == ("amount", True)
    assert kind("How much did APT38 steal?", "APT38 stole from a bank in 2016.") == ("amount", False)
    assert kind("Roughly how many laptops were seized?", "The FBI seized approximately 137 laptops.") == ("count", True)
    assert kind("How long was he sentenced to?", "He was sentenced to 140 months in prison.") == ("duration", True)
    assert kind("How long was he sentenced to?", "He was sentenced in May.") == ("duration", False)
    assert kind("How old is the operator?", "Nguyen, 49, of Hanoi, was charged.") == ("age", True)
    assert kind("When was the report issued?", "The October 22 report said so.") == ("date", True)
    assert kind("On what date was Bybit hacked?", "It happened on or about February 21, 2025.") == ("date", True)
    # the modal "may", "market" or "decided" is not a date
    assert kind("When did they act?", "They may act in the market if they decided to.") == ("date", False)
    assert answer_kind("Which banks were sanctioned?") is None
    assert answer_kind("What is the SWIFT code of Ryujong Credit Bank?") is None


def test_an_amount_question_quotes_the_sentence_with_the_amount(engine):
    a = engine.ask("How much cryptocurrency was stolen from Bybit?")
    assert "$1.5 billion" in a.quotes[0].text  # first, whether the reader is sure enough to answer or not
    if not a.abstained:
        first = a.quotes[0]
        assert any("$1.5 billion" in first.text[x:y] for x, y in first.marks)
    assert_faithful(engine, a)


def test_no_sentence_giving_the_kind_of_answer_asked_for_is_an_abstention(engine):
    """The documents say what Sobaeksu does, never since when: no duration, so no answer."""
    q = "How long has Sobaeksu been in business?"
    ev = engine.answerer.evidence(engine.build(), q, engine.embed_question(q))
    assert ev.kind_found is False
    a = engine.ask(q)
    assert a.abstained and all(x.closest for x in a.quotes)


def test_a_sentence_that_only_shares_names_is_not_an_answer(engine):
    """The focus test on its own: sentences naming the bank but nothing of what is asked about it."""
    q = "What is the SWIFT/BIC code of Ryujong Credit Bank?"
    ev = engine.answerer.evidence(engine.build(), q, engine.embed_question(q))
    assert ev.focus < engine.answerer.p.focus_min
    assert engine.answerer.abstains(ev, threshold=0.0)  # abstains whatever the strength threshold
    ev_ok = engine.answerer.evidence(engine.build(), QUESTION, engine.embed_question(QUESTION))
    assert not engine.answerer.abstains(ev_ok, threshold=0.0)
