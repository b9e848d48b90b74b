"""Document sets: which of a build's documents one question may be answered from.

Why a module of its own: a team's channels answer from different documents (#billing-help from the
billing handbook, #eng from the engineering docs), and a server's saved answers must never be shown in
another server. Both are the same rule, applied in one place: a question is searched in a Scope, and
search (index/search.py) applies it inside the one build, to both retrievers (a FAISS ID selector for
the dense side, a filter on the FTS5 rows for the keyword side). There is no copy of the index per set.

    set `all`           every source document
    a source's `sets`   `sets = ["billing"]` in its [[source]] table adds its documents to `billing` too
    `saved:<guild id>`  that server's saved answers (index/saved.py), and only them: never in `all`

A document's sets are stored with it in the build's SQLite (documents.sets), so changing a source's sets
rewrites the build without embedding anything (build.py compares them like content hashes). Scopes are
resolved per build and cached (SCOPE_CACHE of them), so an ask pays for a dictionary look-up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

ALL = "all"
SAVED_PREFIX = "saved:"
SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # what qabot.toml accepts as a set name
SCOPE_CACHE = 64  # scopes remembered per build (distinct combinations of sets asked for)


def saved_set(guild_id: int) -> str:
    """The name of a server's saved-answer set."""
    return f"{SAVED_PREFIX}{int(guild_id)}"


def is_saved(name: str) -> bool:
    return name.startswith(SAVED_PREFIX)


def wanted(sets: Collection[str] | None, guild_id: int | None) -> tuple[str, ...]:
    """The sets one ask searches: `sets` (every source document when None, empty or naming `all`),
    plus the asking server's saved answers when `guild_id` is given. A saved set named in `sets` is
    dropped: a server's saved answers are reached by its guild id only, so no other server's are."""
    if isinstance(sets, str):
        sets = [sets]
    names = sorted({s.strip() for s in sets or () if s and s.strip() and not is_saved(s.strip())})
    if not names or ALL in names:
        names = [ALL]
    if guild_id is not None:
        names.append(saved_set(guild_id))
    return tuple(names)


@dataclass(frozen=True)
class Scope:
    """The documents and chunks one ask may quote from, in one build.

    `mask[c]` is True for every chunk id c in scope (ids start at 1; mask[0] is False). `bitmap` is the
    same as FAISS's IDSelectorBitmap reads it (bit c of byte c // 8, little-endian)."""

    names: tuple[str, ...]
    doc_ids: frozenset[int]
    mask: np.ndarray
    chunks: int  # how many chunks are in scope
    bitmap: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.uint8))

    @property
    def empty(self) -> bool:
        return not self.chunks

    def allows(self, chunk_id: int) -> bool:
        return 0 <= chunk_id < len(self.mask) and bool(self.mask[chunk_id])


def doc_sets(value) -> tuple[str, ...]:
    """A document's sets as stored (JSON text, a list, or nothing for a build made before sets: `all`)."""
    if value is None or value == "":
        return (ALL,)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return (ALL,)
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else (ALL,)


def make_scope(
    names: tuple[str, ...], doc_ids: frozenset[int], spans: dict[int, tuple[int, int]], n_chunks: int
) -> Scope:
    """A Scope from the documents in it and each document's chunk id range (first, last)."""
    mask = np.zeros(n_chunks + 1, dtype=bool)
    for d in doc_ids:
        span = spans.get(d)
        if span is not None:
            mask[span[0] : span[1] + 1] = True
    return Scope(names, doc_ids, mask, int(mask.sum()), np.packbits(mask, bitorder="little"))


def set_counts(documents: dict[int, dict], spans: dict[int, tuple[int, int]]) -> dict[str, dict[str, int]]:
    """{set name: {"documents": n, "chunks": n}} over a build's documents (`documents[id]["sets"]`)."""
    out: dict[str, dict[str, int]] = {}
    for doc_id, d in documents.items():
        first, last = spans.get(doc_id, (1, 0))
        for name in d["sets"]:
            c = out.setdefault(name, {"documents": 0, "chunks": 0})
            c["documents"] += 1
            c["chunks"] += last - first + 1
    return dict(sorted(out.items()))


def unknown_note(unknown: list[str], known: list[str]) -> str:
    """What an answer says when sets asked for do not exist in the build."""
    names = ", ".join(repr(u) for u in unknown)
    listed = ", ".join(k for k in known if not is_saved(k)) or "none"
    plural = "s" if len(unknown) > 1 else ""
    return f"no documents are in set{plural} {names} (the sets are: {listed})"
