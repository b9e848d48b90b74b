"""[[source]] tables in qabot.toml and the CLI around them: clear messages for bad tables, the plain
`sources` list unchanged, `qabot index --source NAME`, `--accept-removals`, `qabot sources --status`."""

from __future__ import annotations

import json
import subprocess

import pytest

from index.config import Settings, load_settings
from index.errors import ConfigError
from index.sourcespec import SourceSpec

from clikit import qabot


def write_toml(root, text: str):
    (root / "qabot.toml").write_text(text)
    return root / "qabot.toml"


def test_the_plain_sources_list_works_as_before(tmp_path):
    s = load_settings(write_toml(tmp_path, 'sources = ["a", "b"]\n'), env={})
    assert s.sources == ("a", "b") and s.source == ()
    assert [(x.kind, x.name, x.watch) for x in s.all_sources] == [("folder", "a", False), ("folder", "b", False)]
    assert load_settings(env={}, root=tmp_path).sources == Settings().sources  # no file: the default folders


def test_source_tables_replace_the_default_folders(tmp_path):
    path = write_toml(
        tmp_path,
        '[[source]]\ngit = "https://github.com/acme/handbook"\nbranch = "main"\nrefresh = "15m"\n'
        '[[source]]\nsitemap = "https://docs.acme.dev/sitemap.xml"\nrefresh = "6h"\n'
        '[[source]]\nfolder = "docs_corpus"\n',
    )
    s = load_settings(path, env={})
    assert s.sources == ()
    assert [(x.kind, x.name, x.refresh) for x in s.all_sources] == [
        ("git", "handbook", 900.0),
        ("sitemap", "docs.acme.dev", 21600.0),
        ("folder", "docs_corpus", 0.0),
    ]
    assert s.all_sources[2].watch and s.all_sources[1].hosts == {"docs.acme.dev"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"git": "x", "sitemap": "https://a.b/s.xml"}, "needs exactly one of folder, git, sitemap or urls"),
        ({"git": "x", "brnch": "main"}, "unknown key 'brnch'; a git source takes branch, git, include"),
        ({"git": "x", "refresh": "15x"}, "refresh '15x' is not a period"),
        ({"git": "x", "refresh": "2s"}, "shorter than the minimum of 10 s"),
        ({"sitemap": "ftp://a.b/s.xml"}, "is not an http(s) URL"),
        ({"sitemap": "https://a.b/s.xml", "max_pages": 0}, "max_pages must be a number of at least 1"),
        ({"urls": []}, "urls must list at least one URL"),
        ({"folder": "d", "watch": "yes"}, "watch must be true or false"),
    ],
)
def test_a_bad_table_is_named_with_the_fix(table, message):
    with pytest.raises(ConfigError) as err:
        SourceSpec.parse_all([table])
    assert message in str(err.value) and str(err.value).startswith("[[source]] #1")


def test_two_sources_of_one_name_are_refused():
    with pytest.raises(ConfigError, match="two sources are named 'docs'"):
        SourceSpec.parse_all([{"folder": "docs"}, {"git": "/srv/docs"}])


def test_cli_index_source_and_status(tmp_path):
    repo = tmp_path / "handbook"
    repo.mkdir()
    run = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)
    run("init", "-q", "-b", "main")
    for i in range(5):
        (repo / f"p{i}.md").write_text(f"# Page {i}\n\nPage {i} explains the number {i} harbour procedure.\n")
    run("add", "-A")
    run("-c", "user.email=a@b", "-c", "user.name=t", "commit", "-qm", "pages")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "n.md").write_text("# Notes\n\nThe notes folder holds the ferry timetable.\n")
    write_toml(tmp_path, '[[source]]\ngit = "handbook"\n[[source]]\nfolder = "notes"\n')
    env = {"QABOT_ENCODER": "hash"}

    r = qabot("index", "--source", "nope", cwd=tmp_path, env=env)
    assert r.returncode == 1 and "no source is named 'nope' (the sources are: handbook, notes)" in r.stderr

    r = qabot("index", "--source", "handbook", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "Synced handbook: 5 added, 0 changed, 0 removed, 0 unchanged; at " in r.stdout
    assert "Indexed: 6 added" in r.stdout

    run("rm", "-q", "p0.md", "p1.md", "p2.md", "p3.md")
    run("-c", "user.email=a@b", "-c", "user.name=t", "commit", "-qm", "oops")
    r = qabot("index", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 4, r.stderr  # built, but a source could not be synced
    assert "qabot: source handbook: sync failed: branch main now has 1 documents, down from 5" in r.stderr
    out = json.loads(r.stdout)
    assert out["sources"][0]["ok"] is False and out["removed"] == 0

    r = qabot("sources", "--status", "--json", cwd=tmp_path, env=env)
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["handbook"]["stale"] and rows["handbook"]["documents"] == 5 and rows["handbook"]["last_ok"]
    assert rows["notes"]["next_sync"] == "on change (watched)" and rows["notes"]["documents"] == 1

    r = qabot("sources", cwd=tmp_path, env=env)
    assert r.stdout.startswith("Sources:\n  STALE handbook  [git]  5 documents  last sync ")
    assert "last error: branch main now has 1 documents" in r.stdout and r.stdout.rstrip().endswith("6 documents")

    r = qabot("index", "--accept-removals", cwd=tmp_path, env=env)
    assert r.returncode == 0 and "4 removed" in r.stdout, r.stderr


def test_cli_reports_a_bad_table_without_a_traceback(tmp_path):
    write_toml(tmp_path, '[[source]]\ngit = "x"\nrefresh = "soon"\n')
    r = qabot("index", cwd=tmp_path, env={"QABOT_ENCODER": "hash"})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "qabot: [[source]] #1 (git = 'x'): refresh 'soon' is not a period" in r.stderr
    assert "see docs/SOURCES.md" in r.stderr
