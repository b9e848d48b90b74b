"""The README stays true to the CLI: every command is documented, the quickstart is two commands."""

import re
from pathlib import Path

from cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_cli_command_is_in_the_readme():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    missing = [name for name in sub.choices if f"qabot {name}" not in README]
    assert not missing, f"commands not documented in README.md: {missing}"


def test_quickstart_is_two_commands_and_ci_runs_the_test_one():
    block = README.split("## Quickstart", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines() if line.strip()]
    assert commands == ["scripts/run demo", "scripts/run test"]
    assert "scripts/run test" in (ROOT / ".ci" / "run").read_text()


def test_every_setting_is_documented():
    """The engine's settings and the Discord edge's (BotSettings adds its own to the engine's)."""
    from dataclasses import fields

    from bot.settings import BotSettings

    internal = {"root", "discord_token", "encoder"}
    missing = [
        f.name
        for f in fields(BotSettings)
        if f.name not in internal
        and f"`{f.name}`" not in README
        and not re.search(rf"`{f.name}` / |/ `{f.name}`", README)
    ]
    assert not missing, f"settings not documented in README.md: {missing}"
    assert "`DISCORD_TOKEN`" in README
