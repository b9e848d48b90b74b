"""The Discord edge's settings: its own dataclass (the engine's never holds a Discord field), read by
the engine's loader from the same qabot.toml and QABOT_* variables, the token from DISCORD_TOKEN."""

from __future__ import annotations

from types import SimpleNamespace

from bot import create_bot
from bot.settings import BotSettings, load_bot_settings
from index.config import Settings, load_settings

from botkit import TOKEN


def test_bot_settings_come_from_the_same_toml_and_variables_as_the_engines(tmp_path):
    (tmp_path / "qabot.toml").write_text(
        'sources = ["docs"]\nqa_channel_ids = [11, 12]\nreindex_role = "docs-maintainers"\n'
        "answer_in_thread = true\nrate_limit_seconds = 10\n"
    )
    env = {
        "QABOT_CONFIG": str(tmp_path / "qabot.toml"),
        "QABOT_RATE_LIMIT_COUNT": "7",
        "QABOT_DEV_GUILD_ID": "99",
        "QABOT_PRIVATE_BY_DEFAULT": "yes",
        "DISCORD_TOKEN": TOKEN,
    }

    settings = load_bot_settings(env=env)

    assert settings.root == tmp_path and settings.sources == ("docs",)
    assert settings.qa_channel_ids == (11, 12) and settings.reindex_role == "docs-maintainers"
    assert settings.answer_in_thread and settings.private_by_default
    assert (settings.rate_limit_count, settings.rate_limit_seconds, settings.dev_guild_id) == (7, 10.0, 99)
    assert settings.discord_token == TOKEN and TOKEN not in repr(settings)
    # The engine's part holds no Discord field at all, and a bot made from it gets the bot's defaults.
    engine_part = settings.engine_settings
    assert type(engine_part) is Settings and not hasattr(engine_part, "discord_token")
    assert engine_part.root == tmp_path and engine_part.sources == ("docs",)
    assert BotSettings.of(engine_part) == BotSettings(root=tmp_path, sources=("docs",))


def test_the_engine_loader_reads_the_same_file_and_leaves_the_discord_keys_to_the_bot(tmp_path):
    (tmp_path / "qabot.toml").write_text('[qabot]\nmax_quotes = 2\nreindex_role = "docs-maintainers"\n')
    env = {"QABOT_CONFIG": str(tmp_path / "qabot.toml"), "QABOT_QA_CHANNEL_IDS": " 5, 6,", "DISCORD_TOKEN": TOKEN}

    engine = load_settings(env=env)
    bot = load_bot_settings(env=env)

    assert type(engine) is Settings and engine.max_quotes == 2 and engine == bot.engine_settings
    assert (bot.reindex_role, bot.qa_channel_ids, bot.dev_guild_id) == ("docs-maintainers", (5, 6), None)


def test_token_variables_in_order_and_an_empty_one_ignored(tmp_path):
    base = {"QABOT_CONFIG": "", "QABOT_ROOT": str(tmp_path)}
    assert load_bot_settings(env=base | {"QABOT_DISCORD_TOKEN": "a"}).discord_token == "a"
    assert load_bot_settings(env=base | {"QABOT_DISCORD_TOKEN": "a", "DISCORD_TOKEN": "b"}).discord_token == "b"
    assert load_bot_settings(env=base | {"QABOT_DISCORD_TOKEN": "a", "DISCORD_TOKEN": ""}).discord_token == "a"
    assert load_bot_settings(env=base | {"QABOT_DEV_GUILD_ID": ""}).dev_guild_id is None


def test_create_bot_takes_bot_settings_or_the_engines(tmp_path):
    engine = SimpleNamespace(settings=Settings(root=tmp_path))
    bot_settings = BotSettings(root=tmp_path, reindex_role="docs-maintainers", rate_limit_count=9)

    assert create_bot(bot_settings, engine).settings is bot_settings
    plain = create_bot(Settings(root=tmp_path, max_quotes=2), engine)
    assert type(plain.settings) is BotSettings and plain.settings.max_quotes == 2
    assert (plain.settings.reindex_role, plain.settings.rate_limit_count) == ("", BotSettings.rate_limit_count)
    assert plain.rate_limiter.count == BotSettings.rate_limit_count
