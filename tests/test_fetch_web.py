"""Web sources against a real HTTP server on 127.0.0.1 (bench.sources.LoopbackSite, in a thread): a
sitemap, robots.txt, ETags and 304s, a redirect loop, a 500, a slow page, a huge page, a page that
changes between syncs; then the server gone, robots.txt failing and a sitemap that shrinks."""

from __future__ import annotations

import pytest

from bench.sources import LoopbackSite, article
from index.config import Settings
from index.engine import Engine
from index.sourcespec import SourceSpec

KEEP = "The harbour office issues pilot permits for the outer quay every weekday morning."
CHANGED = "The harbour office now issues pilot permits for the outer quay only on Thursdays."


@pytest.fixture
def site():
    with LoopbackSite() as s:
        s.page("/permits", "Pilot permits", KEEP)
        s.page("/tides", "Tide tables", "The tide tables for the estuary are printed every Sunday by the port office.")
        s.page("/private/salaries", "Salaries", "The salary bands of the harbour staff are confidential.")
        s.redirects |= {
            "/loop-a": "/loop-b",
            "/loop-b": "/loop-a",
            "/ftp": "ftp://127.0.0.1/x",
            "/away": "http://example.org/",
        }
        s.status["/broken"] = 500
        s.page("/slow", "Slow", "The slow page describes the ferry timetable for winter crossings.")
        s.delay["/slow"] = 3.0
        s.page("/huge", "Huge", "The huge page lists every buoy in the bay. " * 4000)
        s.listed += ["/loop-a", "/ftp", "/away", "/broken"]
        yield s


def settings_for(tmp_path, site, **table) -> Settings:
    spec = {"sitemap": site.url("/sitemap.xml"), "name": "port", "rate": 0, "timeout": 1.0, "max_page_bytes": 65536}
    return Settings(
        root=tmp_path, index_dir=".qabot", sources=(), source=SourceSpec.parse_all([spec | table]), encoder="hash"
    )


def quotes(engine: Engine, question: str) -> str:
    answer = engine.ask(question)
    return " ".join(q.text for q in [*answer.quotes, *answer.more])


def test_first_sync_respects_robots_caps_and_redirect_rules(tmp_path, site):
    engine = Engine(settings_for(tmp_path, site))
    refresh = engine.refresh()
    report = refresh.syncs[0]
    assert report.ok, report.error
    assert {d["path"] for d in engine.sources()} == {site.url("/permits"), site.url("/tides")}
    failures = "\n".join(report.warnings)
    assert "robots.txt disallows it" in failures and site.hits["/private/salaries"] == 0
    assert "redirects in a loop" in failures
    assert "not an http(s) URL" in failures and "outside the allowed hosts" in failures
    assert "answered HTTP 500" in failures
    assert "timed out after 1 s" in failures
    assert "is larger than 65,536 bytes" in failures
    assert report.failed_pages == 6
    answer = engine.ask("Who issues pilot permits for the outer quay?")
    quote = next(q for q in answer.quotes if "pilot permits" in q.text)
    assert quote.text in KEEP and quote.url.startswith(site.url("/permits") + "#:~:text=")


def test_unchanged_pages_cost_a_304_and_a_changed_one_is_requoted(tmp_path, site):
    site.listed[:] = ["/permits", "/tides"]
    engine = Engine(settings_for(tmp_path, site))
    engine.refresh()
    sent = site.sent
    again = engine.refresh()
    report = again.syncs[0]
    assert report.not_modified == 2 and report.unchanged == 2
    assert not again.build.switched and again.build.embedded_chunks == 0
    assert site.sent - sent < 1000 and report.requests == 4  # robots.txt, the sitemap and two 304s

    site.page("/permits", "Pilot permits", CHANGED)
    report = engine.refresh().syncs[0]
    assert (report.changed, report.not_modified) == (1, 1)
    assert "only on Thursdays" in quotes(engine, "When does the harbour office issue pilot permits?")


def test_new_bytes_with_the_same_text_are_not_reembedded(tmp_path, site):
    engine = Engine(settings_for(tmp_path, site))
    engine.refresh()
    site.page(
        "/tides",
        "Tide tables",
        "The tide tables for the estuary are printed every Sunday by the port office.",
        extra="Built at 10:42.",
    )
    refresh = engine.refresh()
    assert refresh.syncs[0].not_modified == 1  # /permits; /tides was downloaded again (its ETag changed)
    assert refresh.syncs[0].changed == 0 and refresh.build.embedded_chunks == 0 and not refresh.build.switched


def test_an_unreachable_site_keeps_its_documents_and_is_stale(tmp_path, site):
    engine = Engine(settings_for(tmp_path, site))
    engine.refresh()
    site.stop()
    report = engine.refresh().syncs[0]
    assert not report.ok and "robots.txt" in report.error
    assert "pilot permits" in quotes(engine, "Who issues pilot permits for the outer quay?")
    (row,) = engine.source_status()
    assert row["stale"] and row["documents"] == 2 and row["last_ok"] and row["last_error"] == report.error


def test_robots_txt_failing_or_every_page_failing_is_a_failed_sync(tmp_path, site):
    engine = Engine(settings_for(tmp_path, site))
    engine.refresh()
    site.robots_status = 503
    report = engine.refresh().syncs[0]
    assert not report.ok and "robots.txt answered HTTP 503" in report.error
    site.robots_status = 200
    site.status |= {"/permits": 500, "/tides": 500}
    site.listed[:] = ["/permits", "/tides"]
    report = engine.refresh().syncs[0]
    assert not report.ok and "all 2 pages failed" in report.error
    assert len(engine.sources()) == 2


def test_a_sitemap_that_shrinks_by_more_than_half_is_held_until_accepted(tmp_path, site):
    for i in range(6):
        site.page(f"/runbook/{i}", f"Runbook {i}", article(i))
    engine = Engine(settings_for(tmp_path, site))
    engine.refresh()
    assert len(engine.sources()) == 8
    site.listed[:] = ["/permits"]
    report = engine.refresh().syncs[0]
    assert not report.ok and "lists 1 documents, down from 8" in report.error and "--accept-removals" in report.error
    assert len(engine.sources()) == 8
    report = engine.refresh(accept_removals=True).syncs[0]
    assert report.ok and report.removed == 7
    assert [d["path"] for d in engine.sources()] == [site.url("/permits")]


def test_a_urls_source_on_its_own_host(tmp_path, site):
    spec = SourceSpec.parse_all([{"urls": [site.url("/permits"), site.url("/tides")], "rate": 0}])
    engine = Engine(Settings(root=tmp_path, index_dir=".qabot", sources=(), source=spec, encoder="hash"))
    report = engine.refresh().syncs[0]
    assert report.ok and report.added == 2 and report.name == "127.0.0.1"


def test_kill_9_in_the_middle_of_a_sync_loses_nothing(tmp_path, site):
    """`qabot index` killed with SIGKILL while it waits on a page: the snapshot is the old one, the old
    text is answered, and the next `qabot index` (the per-source lock died with the process) syncs."""
    import os
    import signal
    import subprocess
    import time

    from clikit import ENV, QABOT, qabot

    site.listed[:] = ["/permits", "/tides"]
    (tmp_path / "qabot.toml").write_text(
        f'[[source]]\nsitemap = "{site.url("/sitemap.xml")}"\nname = "port"\nrate = 0\ntimeout = 30\n'
    )
    env = {"QABOT_ENCODER": "hash"}
    assert qabot("index", cwd=tmp_path, env=env).returncode == 0
    (snapshot,) = (tmp_path / ".qabot" / "sources").glob("port-*/snapshot.json")
    before = snapshot.read_bytes()

    site.page("/permits", "Pilot permits", CHANGED)
    site.delay["/tides"] = 60.0  # the sync hangs on the second page
    proc = subprocess.Popen([QABOT, "index"], cwd=tmp_path, env=dict(ENV, **env), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while site.hits["/tides"] < 2 and time.monotonic() < deadline:  # /permits fetched anew, /tides waiting
        time.sleep(0.05)
    assert site.hits["/tides"] == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert snapshot.read_bytes() == before
    r = qabot("ask", "--json", "Who issues pilot permits for the outer quay?", cwd=tmp_path, env=env)
    assert "every weekday morning" in r.stdout and "Thursdays" not in r.stdout

    site.delay.clear()
    r = qabot("index", cwd=tmp_path, env=env)
    assert r.returncode == 0 and "Synced port: 0 added, 1 changed" in r.stdout, r.stdout + r.stderr
    r = qabot("ask", "--json", "When does the harbour office issue pilot permits?", cwd=tmp_path, env=env)
    assert "only on Thursdays" in r.stdout
