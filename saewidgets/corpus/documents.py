"""The document record and the text helpers every stage of the corpus shares.

A document is a dict ``{"text", "source", "title", "key"}``. Its ``key`` (a hash of the whole
natural document) decides the held-out split; chunks and chat conversations inherit it, so all
pieces of one document land on the same side.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_DOC_CHARS = 4000  # ~1,000 tokens: big files become several documents, so caps stay fine-grained
MIN_DOC_CHARS = 16  # shorter pieces are noise (page numbers, lone headers)


def _norm(text: str) -> str:
    """Text as compared for dedup: NFC, whitespace runs collapsed, case folded."""
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def _digest(text: str) -> str:
    return hashlib.blake2b(_norm(text).encode("utf-8"), digest_size=12).hexdigest()


def _unit(key: str, salt: str) -> float:
    """A deterministic number in [0, 1) from a key; the salt makes independent draws."""
    h = hashlib.blake2b(key.encode("utf-8"), digest_size=8, person=salt.encode()[:16])
    return int.from_bytes(h.digest(), "big") / 2**64


def is_heldout(key: str, fraction: float) -> bool:
    return _unit(key, "heldout") < fraction


def _doc(text: str, source: str, title: str = "", key: str | None = None) -> dict:
    """A document. `key` decides the held-out split; chunks and chats inherit their parent's."""
    return {"text": text, "source": source, "title": title, "key": key or _digest(text)}


# Split levels for _chunks, coarsest first: paragraphs, lines, sentences, words.
_SPLITS = [(r"\n\s*\n", "\n\n"), (r"\n", "\n"), (r"(?<=[.!?;:])\s+", " "), (r" ", " ")]


def _chunks(text: str, max_chars: int = MAX_DOC_CHARS, level: int = 0) -> list[str]:
    """Cut `text` into pieces of at most `max_chars` at the coarsest boundary that works."""
    if len(text) <= max_chars:
        return [text]
    if level == len(_SPLITS):
        return [text[i : i + max_chars] for i in range(0, len(text), max_chars)]
    pattern, joiner = _SPLITS[level]
    out, current = [], ""
    for part in re.split(pattern, text):
        candidate = current + joiner + part if current else part
        if len(candidate) <= max_chars:
            current = candidate
            continue
        if current:
            out.append(current)
        current = ""
        if len(part) > max_chars:
            out.extend(_chunks(part, max_chars, level + 1))
        else:
            current = part
    if current:
        out.append(current)
    return out
