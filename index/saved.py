"""Saved answers: a teammate's good reply in Discord, kept as a document of its server's own set.

Why a module of its own: what a moderator saves ("Save as answer") must outlive the bot's process and
every rebuild, reach only the server it was saved in, and be quoted verbatim with a link back to the
message. So each saved answer is a small markdown file under the index folder,

    INDEX_DIR/saved/<guild id>/<message id>.md     front matter (one JSON value a line), then the text

written atomically (write, fsync, os.replace). Every build reads these files (sources.load_all) as
documents in the set `saved:<guild id>` only (index/sets.py), never in `all`: an ask searches them only
when it names that guild. The document's text is the message's content verbatim, its url the message's
jump link, and its title the question it replied to (when given), so the same question asked again
finds it by title as well as by text. Removing the file and rebuilding undoes a save.

A saved answer wins when its question is asked again: the asked question's vector is within
MATCH_COS of the saved reply's question (0.89 for "which mixer got sanctioned by treasury in 2023"
against "Which mixer did Treasury sanction in 2023?"; unrelated questions of the same corpus stay
under 0.4), and every name and number the asked question has is in that question or the reply (the
model hardly tells 2022 from 2023: 0.99). It is then quoted first, whatever the documents say; a
saved answer without a question, or asked about differently, competes with the documents as usual.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import SavedAnswerError
from .sets import saved_set
from .types import Document

log = logging.getLogger(__name__)

SAVED_DIR = "saved"  # in the index folder
MAX_TEXT_CHARS = 10_000  # a Discord message is at most 4,000; anything longer is not a message
MATCH_COS = 0.8  # the asked question against a saved answer's question: "the same question again"
FIELDS = ("guild_id", "channel_id", "message_id", "author", "created_at", "url", "question")


@dataclass(frozen=True)
class SavedAnswer:
    guild_id: int
    channel_id: int
    message_id: int
    author: str  # display name, as text
    created_at: str  # ISO 8601
    text: str  # the message's content, verbatim
    url: str  # the jump link
    question: str = ""  # the message it replied to, if any (helps matching)

    @property
    def path(self) -> str:
        """Its document path in a build: distinct from any file path a source yields."""
        return f"saved:{self.guild_id}/{self.message_id}"

    def check(self) -> None:
        """SavedAnswerError saying what is wrong with it; nothing when it can be saved."""
        for key in ("guild_id", "channel_id", "message_id"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise SavedAnswerError(f"a saved answer needs a positive {key}, not {value!r}")
        if not isinstance(self.text, str) or not self.text.strip():
            raise SavedAnswerError("That message has no text to save (only attachments or embeds?).")
        if len(self.text) > MAX_TEXT_CHARS:
            raise SavedAnswerError(f"That message is {len(self.text)} characters long; at most {MAX_TEXT_CHARS}.")
        if not str(self.url).startswith(("https://", "http://")):
            raise SavedAnswerError(f"a saved answer needs the message's jump link, not {self.url!r}")


def guild_folder(index_path: Path, guild_id: int) -> Path:
    return Path(index_path) / SAVED_DIR / str(int(guild_id))


def file_of(index_path: Path, guild_id: int, message_id: int) -> Path:
    return guild_folder(index_path, guild_id) / f"{int(message_id)}.md"


def to_markdown(saved: SavedAnswer) -> str:
    """The file's text: `---`, one `key: <JSON value>` line per field, `---`, then the message verbatim."""
    head = "\n".join(f"{k}: {json.dumps(getattr(saved, k), ensure_ascii=False)}" for k in FIELDS)
    return f"---\n{head}\n---\n{saved.text}"


def from_markdown(raw: str) -> SavedAnswer:
    """The SavedAnswer a file holds; ValueError when it is not one."""
    if not raw.startswith("---\n"):
        raise ValueError("no front matter")
    end = raw.find("\n---\n", 4)
    if end < 0:
        raise ValueError("front matter not closed")
    values: dict = {}
    for line in raw[4:end].split("\n"):
        key, sep, value = line.partition(": ")
        if sep and key in FIELDS:
            values[key] = json.loads(value)
    missing = [k for k in FIELDS if k not in values and k != "question"]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    return SavedAnswer(text=raw[end + 5 :], **values)


def write(index_path: Path, saved: SavedAnswer) -> Path:
    """Store a saved answer durably (atomically replacing an earlier save of the same message)."""
    saved.check()
    path = file_of(index_path, saved.guild_id, saved.message_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(to_markdown(saved))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def remove(index_path: Path, guild_id: int, message_id: int) -> bool:
    """Delete a saved answer's file; False when there was none."""
    try:
        file_of(index_path, guild_id, message_id).unlink()
    except FileNotFoundError:
        return False
    return True


def saved_answers(index_path: Path, guild_id: int | None = None) -> tuple[list[SavedAnswer], list[str]]:
    """Every saved answer on disk (one guild's when given), oldest message first; and warnings for
    files that cannot be read (left in place, not indexed)."""
    root = Path(index_path) / SAVED_DIR
    folders = [guild_folder(index_path, guild_id)] if guild_id is not None else sorted(root.glob("*"))
    out, warnings = [], []
    for folder in folders:
        if not folder.is_dir() or not folder.name.isdigit():
            continue
        for f in sorted(folder.glob("*.md")):
            try:
                saved = from_markdown(f.read_text(encoding="utf-8"))
                if str(saved.guild_id) != folder.name:
                    raise ValueError(f"its guild_id is {saved.guild_id}")
                saved.check()
            except (OSError, UnicodeDecodeError, ValueError, TypeError, SavedAnswerError) as exc:
                warnings.append(f"{f}: skipped, not a saved answer ({exc})")
                continue
            out.append(saved)
    out.sort(key=lambda s: (s.guild_id, s.message_id))
    return out, warnings


def document(saved: SavedAnswer) -> Document:
    """A saved answer as a document of its guild's saved set (its text verbatim, its url the jump link)."""
    return Document(
        path=saved.path,
        title=saved.question.strip() or f"Saved answer from {saved.author}",
        text=saved.text,
        url=saved.url,
        date=saved.created_at[:10] or None,
        kind="text",
        meta={"saved": True} | {k: v for k, v in asdict(saved).items() if k != "text"},
        content_hash=hashlib.sha256(to_markdown(saved).encode("utf-8")).hexdigest(),
        sets=(saved_set(saved.guild_id),),
    )


def same_question(cos: float, asked_names: frozenset[str], saved_terms: set[str]) -> bool:
    """Whether an ask repeats a saved answer's question (the module docstring's rule)."""
    return cos >= MATCH_COS and asked_names <= saved_terms


def saved_documents(index_path: Path) -> tuple[list[Document], list[str]]:
    """Every saved answer as a document (what a build indexes), and warnings for unreadable files."""
    found, warnings = saved_answers(index_path)
    return [document(s) for s in found], warnings
