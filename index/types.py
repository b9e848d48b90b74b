"""Plain data passed between loading, the store, search and answering."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Document:
    """A source file turned into clean text. `path` is relative to the project root."""

    path: str
    title: str
    text: str
    url: str | None = None
    date: str | None = None
    kind: str = "text"  # markdown | text | html | pdf
    pages: list[tuple[int, int]] = field(default_factory=list)  # (start offset, page number) for PDFs
    meta: dict = field(default_factory=dict)
    content_hash: str = ""
    sets: tuple[str, ...] = ("all",)  # the document sets it belongs to (index/sets.py); stored with it in the build


@dataclass
class Sentence:
    start: int
    end: int


@dataclass
class Chunk:
    """A passage of a document: text is document.text[start:end]."""

    start: int
    end: int
    heading: str
    first_sentence: int  # index into the document's sentence list
    last_sentence: int  # inclusive


@dataclass
class Quote:
    """A verbatim span of a document, with where it came from."""

    text: str
    doc: str
    title: str
    url: str | None
    date: str | None
    score: float
    start: int = 0
    end: int = 0
    heading: str = ""
    closest: bool = False
    marks: list[tuple[int, int]] = field(default_factory=list)  # offsets in `text` of the answer, shown in bold
    saved: bool = False  # from the server's saved answers (index/saved.py): `url` is the message's jump link

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in ("text", "doc", "title", "url", "date")}
        out["score"] = round(float(self.score), 4)
        if self.closest:
            out["closest"] = True
        if self.saved:
            out["saved"] = True
        if self.marks:
            out["marks"] = [list(m) for m in self.marks]
        return out


@dataclass
class Answer:
    """What `ask` returns: quotes that answer, or closest passages when abstaining."""

    question: str
    abstained: bool
    quotes: list[Quote]
    more: list[Quote] = field(default_factory=list)  # further passages, for "more passages"
    took_ms: float = 0.0
    build_id: str = ""
    built_at: str = ""
    confidence: float | None = None  # the trained reader's probability that the first quote answers; None without one
    follow_up: str | None = None  # the earlier question this one was understood as following up (index/followup.py)
    understood: str = ""  # what was searched when that differs from `question` (a follow-up with its subject)
    sets: tuple[str, ...] = ()  # the document sets searched (index/sets.py)
    note: str = ""  # why nothing could be searched (an unknown set), or which requested sets are unknown

    def to_json(self) -> dict:
        out = {
            "question": self.question,
            "abstained": self.abstained,
            "quotes": [q.to_json() for q in self.quotes],
            "took_ms": round(self.took_ms, 1),
            "follow_up": self.follow_up,
            "sets": list(self.sets),
        }
        if self.confidence is not None:
            out["confidence"] = round(self.confidence, 4)
        if self.understood:
            out["understood"] = self.understood
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class BuildSummary:
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    regrouped: int = 0  # unchanged documents whose sets changed (rewritten, not embedded)
    chunks: int = 0
    sentences: int = 0
    embedded_chunks: int = 0
    seconds: float = 0.0
    build_id: str = ""
    switched: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        return (
            f"{self.added} added, {self.changed} changed, {self.removed} removed, "
            f"{self.unchanged} unchanged, {self.skipped} skipped; {self.chunks} chunks "
            f"({self.embedded_chunks} embedded) in {self.seconds:.1f} s"
        )
