"""Every loader, good files and bad ones: bad files are skipped with a warning naming them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import ROOT

from index.loaders import (MAX_FRONT_MATTER, SkipDocument, iter_source_files, load_documents, load_file, load_html,
                           load_markdown, load_text)


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
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                    f"/Contents {5 + 2 * i} 0 R >>".encode())
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


@pytest.mark.parametrize("raw, reason", [
    ("---\ntitle: x\nnever closed\n\nBody.\n", "never closed"),
    ("---\ntitle: [unclosed\n---\nBody.\n", "malformed front matter"),
    ("---\n- a\n- b\n---\nBody.\n", "not a key: value mapping"),
    ("---\ntitle: only front matter\n---\n", "no text after its front matter"),
    ("---\ntitle: x\nurl: {a: [b\n---\nBody.\n", "malformed front matter"),
])
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
    d = load_file(write(tmp_path / "s.txt", "**A Title Line**\nSome body text.\n\nhttps://example.org/story\n"), tmp_path)
    assert d.url == "https://example.org/story" and d.title == "A Title Line" and "example.org" not in d.text
    assert d.kind == "text"


def test_text_url_first_line(tmp_path):
    d = load_file(write(tmp_path / "s.txt", "https://example.org/first\n\nFirst real line.\nMore.\n"), tmp_path)
    assert d.url == "https://example.org/first" and d.text.startswith("\nFirst real line.") and d.title == "First real line."


def test_text_without_url_and_url_only(tmp_path):
    d = load_file(write(tmp_path / "n.txt", "Just text, no link.\n"), tmp_path)
    assert d.url is None
    d = load_file(write(tmp_path / "u.txt", "https://example.org/only\n"), tmp_path)  # a lone URL is its text
    assert d.url is None and d.text.strip() == "https://example.org/only"


def test_url_with_a_note_keeps_the_link(tmp_path):
    d = load_file(write(tmp_path / "n.md", '---\nurl: "https://ofac.treasury.gov/media/923126/download?inline (advisory PDF)"\n'
                                           '---\nBody sentence.\n'), tmp_path)
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
    html = ('<html><head><meta property="og:url" content="https://example.gov/og">'
            '<meta property="og:title" content="OG Title"></head><body><div>Body text only.</div></body></html>')
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
    from index.answer import text_fragment_link

    assert text_fragment_link(d.url, "The second page", "pdf", 2) == "https://files.example.org/docs/r.pdf#page=2"


def test_pdf_without_title_uses_first_line(tmp_path):
    d = load_file(write(tmp_path / "n.pdf", make_pdf(["Quarterly summary\nMore text on the page."])), tmp_path)
    assert d.title.startswith("Quarterly summary") and d.url is None


@pytest.mark.parametrize("data, reason", [
    (b"%PDF-1.4\n garbage that is not a pdf", "could not be read as PDF|no extractable text"),
    (make_pdf([""]), "no extractable text"),
])
def test_pdf_bad(data, reason, tmp_path):
    with pytest.raises(SkipDocument, match=reason):
        load_file(write(tmp_path / "bad.pdf", data), tmp_path)


# ---- bytes-level problems ----------------------------------------------------------------------
@pytest.mark.parametrize("name, data, reason", [
    ("bin.md", bytes(range(256)) * 8, "binary"),
    ("latin1.md", "Caf\xe9 cr\xe8me, a sentence.".encode("latin-1"), "not valid UTF-8"),
    ("empty.md", b"", "empty"),
    ("blank.txt", b"  \n\t\n", "empty"),
    ("nul.txt", b"text\x00more", "binary"),
    ("page.html", b"\xff\xfe<\x00h\x00", "binary|UTF-8"),
])
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
@pytest.mark.parametrize("url", ["not a url", "javascript:alert(1)", "http://", "ftp://x.org/a", "https://exa mple.org"])
def test_broken_links_dropped(url, tmp_path):
    d = load_file(write(tmp_path / "l.md", f"---\ntitle: t\nurl: \"{url}\"\n---\nBody sentence.\n"), tmp_path)
    assert d.url is None
    d = load_file(tmp_path / "l.md", tmp_path, base_url="https://wiki.example.org/docs")
    assert d.url == "https://wiki.example.org/docs/l.md"


def test_base_url_quotes_path(tmp_path):
    d = load_file(write(tmp_path / "sub dir" / "naïve file.txt", "Body sentence.\n"), tmp_path, base_url="https://w.example/")
    assert d.url == "https://w.example/sub%20dir/na%C3%AFve%20file.txt"


# ---- a folder of good and bad files ------------------------------------------------------------
def test_load_documents_skips_bad_and_keeps_good(tmp_path):
    src = tmp_path / "src"
    write(src / "good.md", MD)
    write(src / "good.txt", "A good text file.\nhttps://example.org/x\n")
    write(src / "good.html", HTML)
    write(src / "good.pdf", make_pdf(["A good PDF page."]))
    write(src / "sub" / "nested.md", "# Nested\n\nA nested document.\n")
    bad = {"bin.md": bytes(range(256)), "utf.txt": b"\xff\xfe\xfa bad", "empty.md": b"", "open.md": b"---\ntitle: x\n",
           "yaml.md": b"---\ntitle: [x\n---\nBody.\n", "dead.pdf": b"%PDF-1.4 nope", "blank.html": b"<html></html>"}
    for n, data in bad.items():
        write(src / n, data)
    write(src / "dup.md", MD)  # same bytes as good.md
    write(src / ".hidden.md", "# Hidden\n\nNot indexed.\n")
    write(src / "notes.docx", b"PK\x03\x04")
    docs, warnings = load_documents([src, tmp_path / "missing"], tmp_path)
    paths = sorted(d.path for d in docs)
    assert paths == ["src/good.html", "src/good.md", "src/good.pdf", "src/good.txt", "src/sub/nested.md"] or \
        paths == ["src/dup.md", "src/good.html", "src/good.pdf", "src/good.txt", "src/sub/nested.md"]
    for n in bad:
        assert sum(f"src/{n}: skipped" in w for w in warnings) == 1, (n, warnings)
    assert any("same content as" in w for w in warnings)
    assert any("missing" in w and "does not exist" in w for w in warnings)
    assert not any("hidden" in w or "docx" in w for w in warnings)
    assert len(warnings) == len(bad) + 2


def test_unreadable_permission_is_a_warning(tmp_path, monkeypatch):
    src = tmp_path / "src"
    write(src / "a.md", "# A\n\nText.\n")
    write(src / "b.md", "# B\n\nOther text.\n")

    real = Path.read_bytes

    def read_bytes(self):
        if self.name == "a.md":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    docs, warnings = load_documents([src], tmp_path)
    assert [d.path for d in docs] == ["src/b.md"]
    assert warnings == ["src/a.md: skipped, cannot be read (Permission denied)"]


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
    assert by_path["docs_corpus/2022-05-16_state-treasury-fbi_dprk-it-worker-advisory-excerpt.md"].url == \
        "https://ofac.treasury.gov/media/923126/download?inline"
