"""Every loader, good files and bad ones: bad files are skipped with a warning naming them."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path

import pytest

from index.loaders import (
    MAX_FRONT_MATTER,
    SkipDocument,
    iter_source_files,
    load_documents,
    load_file,
)

from conftest import ROOT


def write(p: Path, data) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        p.write_text(data, encoding="utf-8")
    else:
        p.write_bytes(data)
    return p


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF, one text object per page (Helvetica), written by hand."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i, text in enumerate(pages):
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        body = " ".join(f"({_esc(line)}) Tj T*" for line in text.split("\n"))
        stream = f"BT /F1 12 Tf 14 TL 72 720 Td {body} ET".encode("latin-1")
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info = ""
    if title:
        objs.append(f"<< /Title ({_esc(title)}) >>".encode("latin-1"))
        info = f" /Info {len(objs)} 0 R"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + o + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{off:010d} 00000 n \n".encode() for off in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# ---- markdown ----------------------------------------------------------------------------------
MD = """---
title: "Treasury Sanctions Example Bank"
url: "https://home.treasury.gov/news/press-releases/sb9999"
date: 2025-11-04
publisher: Treasury
---

# Heading in the body

Today, OFAC designated Example Bank. It moved money for the regime.
"""


def test_markdown_front_matter(tmp_path):
    p = write(tmp_path / "docs" / "a.md", MD)
    d = load_file(p, tmp_path)
    assert d.path == "docs/a.md" and d.kind == "markdown"
    assert d.title == "Treasury Sanctions Example Bank"
    assert d.url == "https://home.treasury.gov/news/press-releases/sb9999"
    assert d.date == "2025-11-04"
    assert d.meta["publisher"] == "Treasury"
    assert d.text in MD and d.text.startswith("\n# Heading")  # body verbatim: quotes match the file
    assert d.content_hash and len(d.content_hash) == 64


def test_markdown_without_front_matter_titles_from_heading(tmp_path):
    d = load_file(write(tmp_path / "b.md", "Intro line.\n\n## The Real Title ##\n\nBody text here.\n"), tmp_path)
    assert d.title == "The Real Title" and d.url is None and d.date is None
    d = load_file(write(tmp_path / "plain-name.md", "No heading at all, just a sentence.\n"), tmp_path)
    assert d.title == "plain-name"


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("---\ntitle: x\nnever closed\n\nBody.\n", "never closed"),
        ("---\ntitle: [unclosed\n---\nBody.\n", "malformed front matter"),
        ("---\n- a\n- b\n---\nBody.\n", "not a key: value mapping"),
        ("---\ntitle: only front matter\n---\n", "no text after its front matter"),
        ("---\ntitle: x\nurl: {a: [b\n---\nBody.\n", "malformed front matter"),
    ],
)
def test_markdown_bad_front_matter(raw, reason, tmp_path):
    with pytest.raises(SkipDocument, match=reason):
        load_file(write(tmp_path / "bad.md", raw), tmp_path)


def test_markdown_huge_front_matter(tmp_path):
    raw = "---\ntitle: big\nnotes: " + "x" * (MAX_FRONT_MATTER + 10) + "\n---\nBody sentence.\n"
    with pytest.raises(SkipDocument, match="larger than 64 KB"):
        load_file(write(tmp_path / "big.md", raw), tmp_path)


def test_front_matter_with_crlf_and_bom(tmp_path):
    raw = "\ufeff---\r\ntitle: Windows file\r\n---\r\nBody sentence here.\r\n"
    d = load_file(write(tmp_path / "w.md", raw.encode("utf-8")), tmp_path)
    assert d.title == "Windows file" and "Body sentence here." in d.text


# ---- plain text --------------------------------------------------------------------------------
def test_text_url_last_line(tmp_path):
    d = load_file(
        write(tmp_path / "s.txt", "**A Title Line**\nSome body text.\n\nhttps://example.org/story\n"), tmp_path
    )
    assert d.url == "https://example.org/story" and d.title == "A Title Line" and "example.org" not in d.text
    assert d.kind == "text"


def test_text_url_first_line(tmp_path):
    d = load_file(write(tmp_path / "s.txt", "https://example.org/first\n\nFirst real line.\nMore.\n"), tmp_path)
    assert d.url == "https://example.org/first" and d.text.startswith("\nFirst real line.")
    assert d.title == "First real line."


def test_text_without_url_and_url_only(tmp_path):
    d = load_file(write(tmp_path / "n.txt", "Just text, no link.\n"), tmp_path)
    assert d.url is None
    d = load_file(write(tmp_path / "u.txt", "https://example.org/only\n"), tmp_path)  # a lone URL is its text
    assert d.url is None and d.text.strip() == "https://example.org/only"


def test_url_with_a_note_keeps_the_link(tmp_path):
    d = load_file(
        write(
            tmp_path / "n.md",
            '---\nurl: "https://ofac.treasury.gov/media/923126/download?inline (advisory PDF)"\n---\nBody sentence.\n',
        ),
        tmp_path,
    )
    assert d.url == "https://ofac.treasury.gov/media/923126/download?inline"


def test_seed_article_link():
    seed = next((ROOT / "seeds").glob("*.txt"))
    d = load_file(seed, ROOT)
    assert d.url.startswith("https://crypto.news/") and d.title.startswith("South Korea Open")
    assert d.text in seed.read_text(encoding="utf-8")


# ---- HTML --------------------------------------------------------------------------------------
HTML = """<!doctype html><html><head><title>Page  Title</title>
<link rel="canonical" href="https://example.gov/page">
<meta property="og:url" content="https://example.gov/og">
<style>.x { color: red } SECRETSTYLE</style><script>var SECRETSCRIPT = 1;</script></head>
<body><nav>Home | SECRETNAV</nav><header>SECRETHEADER</header>
<main><h1>Main heading</h1><p>First paragraph with <b>bold</b> &amp; entities.</p>
<script>SECRETSCRIPT2()</script><ul><li>Item one.</li><li>Item two.</li></ul></main>
<aside>SECRETASIDE</aside><footer>SECRETFOOTER</footer></body></html>"""


def test_html_main_text_title_canonical(tmp_path):
    d = load_file(write(tmp_path / "p.html", HTML), tmp_path)
    assert d.kind == "html" and d.title == "Page Title" and d.url == "https://example.gov/page"
    assert "First paragraph with bold & entities." in d.text and "# Main heading" in d.text and "Item two." in d.text
    assert "SECRET" not in d.text


def test_html_og_url_fallback_and_body_without_main(tmp_path):
    html = (
        '<html><head><meta property="og:url" content="https://example.gov/og">'
        '<meta property="og:title" content="OG Title"></head><body><div>Body text only.</div></body></html>'
    )
    d = load_file(write(tmp_path / "o.htm", html), tmp_path)
    assert d.url == "https://example.gov/og" and d.title == "OG Title" and "Body text only." in d.text


def test_html_deeply_nested(tmp_path):
    html = "<html><body>" + "<div><span>" * 5000 + "Deep text sentence." + "</span></div>" * 5000 + "</body></html>"
    d = load_file(write(tmp_path / "deep.html", html), tmp_path)
    assert "Deep text sentence." in d.text


def test_html_unclosed_tags_and_no_text(tmp_path):
    d = load_file(write(tmp_path / "u.html", "<p>Unclosed <b>bold <i>italic text."), tmp_path)
    assert "Unclosed bold italic text." in d.text
    with pytest.raises(SkipDocument, match="no visible text"):
        load_file(write(tmp_path / "e.html", "<html><script>x()</script><nav>menu</nav></html>"), tmp_path)


# ---- PDF ---------------------------------------------------------------------------------------
def test_pdf_pages_and_links(tmp_path):
    data = make_pdf(["The first page says hello.", "The second page names Example Bank."], title="A PDF Report")
    p = write(tmp_path / "docs" / "r.pdf", data)
    d = load_file(p, tmp_path, base_url="https://files.example.org/")
    assert d.kind == "pdf" and d.title == "A PDF Report"
    assert "The first page says hello." in d.text and "The second page names Example Bank." in d.text
    assert [n for _, n in d.pages] == [1, 2]
    second = d.text.index("The second page")
    assert d.pages[1][0] <= second and d.pages[0][0] <= d.text.index("The first page") < d.pages[1][0]
    assert d.url == "https://files.example.org/docs/r.pdf"
    from index.present import text_fragment_link

    assert text_fragment_link(d.url, "The second page", "pdf", 2) == "https://files.example.org/docs/r.pdf#page=2"


def test_pdf_without_title_uses_first_line(tmp_path):
    d = load_file(write(tmp_path / "n.pdf", make_pdf(["Quarterly summary\nMore text on the page."])), tmp_path)
    assert d.title.startswith("Quarterly summary") and d.url is None


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"%PDF-1.4\n garbage that is not a pdf", "could not be read as PDF|no extractable text"),
        (make_pdf([""]), "no extractable text"),
    ],
)
def test_pdf_bad(data, reason, tmp_path):
    with pytest.raises(SkipDocument, match=reason):
        load_file(write(tmp_path / "bad.pdf", data), tmp_path)


# ---- bytes-level problems ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("bin.md", bytes(range(256)) * 8, "binary"),
        ("latin1.md", "Caf\xe9 cr\xe8me, a sentence.".encode("latin-1"), "not valid UTF-8"),
        ("empty.md", b"", "empty"),
        ("blank.txt", b"  \n\t\n", "empty"),
        ("nul.txt", b"text\x00more", "binary"),
        ("page.html", b"\xff\xfe<\x00h\x00", "binary|UTF-8"),
    ],
)
def test_unreadable_bytes(name, data, reason, tmp_path):
    with pytest.raises(SkipDocument, match=reason):
        load_file(write(tmp_path / name, data), tmp_path)


def test_oversized_file_skipped(tmp_path):
    p = tmp_path / "huge.txt"
    with open(p, "wb") as fh:
        fh.truncate(21 * 1024 * 1024)
    with pytest.raises(SkipDocument, match="larger than 20 MB"):
        load_file(p, tmp_path)


# ---- links -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url", ["not a url", "javascript:alert(1)", "http://", "ftp://x.org/a", "https://exa mple.org"]
)
def test_broken_links_dropped(url, tmp_path):
    d = load_file(write(tmp_path / "l.md", f'---\ntitle: t\nurl: "{url}"\n---\nBody sentence.\n'), tmp_path)
    assert d.url is None
    d = load_file(tmp_path / "l.md", tmp_path, base_url="https://wiki.example.org/docs")
    assert d.url == "https://wiki.example.org/docs/l.md"


def test_base_url_quotes_path(tmp_path):
    d = load_file(
        write(tmp_path / "sub dir" / "naïve file.txt", "Body sentence.\n"), tmp_path, base_url="https://w.example/"
    )
    assert d.url == "https://w.example/sub%20dir/na%C3%AFve%20file.txt"


# ---- a folder of good and bad files ------------------------------------------------------------
def test_load_documents_skips_bad_and_keeps_good(tmp_path):
    src = tmp_path / "src"
    write(src / "good.md", MD)
    write(src / "good.txt", "A good text file.\nhttps://example.org/x\n")
    write(src / "good.html", HTML)
    write(src / "good.pdf", make_pdf(["A good PDF page."]))
    write(src / "sub" / "nested.md", "# Nested\n\nA nested document.\n")
    bad = {
        "bin.md": bytes(range(256)),
        "utf.txt": b"\xff\xfe\xfa bad",
        "empty.md": b"",
        "open.md": b"---\ntitle: x\n",
        "yaml.md": b"---\ntitle: [x\n---\nBody.\n",
        "dead.pdf": b"%PDF-1.4 nope",
        "blank.html": b"<html></html>",
    }
    for n, data in bad.items():
        write(src / n, data)
    write(src / "dup.md", MD)  # same bytes as good.md
    write(src / ".hidden.md", "# Hidden\n\nNot indexed.\n")
    write(src / "notes.docx", b"PK\x03\x04")
    docs, warnings = load_documents([src, tmp_path / "missing"], tmp_path)
    paths = sorted(d.path for d in docs)
    assert paths == ["src/good.html", "src/good.md", "src/good.pdf", "src/good.txt", "src/sub/nested.md"] or paths == [
        "src/dup.md",
        "src/good.html",
        "src/good.pdf",
        "src/good.txt",
        "src/sub/nested.md",
    ]
    for n in bad:
        assert sum(f"src/{n}: skipped" in w for w in warnings) == 1, (n, warnings)
    assert any("same content as" in w for w in warnings)
    assert any("missing" in w and "does not exist" in w for w in warnings)
    assert not any("hidden" in w or "docx" in w for w in warnings)
    assert len(warnings) == len(bad) + 2


def as_unprivileged(fn):
    """fn() run where permissions apply: in a forked child that drops to nobody when the tests run as
    root (root reads everything, so chmod alone proves nothing), else in this process."""
    if os.geteuid() != 0:
        return fn()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(w, pickle.dumps(fn()))
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0 and data, "the unprivileged child failed"
    return pickle.loads(data)


@pytest.fixture()
def open_tmp():
    """A temporary folder that an unprivileged child can reach (pytest's tmp_path is root-only)."""
    d = Path(tempfile.mkdtemp(prefix="qabot-perm-"))
    d.chmod(0o755)
    yield d
    for sub in d.rglob("*"):
        if sub.is_dir() and not sub.is_symlink():
            sub.chmod(0o755)
    shutil.rmtree(d)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_unreadable_permission_is_a_warning(open_tmp):
    root = open_tmp
    src = root / "src"
    write(src / "a.md", "# A\n\nText.\n")
    write(src / "b.md", "# B\n\nOther text.\n")
    src.chmod(0o755)
    (src / "a.md").chmod(0o000)  # really unreadable to the child
    docs, warnings = as_unprivileged(lambda: load_documents([src], root))
    assert [d.path for d in docs] == ["src/b.md"]
    assert warnings == ["src/a.md: skipped, cannot be read (Permission denied)"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_unreadable_folder_is_a_warning(open_tmp):
    """Issue 10 item 12: os.walk drops a folder it cannot list unless asked; it is named now."""
    root = open_tmp
    src = root / "src"
    write(src / "ok.md", "# Ok\n\nReadable text.\n")
    write(src / "locked" / "inner.md", "# Inner\n\nUnreachable text.\n")
    write(src / "locked" / "deeper" / "more.md", "# More\n\nAlso unreachable.\n")
    for d in (src, src / "locked" / "deeper"):
        d.chmod(0o755)
    (src / "locked").chmod(0o000)
    docs, warnings = as_unprivileged(lambda: load_documents([src], root))
    assert [d.path for d in docs] == ["src/ok.md"]
    assert warnings == [f"{src / 'locked'}: folder cannot be read (Permission denied); skipped"]
    # a source folder that cannot be listed at all is named the same way, not skipped in silence
    (src / "locked").chmod(0o755)
    src.chmod(0o000)
    files, warnings = as_unprivileged(lambda: iter_source_files([src]))
    assert files == [] and warnings == [f"{src}: folder cannot be read (Permission denied); skipped"]


def test_symlinks(tmp_path):
    src, outside = tmp_path / "src", tmp_path / "outside"
    write(outside / "secret.md", "# Secret\n\nOutside the sources.\n")
    write(src / "real.md", "# Real\n\nInside.\n")
    (src / "link-out.md").symlink_to(outside / "secret.md")
    (src / "dir-out").symlink_to(outside, target_is_directory=True)
    (src / "link-in.md").symlink_to(src / "real.md")
    files, warnings = iter_source_files([src])
    names = [f.name for f in files]
    assert "link-out.md" not in names and "secret.md" not in names
    assert "link-in.md" in names and "real.md" in names
    assert any("link-out.md" in w and "outside" in w for w in warnings)
    # called on its own (evaluate.py does, for PDFs), a path that is a symlink is the caller's choice
    d = load_file(src / "link-in.md", tmp_path, base_url="https://w.example/")
    assert d.path == "src/link-in.md" and "Inside." in d.text and d.url == "https://w.example/src/link-in.md"


def test_real_corpus_loads_cleanly():
    docs, warnings = load_documents([ROOT / "docs_corpus", ROOT / "seeds"], ROOT)
    assert warnings == []
    assert len(docs) == len(list((ROOT / "docs_corpus").glob("*.md"))) + len(list((ROOT / "seeds").glob("*.txt")))
    for d in docs:
        assert d.title and d.text.strip()
        assert d.text in (ROOT / d.path).read_text(encoding="utf-8-sig")  # clean text is verbatim file text
        assert d.url is None or d.url.startswith("https://"), d.path  # a link, or none: never a broken one
    with_links = [d for d in docs if d.url]
    assert len(with_links) >= len(docs) - 2
    by_path = {d.path: d for d in docs}
    assert (
        by_path["docs_corpus/2022-05-16_state-treasury-fbi_dprk-it-worker-advisory-excerpt.md"].url
        == "https://ofac.treasury.gov/media/923126/download?inline"
    )


# ---- issue 10 item 4: files and folders swapped for symlinks between listing and reading ---------
MARKER = "The QUARTZWALRUS marker sentence lives outside every source folder."


def swap_after_listing(monkeypatch, swaps: dict[str, object]):
    """Run swaps[name]() just before the loader reads the file called `name`: listing is over by
    then, so this is the race an attacker with write access to a source folder would win."""
    import index.loaders as loaders

    real = loaders.load_file

    def load_file(path, *a, **kw):
        if (fn := swaps.pop(Path(path).name, None)) is not None:
            fn()
        return real(path, *a, **kw)

    monkeypatch.setattr(loaders, "load_file", load_file)


def relink(path: Path, target: Path, directory: bool = False):
    """Replace `path` (a file or a folder, moved aside) with a symlink to `target`, as `mv` would."""

    def swap():
        path.rename(path.with_name(path.name + ".moved-aside"))
        path.symlink_to(target, target_is_directory=directory)

    return swap


def assert_no_outside_text(docs):
    for d in docs:
        assert "QUARTZWALRUS" not in d.text and "root:x:0:0" not in d.text, d.path


def test_file_swapped_for_a_symlink_is_not_followed(tmp_path, monkeypatch):
    src, outside = tmp_path / "src", tmp_path / "outside"
    write(outside / "secret.md", f"# Secret\n\n{MARKER}\n")
    write(src / "a.md", "# A\n\nAn innocent document.\n")
    write(src / "b.md", "# B\n\nAnother innocent document.\n")
    write(src / "c.txt", "A third innocent document.\n")
    passwd = Path("/etc/passwd").is_file()
    swaps = {"a.md": relink(src / "a.md", outside / "secret.md")}
    if passwd:
        swaps["c.txt"] = relink(src / "c.txt", Path("/etc/passwd"))  # the issue's own reproduction
    swap_after_listing(monkeypatch, swaps)
    docs, warnings = load_documents([src], tmp_path)
    assert not swaps, "the hook never ran"
    assert_no_outside_text(docs)
    assert [d.path for d in docs] == (["src/b.md"] if passwd else ["src/b.md", "src/c.txt"])
    assert warnings == ["src/a.md: skipped, changed into a symlink while indexing"] + (
        ["src/c.txt: skipped, changed into a symlink while indexing"] if passwd else []
    )


def test_folder_swapped_for_a_symlink_is_not_followed(tmp_path, monkeypatch):
    src, outside = tmp_path / "src", tmp_path / "outside"
    write(outside / "b.md", f"# B\n\n{MARKER}\n")  # same name as the listed file, so the path still works
    write(outside / "deeper" / "c.md", f"# C\n\n{MARKER}\n")
    write(src / "a.md", "# A\n\nAn innocent document.\n")
    write(src / "sub" / "b.md", "# B\n\nA nested innocent document.\n")
    write(src / "x" / "deeper" / "c.md", "# C\n\nA deeper innocent document.\n")
    swap_after_listing(
        monkeypatch,
        {"b.md": relink(src / "sub", outside, directory=True), "c.md": relink(src / "x", outside, directory=True)},
    )
    docs, warnings = load_documents([src], tmp_path)
    assert_no_outside_text(docs)
    assert [d.path for d in docs] == ["src/a.md"]
    assert "src/sub/b.md: skipped, its folder sub changed into a symlink while indexing" in warnings
    assert "src/x/deeper/c.md: skipped, its folder x changed into a symlink while indexing" in warnings


def test_source_folder_swapped_for_a_symlink_is_not_followed(tmp_path, monkeypatch):
    src, outside = tmp_path / "src", tmp_path / "outside"
    write(outside / "a.md", f"# A\n\n{MARKER}\n")
    write(src / "a.md", "# A\n\nAn innocent document.\n")
    swap_after_listing(monkeypatch, {"a.md": relink(src, outside, directory=True)})
    docs, warnings = load_documents([src], tmp_path)
    assert_no_outside_text(docs)
    assert docs == [] and len(warnings) == 1
    assert warnings[0].startswith("src/a.md: skipped, its source folder ") and "replaced while indexing" in warnings[0]


def test_inside_symlink_is_read_at_its_listed_target(tmp_path, monkeypatch):
    """A symlink pointing inside the sources is still indexed; repointed after listing, it is read
    where it pointed when listed (a regular file inside the sources), never at the new target."""
    src, other, outside = tmp_path / "src", tmp_path / "other", tmp_path / "outside"
    write(outside / "secret.md", f"# Secret\n\n{MARKER}\n")
    write(src / "real.md", "# Real\n\nThe real inside document.\n")
    write(other / "target.md", "# Target\n\nA document in the second source folder.\n")
    (src / "link-in.md").symlink_to(src / "real.md")
    (src / "link-other.md").symlink_to(other / "target.md")
    docs, warnings = load_documents([src, other], tmp_path)
    assert warnings == [
        "src/real.md: skipped, same content as src/link-in.md",
        "other/target.md: skipped, same content as src/link-other.md",
    ]
    assert sorted(d.path for d in docs) == ["src/link-in.md", "src/link-other.md"]

    def repoint(link):
        def swap():
            link.unlink()
            link.symlink_to(outside / "secret.md")

        return swap

    swap_after_listing(
        monkeypatch, {"link-in.md": repoint(src / "link-in.md"), "link-other.md": repoint(src / "link-other.md")}
    )
    docs, warnings = load_documents([src, other], tmp_path)
    assert_no_outside_text(docs)
    by_path = {d.path: d.text for d in docs}
    assert "The real inside document." in by_path["src/link-in.md"]
    assert "second source folder" in by_path["src/link-other.md"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_file_swapped_for_a_fifo_does_not_hang(tmp_path, monkeypatch):
    import threading

    src = tmp_path / "src"
    write(src / "a.md", "# A\n\nAn innocent document.\n")
    write(src / "b.md", "# B\n\nAnother innocent document.\n")
    fifo = src / "a.md"

    def swap():
        fifo.unlink()
        os.mkfifo(fifo)

    swap_after_listing(monkeypatch, {"a.md": swap})
    out = {}
    t = threading.Thread(
        target=lambda: out.update(zip(("docs", "warnings"), load_documents([src], tmp_path))), daemon=True
    )
    t.start()
    t.join(10)
    finished = not t.is_alive()
    try:  # release a reader stuck on the FIFO, whatever happened
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass
    t.join(10)
    assert finished, "the loader blocked on a FIFO swapped in for a document"
    assert [d.path for d in out["docs"]] == ["src/b.md"]
    assert out["warnings"] == ["src/a.md: skipped, is not a regular file (changed while indexing?)"]


# ---- issue 10 item 8: base_url links for source folders outside the project root ---------------
def test_base_url_for_a_source_outside_the_root(tmp_path):
    project, wiki = tmp_path / "project", tmp_path / "ext" / "wiki-export"
    write(project / "docs" / "a.md", "# A\n\nA project document.\n")
    write(wiki / "page.md", "# Page\n\nA wiki page.\n")
    write(wiki / "sub dir" / "deep page.md", "# Deep\n\nA deeper wiki page.\n")
    docs, warnings = load_documents([project / "docs", wiki], project, base_url="https://wiki.example.org/")
    assert warnings == []
    by_path = {d.path: d.url for d in docs}
    assert by_path == {  # paths (the index's identity) unchanged; links relative to the source folder
        "docs/a.md": "https://wiki.example.org/docs/a.md",
        "../ext/wiki-export/page.md": "https://wiki.example.org/page.md",
        "../ext/wiki-export/sub dir/deep page.md": "https://wiki.example.org/sub%20dir/deep%20page.md",
    }
    assert not any(".." in u for u in by_path.values())


@pytest.mark.slow
@pytest.mark.skipif(not Path("/etc/passwd").is_file(), reason="the issue's reproduction reads /etc/passwd")
def test_cli_index_with_a_document_swapped_for_etc_passwd(tmp_path):
    """The issue's reproduction through the real CLI: `qabot index` is paused while it loads the
    10th file, the last listed document becomes a symlink to /etc/passwd, the build goes on; then
    `qabot ask "root x 0 0 bin bash"` must not quote /etc/passwd."""
    import json
    import queue
    import subprocess
    import sys
    import threading

    for folder in ("docs_corpus", "seeds"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    cfg = tmp_path / "qabot.toml"
    cfg.write_text('sources = ["docs_corpus", "seeds"]\n')
    victim = sorted((tmp_path / "seeds").iterdir())[-1]  # listed last: read long after the pause
    victim_rel = victim.relative_to(tmp_path).as_posix()
    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QABOT_", "QT_"))}
    env.update(QT_ENCODER="hash", QT_STOP="load-mid", QT_GO=str(go), PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    probe = [sys.executable, str(ROOT / "tests" / "qabot_probe.py"), "--config", str(cfg)]
    p = subprocess.Popen(probe + ["index", "-q"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in p.stderr] + [lines.put(None)], daemon=True).start()
    seen = []
    try:
        while (line := lines.get(timeout=120)) is not None and line.strip() != "@load-mid":
            seen.append(line)
        assert line is not None, "".join(seen)
        victim.unlink()
        victim.symlink_to("/etc/passwd")
        go.touch()
        assert p.wait(120) == 0
    finally:
        if p.poll() is None:
            p.kill()
    while (line := lines.get(timeout=30)) is not None:
        seen.append(line)
    r = subprocess.run(
        probe + ["ask", "--json", "root x 0 0 bin bash"], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for q in out["quotes"]:
        assert "root:x:0:0" not in q["text"] and "/bin/bash" not in q["text"] and q["doc"] != victim_rel, q
    assert f"warning: {victim_rel}: skipped, changed into a symlink while indexing\n" in seen, "".join(seen)
    # the next build sees the link when listing and names it the way it always did
    r = subprocess.run(probe + ["index", "-q"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "symlink points outside the source folders" in r.stderr, r.stderr
