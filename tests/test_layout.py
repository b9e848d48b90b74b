"""The rooms of the house: `index/` is the engine alone. It never imports the Discord edge, parses
command lines or prints; the CLI (`cli/`) and the benchmarks (`bench/`) live outside it."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys

from conftest import ROOT

import index

ENGINE_MODULES = sorted(f"index.{m.name}" for m in pkgutil.iter_modules(index.__path__))


def test_importing_every_engine_module_loads_neither_bot_nor_discord():
    code = (
        "import importlib, json, sys\n"
        f"for name in {ENGINE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('bot', 'discord', 'cli', 'bench'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert len(ENGINE_MODULES) >= 10
    assert json.loads(out.stdout) == []


def _engine_sources():
    for name in ENGINE_MODULES:
        path = ROOT / (name.replace(".", "/") + ".py")
        yield path, ast.parse(path.read_text(), filename=str(path))


def test_engine_modules_neither_parse_arguments_nor_print():
    offences = []
    for path, tree in _engine_sources():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                offences += [f"{path.name}: imports {n}" for n in names
                             if n.split(".")[0] in ("argparse", "bot", "discord", "cli", "bench")]
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offences.append(f"{path.name}:{node.lineno}: print()")
    assert offences == []


def test_the_console_script_is_the_cli_package():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'qabot = "cli.main:main"' in text
    assert not (ROOT / "index" / "cli.py").exists()
