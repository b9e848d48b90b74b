"""Git sources against a real local repository: commits, renames, deletions, a force-push and a deleted
repository between syncs; links at the indexed commit with line anchors; symlinks and submodules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from index.config import Settings
from index.engine import Engine
from index.errors import ConfigError
from index.git_source import file_links, line_link, link_template
from index.sourcespec import SourceSpec

GUIDE = """---
title: Deploy guide
---
# Deploying

The deploy tool pushes every build to the staging cluster first.
It waits ten minutes before it promotes the build to production.

## Rollback

Run the rollback command to return to the previous release within a minute.
"""
ROLLBACK = "Run the rollback command to return to the previous release within a minute."


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    """A repository with a guide, a note, an outside symlink, an inside symlink and a submodule entry."""
    r = tmp_path / "handbook"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "user.email", "docs@example.org")
    git(r, "config", "user.name", "Docs")
    (r / "docs").mkdir()
    (r / "docs" / "guide.md").write_text(GUIDE)
    (r / "notes.txt").write_text("The office plants are watered by the quokka team every Monday morning.\n")
    (r / "docs" / "escape.md").symlink_to("../../outside.md")
    (r / "docs" / "alias.md").symlink_to("guide.md")
    (tmp_path / "outside.md").write_text("# Secret\n\nThe outside file holds the vault combination 4 8 15 16.\n")
    git(r, "add", "-A")
    sub = "160000,1111111111111111111111111111111111111111,vendor/lib"
    git(r, "update-index", "--add", "--cacheinfo", sub)
    git(r, "commit", "-qm", "first")
    return r


def settings_for(tmp_path: Path, **table) -> Settings:
    return Settings(root=tmp_path, index_dir=".qabot", sources=(), source=SourceSpec.parse_all([table]), encoder="hash")


def quote_for(engine: Engine, question: str, text: str):
    answer = engine.ask(question)
    found = [q for q in [*answer.quotes, *answer.more] if text in q.text]
    assert found, [q.text for q in answer.quotes]
    return found[0]


def test_sync_indexes_the_files_with_line_links_at_the_commit(tmp_path, repo):
    settings = settings_for(
        tmp_path,
        git=str(repo),
        name="handbook",
        web_url="https://git.example.org/h/blob/{commit}/{path}#L{first}-L{last}",
    )
    engine = Engine(settings)
    refresh = engine.refresh()
    report = refresh.syncs[0]
    head = git(repo, "rev-parse", "HEAD")
    assert report.ok and report.commit == head and report.added == 2  # guide and notes (the alias has the guide's blob)
    paths = {d["path"] for d in engine.sources()}
    assert paths == {"handbook:docs/guide.md", "handbook:notes.txt"}
    warnings = "\n".join(refresh.build.warnings)
    assert "docs/escape.md: skipped, symlink points outside the repository" in warnings
    assert "vendor/lib: submodule not followed" in warnings
    assert "same content as handbook:docs/guide.md" in warnings
    assert "vault combination" not in " ".join(q.text for q in engine.ask("What is the vault combination?").quotes)

    q = quote_for(engine, "How do I return to the previous release?", ROLLBACK)
    assert q.url == f"https://git.example.org/h/blob/{head}/docs/guide.md#L11-L11"  # line 11 of the file
    assert GUIDE.splitlines()[10] == ROLLBACK


def test_commits_renames_and_deletions_between_syncs(tmp_path, repo):
    engine = Engine(settings_for(tmp_path, git=str(repo), name="handbook"))
    engine.refresh()
    (repo / "docs" / "guide.md").write_text(GUIDE.replace("ten minutes", "twenty minutes"))
    git(repo, "mv", "notes.txt", "plants.txt")
    (repo / "new.md").write_text("# New\n\nThe new page says the canteen opens at eight every weekday.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "second")
    report = engine.refresh().syncs[0]
    assert report.ok and (report.added, report.changed, report.removed) == (2, 1, 1)  # plants+new, guide, notes
    paths = {d["path"] for d in engine.sources()}
    assert paths == {"handbook:docs/guide.md", "handbook:plants.txt", "handbook:new.md"}
    assert quote_for(engine, "When does the canteen open?", "canteen opens at eight")

    git(repo, "rm", "-q", "new.md")
    git(repo, "commit", "-qm", "third")
    engine.refresh()
    assert "handbook:new.md" not in {d["path"] for d in engine.sources()}


def test_include_globs_choose_the_files(tmp_path, repo):
    engine = Engine(settings_for(tmp_path, git=str(repo), name="h", include=["docs/**/*.md"]))
    engine.refresh()
    assert {d["path"] for d in engine.sources()} == {"h:docs/guide.md"}


def test_force_push_is_indexed_and_reported(tmp_path, repo):
    engine = Engine(settings_for(tmp_path, git=str(repo), name="handbook"))
    engine.refresh()
    old = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--orphan", "rewritten")
    (repo / "docs" / "guide.md").write_text(GUIDE.replace("staging cluster", "canary cluster"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "rewritten history")
    git(repo, "branch", "-f", "main", "rewritten")
    git(repo, "checkout", "-q", "main")
    report = engine.refresh().syncs[0]
    assert report.ok and report.commit != old
    assert any("was rewritten" in w and "force-push" in w for w in report.warnings)
    assert quote_for(engine, "Which cluster does the deploy tool push to first?", "canary cluster")


def test_a_deleted_repository_keeps_its_documents_and_is_stale(tmp_path, repo):
    engine = Engine(settings_for(tmp_path, git=str(repo), name="handbook"))
    engine.refresh()
    shutil.rmtree(repo)
    refresh = engine.refresh()
    report = refresh.syncs[0]
    assert not report.ok and "failed: fatal:" in report.error  # git's own words
    assert quote_for(engine, "How do I return to the previous release?", ROLLBACK)  # still answerable
    (row,) = engine.source_status()
    assert row["stale"] and "failed: fatal:" in row["last_error"] and row["documents"] == 2 and row["last_ok"]


def test_a_branch_emptied_by_more_than_half_is_held_until_accepted(tmp_path, repo):
    for i in range(6):
        (repo / f"page{i}.md").write_text(f"# Page {i}\n\nPage {i} describes the number {i} procedure at length.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pages")
    engine = Engine(settings_for(tmp_path, git=str(repo), name="handbook"))
    engine.refresh()
    before = len(engine.sources())
    git(repo, "rm", "-q", *[f"page{i}.md" for i in range(6)], "notes.txt")
    git(repo, "commit", "-qm", "oops")
    report = engine.refresh().syncs[0]
    assert not report.ok and "--accept-removals" in report.error and "down from 8" in report.error
    assert len(engine.sources()) == before
    report = engine.refresh(accept_removals=True).syncs[0]
    assert report.ok and report.removed == 7
    assert {d["path"] for d in engine.sources()} == {"handbook:docs/guide.md"}


def test_link_templates():
    spec = SourceSpec.parse({"git": "https://github.com/acme/handbook.git"}, "t")
    assert spec.name == "handbook"
    page, lines = file_links(link_template(spec), "abc123", "docs/my guide.md", "markdown")
    assert page == "https://github.com/acme/handbook/blob/abc123/docs/my%20guide.md"
    assert lines == "https://github.com/acme/handbook/blob/abc123/docs/my%20guide.md?plain=1#L{first}-L{last}"
    assert line_link(lines, 3, "a\nb\nc\nd\n", 2, 5) == page + "?plain=1#L5-L6"
    lab = SourceSpec.parse({"git": "git@gitlab.com:team/docs.git"}, "t")
    assert link_template(lab) == "https://gitlab.com/team/docs/-/blob/{commit}/{path}{plain}#L{first}-{last}"
    assert link_template(SourceSpec.parse({"git": "/srv/repos/docs"}, "t")) == ""
    braces = file_links(link_template(spec), "c0", "{first}.txt", "text")[1]
    assert braces.startswith("https://github.com/acme/handbook/blob/c0/%7Bfirst%7D.txt#L")  # a path injects no field
    with pytest.raises(ConfigError, match="web_url must contain"):
        SourceSpec.parse({"git": "x", "web_url": "https://example.org/"}, "[[source]] #1")


# The fetch is held in flight by git's own uploadpack.packObjectsHook (set in a global config file that
# only the killed process sees): upload-pack sends the first half of the real pack, marks that it is
# sending, then hangs. The kill waits for the mark, not for a guessed time, so a slow machine only waits.
HALF_PACK_HOOK = """#!/bin/sh
"$@" > "$0.pack" || exit 1
head -c $(( $(wc -c < "$0.pack") / 2 )) "$0.pack"
touch "$0.sending"
exec sleep 600
"""
FETCH_IN_FLIGHT_WAIT_S = 180  # for `qabot index` to start and reach `git fetch` on a busy 2-core machine


def test_kill_9_in_the_middle_of_a_git_fetch_loses_nothing(tmp_path, repo):
    """`qabot index` and its git processes SIGKILLed while `git fetch` receives a pack: the snapshot, both
    refs and the mirror are as before, a build reads the old text, and the next sync picks up the change."""
    import os
    import signal
    import time

    from clikit import ENV, QABOT, qabot

    (tmp_path / "qabot.toml").write_text(f'[[source]]\ngit = "{repo}"\nname = "handbook"\n')
    env = {"QABOT_ENCODER": "hash"}
    assert qabot("index", cwd=tmp_path, env=env).returncode == 0
    (folder,) = (tmp_path / ".qabot" / "sources").glob("handbook-*")
    mirror, snapshot = folder / "repo.git", folder / "snapshot.json"
    before, old = snapshot.read_bytes(), git(repo, "rev-parse", "HEAD")
    (repo / "docs" / "guide.md").write_text(GUIDE.replace("within a minute", "within five minutes"))
    git(repo, "commit", "-qam", "slower rollback")

    hook = tmp_path / "half-pack.sh"
    hook.write_text(HALF_PACK_HOOK)
    hook.chmod(0o755)
    (tmp_path / "gitconfig").write_text(f"[uploadpack]\n\tpackObjectsHook = {hook}\n")
    child_env = dict(ENV, **env, GIT_CONFIG_GLOBAL=str(tmp_path / "gitconfig"))
    proc = subprocess.Popen(
        [QABOT, "index"], cwd=tmp_path, env=child_env, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + FETCH_IN_FLIGHT_WAIT_S
        while not Path(f"{hook}.sending").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Path(f"{hook}.sending").exists(), "the sync never reached git fetch"
        os.killpg(proc.pid, signal.SIGKILL)  # qabot, git fetch, unpack-objects, upload-pack: the whole group
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)

    assert snapshot.read_bytes() == before
    assert git(mirror, "rev-parse", "refs/qabot/fetched") == old  # the fetch did not finish
    assert git(mirror, "rev-parse", "refs/qabot/indexed") == old
    git(mirror, "fsck", "--connectivity-only", "--no-progress")  # check=True: a broken mirror fails here
    engine = Engine(settings_for(tmp_path, git=str(repo), name="handbook"))
    engine.rebuild(full=True)  # reads the snapshot's commit from the mirror the kill left
    assert quote_for(engine, "How do I return to the previous release?", ROLLBACK)

    r = qabot("index", cwd=tmp_path, env=env)
    assert r.returncode == 0 and "Synced handbook: 0 added, 1 changed" in r.stdout, r.stdout + r.stderr
    assert git(mirror, "rev-parse", "refs/qabot/indexed") == git(repo, "rev-parse", "HEAD")
    engine = Engine(settings_for(tmp_path, git=str(repo), name="handbook"))
    assert quote_for(engine, "How do I return to the previous release?", "within five minutes")
