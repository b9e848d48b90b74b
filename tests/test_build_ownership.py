"""Issue 10, item 1: cleanup deletes only what the index store made, never through a link.

A careless admin (or an attacker who can write the index folder) makes builds/ a symlink to another
folder, or leaves other data in it. The old cleanup treated every directory there as a build and removed
those sorting after the current build id with rmtree, following the link. These tests run the real
`qabot` script (hash encoder: builds take about a second) exactly as the issue reproduces it, and the
store's cleanup in-process for the leftovers it must still remove.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from index.build import build_index
from index.errors import UnsafeIndexDirError
from index.store import BUILD_MARKER, LEASE_FILE, IndexStore

from clikit import admin_qabot

pytestmark = pytest.mark.slow


def plant(folder: Path) -> dict[str, str]:
    """Somebody else's data: apt/ and ssh/ with files in them. Returns {relative path: content}."""
    files = {
        "apt/sources.list": "deb http://deb.example/ stable main\n",
        "ssh/id_ed25519": "PRIVATE KEY\n",
        "ssh/known_hosts": "host.example ssh-ed25519 AAAA\n",
    }
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return files


def still_there(folder: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        assert (folder / rel).read_text() == text, f"{folder / rel} was deleted or changed"


def test_symlinked_builds_folder_is_refused_and_its_target_untouched(corpus_copy):
    root = corpus_copy.root
    first = admin_qabot(root, "index", "-q")
    assert first.returncode == 0, first.stderr
    index = root / ".qabot"
    current = (index / "CURRENT").read_text()
    d = root / "D"
    planted = plant(d)
    (index / "builds").rename(root / "builds.away")
    (index / "builds").symlink_to(d)

    for argv in (["index", "-q"], ["index", "--full", "-q"]):
        r = admin_qabot(root, *argv)
        assert r.returncode == 1, (argv, r.returncode, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
        assert f"{index / 'builds'} is a symbolic link" in r.stderr, r.stderr
        assert "never follows a link" in r.stderr and "index_dir" in r.stderr, r.stderr
        still_there(d, planted)
        assert sorted(p.name for p in d.iterdir()) == ["apt", "ssh"]  # nothing written into the target either
    assert (index / "CURRENT").read_text() == current

    # the fix the message names: a real folder again, and the next build works
    (index / "builds").unlink()
    (root / "builds.away").rename(index / "builds")
    r = admin_qabot(root, "index", "--full", "-q")
    assert r.returncode == 0, r.stderr
    still_there(d, planted)


def test_foreign_entries_in_builds_are_refused_and_kept(corpus_copy, hash_encoder, tmp_path):
    root = corpus_copy.root
    assert admin_qabot(root, "index", "-q").returncode == 0
    builds = root / ".qabot" / "builds"
    (current,) = [p.name for p in builds.iterdir()]
    planted = plant(builds)  # apt/, ssh/: names that sort after every build id
    # a folder named exactly like a newer build (an "orphan" to the old cleanup) holding someone's data
    lookalike = builds / "29990101T000000-abcdef"
    (lookalike / "keys").mkdir(parents=True)
    (lookalike / "keys" / "id_rsa").write_text("PRIVATE KEY\n")
    (builds / "notes.txt").write_text("my notes\n")
    outside = tmp_path / "outside"
    outside_files = plant(outside)
    (builds / "29990101T000001-abcdef").symlink_to(outside)  # a build-id name that is a link

    r = admin_qabot(root, "index", "--full", "-q")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert f"{builds} holds 5 entries qabot did not create" in r.stderr, r.stderr
    for name in ("29990101T000000-abcdef", "29990101T000001-abcdef", "apt", "notes.txt", "ssh"):
        assert name in r.stderr
    assert "move them out of" in r.stderr, r.stderr
    still_there(builds, planted)
    still_there(outside, outside_files)
    assert (lookalike / "keys" / "id_rsa").read_text() == "PRIVATE KEY\n"
    assert (builds / "notes.txt").read_text() == "my notes\n"
    assert sorted(p.name for p in builds.iterdir()) == sorted(
        [current, "29990101T000000-abcdef", "29990101T000001-abcdef", "apt", "notes.txt", "ssh"]
    )

    # in-process too: the build refuses before it touches anything
    with pytest.raises(UnsafeIndexDirError, match="did not create") as ei:
        build_index(corpus_copy, hash_encoder, full=True)
    assert "index_dir" in ei.value.hint
    still_there(builds, planted)


def test_cleanup_removes_only_what_the_store_made(corpus_copy, hash_encoder, tmp_path):
    """The leftovers a killed build leaves are still removed; a link inside a build is removed, not followed."""
    ids = [build_index(corpus_copy, hash_encoder, full=True).build_id for _ in range(3)]
    store = IndexStore(corpus_copy.index_path)
    builds = store.builds
    assert sorted(p.name for p in builds.iterdir()) == ids[-2:]
    for bid in ids[-2:]:
        assert (builds / bid / BUILD_MARKER).is_file() and (builds / bid / LEASE_FILE).is_file()
    outside = tmp_path / "outside"
    outside_files = plant(outside)
    # the store's own leftovers, as a kill -9 leaves them
    tmp_marked = builds / ".tmp-20000101T000000-aaaaaa"  # killed mid-write: marker and some files
    tmp_marked.mkdir()
    (tmp_marked / BUILD_MARKER).write_text("qabot build\n")
    (tmp_marked / "db.sqlite").write_bytes(b"partial")
    (tmp_marked / "escape").symlink_to(outside)  # a link inside is unlinked, its target kept
    (builds / ".tmp-20000101T000001-bbbbbb").mkdir()  # killed between mkdir and the marker: empty
    legacy = builds / "20000101T000002-cccccc"  # a finished build from before markers: only build files
    legacy.mkdir()
    for name in ("manifest.json", "db.sqlite", "chunks.faiss"):
        (legacy / name).write_text("x")
    half = builds / "20000101T000003-dddddd"  # a removal cut short: the marker goes last
    half.mkdir()
    (half / BUILD_MARKER).write_text("qabot build\n")
    orphan = builds / "29990101T000000-eeeeee"  # renamed but never switched to
    orphan.mkdir()
    (orphan / BUILD_MARKER).write_text("qabot build\n")
    (orphan / "manifest.json").write_text("{}")
    with store.lock():
        removed = store.cleanup()
    assert set(removed) == {
        ".tmp-20000101T000000-aaaaaa",
        ".tmp-20000101T000001-bbbbbb",
        "20000101T000002-cccccc",
        "20000101T000003-dddddd",
        "29990101T000000-eeeeee",
    }
    assert sorted(p.name for p in builds.iterdir()) == ids[-2:]
    still_there(outside, outside_files)
    store.open_current(verify=True).close()


def test_a_builds_file_or_unmarked_lookalike_is_foreign(corpus_copy, hash_encoder):
    for _ in range(2):  # the current build and the one before it, which cleanup keeps
        build_index(corpus_copy, hash_encoder, full=True)
    store = IndexStore(corpus_copy.index_path)
    odd = store.builds / "20000101T000000-aaaaaa"  # a build-id name, no marker, and a file no build has
    odd.mkdir()
    (odd / "db.sqlite").write_text("x")
    (odd / "photo.jpg").write_text("x")
    with store.lock(), pytest.raises(UnsafeIndexDirError, match="holds 1 entry qabot did not create"):
        store.cleanup()
    assert (odd / "photo.jpg").exists()
    (odd / "photo.jpg").unlink()  # now it holds only build files: the store's (a build from before markers)
    with store.lock():
        assert store.cleanup() == ["20000101T000000-aaaaaa"]
    # builds/ as a plain file is refused too
    other = IndexStore(corpus_copy.index_path.parent / "other")
    other.path.mkdir()
    other.builds.write_text("not a folder")
    with pytest.raises(UnsafeIndexDirError, match="is not a folder"):
        other.new_build_dir()
    assert other.builds.read_text() == "not a folder"
