"""The rooms of the house: `index/` is the engine alone. It never imports the Discord edge, parses
command lines or prints; the CLI (`cli/`) and the benchmarks (`bench/`) live outside it."""

from __future__ import annotations

import ast
import json
import pkgutil
import re
import subprocess
import sys

import index

from conftest import ROOT

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
                offences += [
                    f"{path.name}: imports {n}"
                    for n in names
                    if n.split(".")[0] in ("argparse", "bot", "discord", "cli", "bench")
                ]
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offences.append(f"{path.name}:{node.lineno}: print()")
    assert offences == []


def test_the_console_script_is_the_cli_package():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'qabot = "cli.main:main"' in text
    assert not (ROOT / "index" / "cli.py").exists()


# ---- SQL stays in the store ---------------------------------------------------------------------
# The modules that may speak SQL: a build's content database (content.py), the store that puts a build
# together (store.py), the activity log, which is the store of its own database (activity.sqlite), and
# the per-server settings, the store of theirs (guilds.sqlite; the engine never sees Discord servers).
SQL_MODULES = frozenset({"index/content.py", "index/store.py", "index/activity.py", "bot/guilds.py"})
ROOMS = ("index", "bench", "cli", "bot")
_COLUMN = r"(?:\*|[\w.{}]+(?:\([^;]*?\))?(?:\s+as\s+\w+)?)"  # a select-list item: id, count(*) as n, *
SQL = re.compile(
    rf"\b(?:select\s+{_COLUMN}(?:\s*,\s*{_COLUMN})*\s+from\s+\w+|insert\s+(?:or\s+\w+\s+)?into\s+\w+|"
    r"create\s+(?:virtual\s+)?(?:table|index)\b|delete\s+from\s+\w+|update\s+\w+\s+set\b|"
    r"drop\s+(?:table|index)\b|pragma\s+\w+)",
    re.I,
)
DB_CALLS = frozenset({"execute", "executemany", "executescript", "query"})
DB_PACKAGES = frozenset({"sqlite3", "sqlite_utils"})


def _room_sources():
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path.read_text()


def _string(node) -> str | None:
    """A string literal's text; an f-string's with "{}" for each value."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _sql_offences(name: str, source: str) -> list[str]:
    out = set()  # an f-string's text is seen whole and in parts: each offence once
    for node in ast.walk(ast.parse(source)):
        found = SQL.search(_string(node) or "")
        if found:
            out.add(f"{name}:{node.lineno}: SQL {found.group(0)!r}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in DB_CALLS:
            out.add(f"{name}:{node.lineno}: .{node.func.attr}(")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            out.update(f"{name}:{node.lineno}: imports {n}" for n in names if n.split(".")[0] in DB_PACKAGES)
    return sorted(out)


def test_no_sql_outside_the_store():
    """The answer path, the builder, the CLI, the bot and the benchmarks ask the store for rows by name."""
    offences = [o for name, source in _room_sources() if name not in SQL_MODULES for o in _sql_offences(name, source)]
    assert offences == []
    # the check sees what it looks for: a query, an f-string statement, a database import
    sample = (
        'import sqlite3\nrows = build.query("select id, doc_id from chunks where id = ?", (1,))\n'
        'build.db.execute(f"delete from chunks where id = {cid}")\n'
    )
    assert len(_sql_offences("sample.py", sample)) == 5
    assert _sql_offences("prose.py", '"Select a source from the list, then update the index."') == []


def _imported_modules(tree: ast.Module, package: str) -> set[str]:
    """Names bound to modules: `import x` (any), `from pkg import mod` (the project's own modules)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            base = ROOT.joinpath(*parts, *(node.module.split(".") if node.module else []))
            names.update(
                a.asname or a.name
                for a in node.names
                if (base / f"{a.name}.py").is_file() or (base / a.name / "__init__.py").is_file()
            )
    return names


def _module_patches(name: str, source: str) -> list[str]:
    tree = ast.parse(source)
    modules = _imported_modules(tree, ".".join(name.removesuffix(".py").split("/")[:-1]))
    out = []
    for node in ast.walk(tree):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, (ast.AugAssign, ast.AnnAssign))
            else []
        )
        out += [
            f"{name}:{node.lineno}: assigns {ast.unparse(t)}"
            for t in targets
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in modules
        ]
    return out


def test_no_module_monkeypatches_another():
    """Replacing another module's function (as the benchmark once did with index.text.stem) changes it for
    the whole process; a module that needs other behaviour asks for it through a parameter."""
    assert [o for name, source in _room_sources() for o in _module_patches(name, source)] == []
    sample = "from index import text\nimport faiss\ntext.stem = len\nfaiss.x = 1\nlocal = 2\n"
    assert len(_module_patches("bench/sample.py", sample)) == 2
