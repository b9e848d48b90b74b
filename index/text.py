"""Word handling shared by the build and the query side: tokens, stopwords, a light stemmer."""

from __future__ import annotations

import re
from functools import lru_cache

WORD = re.compile(r"[^\W_](?:[\w'’.\-]*[^\W_])?", re.UNICODE)
STOPWORDS = frozenset(
    """
a about above according after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing done down during each else ever few for from further
get got had has have having he her here hers herself him himself his how i if in into is it its itself
just let like may me might more most much must my myself no nor not now of off on once only or other our
ours ourselves out over own per said same say says she should so some such than that the their theirs them
themselves then there these they this those through to too under until up upon us very via was we were what
whatever when where whether which while who whom whose why will with within without would you your yours
yourself yourselves tell give show find list name named names kind kinds type types one ones many much
there's what's who's it's that's isn't wasn't aren't weren't didn't doesn't don't
""".split()
)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (keeps inner dots and hyphens: 'blender.io', 'e.o', 'high-level')."""
    return [w.lower().replace("’", "'") for w in WORD.findall(text)]


@lru_cache(maxsize=1 << 18)
def stem(word: str) -> str:
    """A light, deterministic suffix stripper; the same on both sides is all that matters.
    Memoized: answering stems the same few thousand words of the candidate passages again and again."""
    w = _strip_suffix(word)
    if len(w) > 4 and w.endswith("e") and w.isalpha():
        w = w[:-1]  # "sentence"/"sentenced" -> "sentenc", "airline(s)" -> "airlin"
    return w


def _strip_suffix(word: str) -> str:
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) <= 3 or not w.isalpha():
        return w
    for suf, rep in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ings", ""),
        ("ing", ""),
        ("edly", ""),
        ("ed", ""),
        ("ly", ""),
        ("es", ""),
        ("s", ""),
    ):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            if suf == "s" and (w.endswith("ss") or w.endswith("us") or w.endswith("is")):
                continue
            if suf == "es" and not re.search(r"(ss|x|ch|sh|z)es$", w):
                w = w[:-1]  # "sanctions"->"sanction" handled by "s"; "names"->"name"
                return w
            return w[: len(w) - len(suf)] + rep
    return w


def content_terms(text: str) -> list[str]:
    """Stemmed query terms without stopwords, in order, de-duplicated."""
    out, seen = [], set()
    for w in words(text):
        w = w.strip(".'-")
        if not w or w in STOPWORDS or (len(w) == 1 and not w.isdigit()):
            continue
        s = stem(w)
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def term_set(text: str) -> set[str]:
    """All stemmed words of a passage (stopwords included; harmless for overlap)."""
    return {stem(w.strip(".'-")) for w in words(text)}


def fts_query(text: str, max_terms: int = 32) -> str:
    """A safe FTS5 MATCH expression: an OR of quoted terms; never raw user syntax."""
    return " OR ".join('"' + w + '"' for w in fts_terms(text, max_terms))


def fts_terms(text: str, max_terms: int = 32) -> list[str]:
    """The question's words that go into an FTS5 query (stopwords and stray letters dropped, no quotes)."""
    terms, seen = [], set()
    for w in words(text):
        w = w.strip(".'-")
        if not w or w in STOPWORDS or (len(w) == 1 and not w.isdigit()):
            continue
        w = w.replace('"', "")
        if w and w not in seen:
            seen.add(w)
            terms.append(w)
        if len(terms) >= max_terms:
            break
    return terms
