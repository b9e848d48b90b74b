"""Split clean text into sentences (with offsets) and heading-aware chunks of about 100-250 words."""

from __future__ import annotations

import re
from typing import cast

from .types import Chunk, Sentence

HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
LIST_MARK = re.compile(r"^(?:[-*+•]|\d{1,3}[.)]|>)[ \t]+")
# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace and
# a capital, digit, quote or bracket.
BOUNDARY = re.compile(r"(?<=[.!?])[\"'”’)\]]*(\s+)(?=[\"'“‘(\[]?[A-Z0-9])")
ABBREV = {
    "u.s",
    "e.o",
    "mr",
    "mrs",
    "ms",
    "dr",
    "no",
    "nos",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "inc",
    "ltd",
    "co",
    "corp",
    "st",
    "vs",
    "e.g",
    "i.e",
    "a.k.a",
    "u.n",
    "u.k",
    "d.c",
    "f.k.a",
    "n.k.a",
    "f/k/a",
    "a/k/a",
    "jr",
    "sr",
    "gen",
    "col",
    "lt",
    "sgt",
    "rep",
    "sen",
    "gov",
    "dept",
    "fig",
    "approx",
    "est",
    "etc",
    "al",
    "p",
    "pp",
    "vol",
    "art",
    "sec",
    "para",
    "u.s.c",
    "r.o.k",
    "d.p.r.k",
}
MAX_SENTENCE = 900
TARGET_WORDS = 180
MAX_WORDS = 250
MIN_SECTION_WORDS = 60


def _is_abbrev(text: str, dot: int) -> bool:
    """True when the '.' at `dot` ends an abbreviation or an initial rather than a sentence."""
    j = dot
    while j > 0 and (text[j - 1].isalnum() or text[j - 1] == "."):
        j -= 1
    word = text[j:dot].lower()
    if not word:
        return False
    if word in ABBREV:
        return True
    if len(word) == 1 and word.isalpha():  # an initial: "John K. Hurley"
        return True
    return False


def _split_long(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Break an over-long sentence at '; ' or ', ' so quotes stay readable."""
    out = []
    while end - start > MAX_SENTENCE:
        window = text[start : start + MAX_SENTENCE]
        cut = window.rfind("; ")  # not ". ": inside an over-long sentence that is usually an abbreviation
        if cut < MAX_SENTENCE // 3:
            cut = window.rfind(", ")
        if cut < MAX_SENTENCE // 3:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = MAX_SENTENCE - 1
        out.append((start, start + cut + 1))
        start = start + cut + 1
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        out.append((start, end))
    return out


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (start, end) within text[start:end], trimmed of surrounding whitespace."""
    end = len(text) if end is None else end
    spans, s = [], start
    for m in BOUNDARY.finditer(text, start, end):
        dot = m.start() - 1
        while dot > s and text[dot] in "\"'”’)]":
            dot -= 1
        if text[dot] == "." and _is_abbrev(text, dot):
            continue
        spans.append((s, m.start(1)))
        s = m.end(1)
    spans.append((s, end))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a and re.search(r"\w", text[a:b]):
            out.extend(_split_long(text, a, b))
    return out


def segment(text: str) -> list[tuple[str, object]]:
    """Blocks of the document in order: ("heading", (level, title)) or ("para", (start, end))."""
    blocks: list[tuple[str, object]] = []
    pos = 0
    para_start = None
    prev_end = 0  # set with para_start: the end of the paragraph's last line
    for line in text.splitlines(keepends=True):
        line_start, line_end = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        stripped = line.strip()
        m = HEADING.match(line.rstrip("\r\n"))
        is_list = bool(LIST_MARK.match(line.lstrip()))
        if not stripped or m or is_list:
            if para_start is not None:
                blocks.append(("para", (para_start, prev_end)))
                para_start = None
        if m:
            blocks.append(("heading", (len(m.group(1)), m.group(2).strip().strip("*_").strip())))
            continue
        if not stripped:
            continue
        if is_list:
            lead = len(line) - len(line.lstrip())
            mark = LIST_MARK.match(line.lstrip())
            assert mark is not None  # is_list: the same match succeeded above
            blocks.append(("para", (line_start + lead + mark.end(), line_end)))
            continue
        if para_start is None:
            para_start = line_start
        prev_end = line_end
        # a line that ends a sentence, or is wholly bold (a title), ends its paragraph: text files
        # often put one paragraph per line; hard-wrapped lines end mid-sentence and continue
        if re.search(r"[.!?:;\"”’)]$|^\*\*.*\*\*$|^__.*__$", stripped):
            blocks.append(("para", (para_start, prev_end)))
            para_start = None
    if para_start is not None:
        blocks.append(("para", (para_start, prev_end)))
    return blocks


def _strip_markup(text: str, a: int, b: int) -> tuple[int, int]:
    """Drop bold/italic markers that wrap a whole sentence, so quotes read cleanly but stay verbatim."""
    while b - a > 4 and text[a] in "*_" and text[b - 1] in "*_":
        a += 1
        b -= 1
    return a, b


def chunk_document(text: str) -> tuple[list[Sentence], list[Chunk]]:
    """Sentences and chunks of a document; every span indexes `text` directly."""
    sentences: list[Sentence] = []
    sent_heading: list[str] = []
    path: list[tuple[int, str]] = []
    heading_breaks: set[int] = set()
    for kind, value in segment(text):
        if kind == "heading":
            level, title = cast(tuple[int, str], value)
            path = [p for p in path if p[0] < level] + [(level, title)]
            heading_breaks.add(len(sentences))
            continue
        a, b = cast(tuple[int, int], value)
        for s, e in split_sentences(text, a, b):
            s, e = _strip_markup(text, s, e)
            sentences.append(Sentence(s, e))
            sent_heading.append(" > ".join(t for _, t in path))
    chunks: list[Chunk] = []
    words = [len(text[s.start : s.end].split()) for s in sentences]
    i = 0
    n = len(sentences)
    while i < n:
        j, count = i, 0
        while j < n:
            if j > i and j in heading_breaks and count >= MIN_SECTION_WORDS:
                break
            if j > i and count + words[j] > MAX_WORDS:
                break
            count += words[j]
            j += 1
            if count >= TARGET_WORDS:
                break
        chunks.append(Chunk(sentences[i].start, sentences[j - 1].end, sent_heading[i], i, j - 1))
        if j >= n:
            break
        # one sentence of overlap, unless the next chunk starts a new section or would not advance
        overlap = 1 if (j - i) > 2 and j not in heading_breaks and words[j - 1] < 60 else 0
        i = j - overlap
    return sentences, chunks
