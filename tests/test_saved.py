"""Saved answers: stored as files under the index folder, indexed at once into the server's own set,
quoted whole with the message's jump link, first when the same question is asked again, never shown
in another server; they survive a restart and a full rebuild, and removing one undoes it."""

from __future__ import annotations

import shutil

import pytest

from index.config import Settings
from index.errors import SavedAnswerError
from index.saved import SavedAnswer, file_of, from_markdown, same_question, saved_answers, to_markdown

GUILD, OTHER = 4242, 777
TEXT = "It was **Sinbad.io**, in late November 2023 <@123> — basically Blender's successor, run for the Lazarus Group."
QUESTION = "Which mixer did Treasury sanction in 2023?"


def saved(message_id: int = 9001, guild: int = GUILD, text: str = TEXT, question: str = QUESTION) -> SavedAnswer:
    return SavedAnswer(
        guild_id=guild,
        channel_id=55,
        message_id=message_id,
        author="Dana",
        created_at="2026-11-30T10:00:00+00:00",
        text=text,
        url=f"https://discord.com/channels/{guild}/55/{message_id}",
        question=question,
    )


@pytest.fixture(scope="module")
def saved_engine(engine, tmp_path_factory):
    """A copy of the session's corpus index (real model) with one saved answer in GUILD."""
    from index.engine import Engine

    root = tmp_path_factory.mktemp("saved-root")
    for folder in ("docs_corpus", "seeds"):
        shutil.copytree(engine.settings.root / folder, root / folder)
    shutil.copytree(engine.settings.index_path, root / ".qabot", ignore=shutil.ignore_patterns("activity*"))
    eng = Engine(Settings(root=root, index_dir=".qabot"), encoder=engine.encoder)
    eng.first_summary = eng.save_answer(saved())
    return eng


def test_the_file_keeps_the_message_verbatim(tmp_path):
    tricky = "---\nfirst line: 1\n\n  ```code```\n---\n<@&99> @everyone"
    back = from_markdown(to_markdown(saved(text=tricky)))
    assert back == saved(text=tricky)


def test_saving_indexes_at_once_embedding_only_the_message(saved_engine):
    s = saved_engine.first_summary
    assert s.switched and s.added == 1 and 0 < s.embedded_chunks <= 2
    assert file_of(saved_engine.settings.index_path, GUILD, 9001).is_file()
    assert saved_engine.info()["sets"][f"saved:{GUILD}"] == {"documents": 1, "chunks": s.embedded_chunks}


@pytest.mark.parametrize("question", [QUESTION, "which mixer got sanctioned by treasury in 2023"])
def test_the_same_question_again_is_answered_by_the_saved_reply(saved_engine, question):
    answer = saved_engine.ask(question, guild_id=GUILD)
    first = answer.quotes[0]
    assert not answer.abstained and first.saved
    assert first.text == TEXT  # the whole reply, verbatim (mentions and markdown left for the edge to defuse)
    assert first.url == f"https://discord.com/channels/{GUILD}/55/9001"
    assert first.to_json()["saved"] is True
    assert sum(q.saved for q in answer.quotes) == 1


def test_another_server_and_the_cli_never_see_it(saved_engine):
    for guild in (OTHER, None):
        answer = saved_engine.ask(QUESTION, guild_id=guild)
        assert not any(q.saved or q.doc.startswith("saved:") for q in (*answer.quotes, *answer.more))
    assert not [d for d in saved_engine.sources() if d["path"].startswith("saved:")]
    assert not [d for d in saved_engine.sources(guild_id=OTHER) if d["path"].startswith("saved:")]
    assert [d["sets"] for d in saved_engine.sources(guild_id=GUILD) if d["path"].startswith("saved:")] == [
        [f"saved:{GUILD}"]
    ]


def test_a_different_question_does_not_take_the_saved_reply():
    assert same_question(0.9, frozenset({"2023"}), {"2023", "mixer"})
    assert not same_question(0.99, frozenset({"2022"}), {"2023", "mixer"})  # the model hardly tells years apart
    assert not same_question(0.5, frozenset(), {"mixer"})


def test_the_activity_log_keeps_that_a_quote_was_saved(saved_engine):
    answer = saved_engine.ask(QUESTION, guild_id=GUILD)
    answer_id = saved_engine.activity.log_question(QUESTION, answer, answer.took_ms)
    assert saved_engine.activity.get_answer(answer_id)["quotes"][0]["saved"] is True


def test_it_survives_a_restart_and_removing_undoes_it(saved_engine):
    from index.engine import Engine

    fresh = Engine(saved_engine.settings, encoder=saved_engine.encoder)
    assert fresh.ask(QUESTION, guild_id=GUILD).quotes[0].saved
    assert fresh.remove_saved(GUILD, 9001) is True
    assert not file_of(fresh.settings.index_path, GUILD, 9001).exists()
    assert not any(q.saved for q in fresh.ask(QUESTION, guild_id=GUILD).quotes)
    assert f"saved:{GUILD}" not in fresh.info()["sets"]
    assert fresh.remove_saved(GUILD, 9001) is False
    fresh.save_answer(saved())  # put back for any later test of this module
    assert fresh.ask(QUESTION, guild_id=GUILD).quotes[0].saved


def test_a_full_rebuild_keeps_saved_answers(corpus_copy, hash_encoder):
    from index.engine import Engine

    eng = Engine(corpus_copy, encoder=hash_encoder)
    eng.save_answer(saved(guild=1, message_id=5))
    eng.rebuild(full=True)
    assert eng.info()["sets"]["saved:1"]["documents"] == 1
    assert [a.message_id for a in saved_answers(corpus_copy.index_path)[0]] == [5]


@pytest.mark.parametrize("text", ["", "   ", "x" * 10_001, "👍"])
def test_a_message_without_usable_text_is_refused(corpus_copy, hash_encoder, text):
    from index.engine import Engine

    with pytest.raises(SavedAnswerError):
        Engine(corpus_copy, encoder=hash_encoder).save_answer(saved(text=text))
    assert not file_of(corpus_copy.index_path, GUILD, 9001).exists()


def test_an_unreadable_saved_file_is_skipped_with_a_warning(tmp_path):
    folder = tmp_path / "saved" / str(GUILD)
    folder.mkdir(parents=True)
    (folder / "1.md").write_text("not a saved answer")
    found, warnings = saved_answers(tmp_path)
    assert found == [] and "1.md" in warnings[0]
