"""Texts from wherever a user keeps them, streamed one document at a time (memory stays flat).

``texts(source)`` accepts:

- an iterable of strings (a list, a generator);
- a path, a folder or a glob of ``.txt`` (blank-line separated paragraphs, grouped into documents of a few
  thousand characters), ``.jsonl`` (one JSON object a line, its ``text_column``, or a JSON string) or
  ``.parquet`` files (``text_column``, read in record batches with pyarrow);
- a Hugging Face ``datasets`` Dataset or IterableDataset (its ``text_column``);
- the name of a dataset on the Hugging Face Hub (``"owner/name"``), streamed with ``datasets`` when the
  machine has a network; offline, a clear error that names the fix.

``open_texts(source)`` also gives a short, stable description (what a resumed run checks it is reading again).
"""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Iterable, Iterator

from .offline import hub_failure_message, offline, offline_message

SUFFIXES = (".txt", ".jsonl", ".parquet")
DOC_CHARS = 4000  # a .txt file is cut at blank lines into documents of about this many characters
FIX = "pass a list of strings, a local .txt/.jsonl/.parquet file, or a datasets.Dataset"


class TextSourceError(ValueError):
    """Texts that cannot be read, with the reason and the fix."""


def open_texts(source, text_column: str = "text") -> tuple[str, Iterator[str]]:
    """``(description, documents)``: what ``source`` is, in a short stable line, and its documents, streamed."""
    if isinstance(source, (str, Path)):
        files = _files(source)  # globbed once, for both
        if files is not None:
            return _describe(source, files), _from_files(files, text_column)
        return _describe(source, None), _from_hub(str(source), text_column)
    if _is_dataset(source):
        return _describe(source, None), _from_dataset(source, text_column)
    if isinstance(source, Iterable):
        return _describe(source, None), _checked(source)
    raise TextSourceError(f"cannot read texts from a {type(source).__name__}: {FIX}.")


def texts(source, text_column: str = "text") -> Iterator[str]:
    """Every document of ``source`` as a string, streamed."""
    return open_texts(source, text_column)[1]


def describe(source) -> str:
    return _describe(source, _files(source) if isinstance(source, (str, Path)) else None)


def _describe(source, files: list[Path] | None) -> str:
    if files is not None:
        more = f" (+{len(files) - 3})" if len(files) > 3 else ""
        return "files: " + ", ".join(str(f) for f in files[:3]) + more
    if isinstance(source, (str, Path)):
        return f"hub dataset: {source}"
    if _is_dataset(source):
        return f"dataset: {getattr(getattr(source, 'info', None), 'dataset_name', None) or type(source).__name__}"
    return f"texts: {type(source).__name__}"


# ---- files


def _files(source: str | Path) -> list[Path] | None:
    """The files a path, folder or glob names; None when it names none and looks like a hub dataset id."""
    text = str(Path(source).expanduser()) if isinstance(source, Path) else str(source)
    path = Path(text).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        if not found:
            raise TextSourceError(f"{path} holds no {', '.join(SUFFIXES)} files: {FIX}.")
        return found
    if path.is_file():
        if path.suffix not in SUFFIXES:
            raise TextSourceError(f"{path}: unknown text file type {path.suffix!r}; use {', '.join(SUFFIXES)}.")
        return [path]
    if any(ch in text for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).suffix in SUFFIXES)
        if not found:
            raise TextSourceError(f"no {', '.join(SUFFIXES)} files match {text!r}: {FIX}.")
        return found
    if isinstance(source, Path) or text.startswith((".", "/", "~")) or Path(text).suffix in SUFFIXES:
        raise TextSourceError(f"{text} does not exist: {FIX}.")
    if any(ch.isspace() for ch in text):
        raise TextSourceError("got one string of text where many texts are needed: pass a list of strings "
                              "(lab.prepare(['first text', 'second text', ...])), a file or a dataset.")
    return None


def _from_files(files: list[Path], text_column: str) -> Iterator[str]:
    for path in files:
        if path.suffix == ".txt":
            yield from _txt(path)
        elif path.suffix == ".jsonl":
            yield from _jsonl(path, text_column)
        else:
            yield from _parquet(path, text_column)


def _txt(path: Path) -> Iterator[str]:
    """Blank-line separated paragraphs, grouped into documents of about ``DOC_CHARS`` characters."""
    doc: list[str] = []
    size = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            doc.append(line)
            size += len(line)
            if size >= DOC_CHARS and not line.strip():
                yield "".join(doc).strip()
                doc, size = [], 0
    if "".join(doc).strip():
        yield "".join(doc).strip()


def _jsonl(path: Path, text_column: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise TextSourceError(f"{path}:{n}: not JSON ({err.msg}); a .jsonl file has one JSON object a line.") from None
            if isinstance(row, str):
                yield row
            elif isinstance(row, dict) and isinstance(row.get(text_column), str):
                yield row[text_column]
            else:
                keys = ", ".join(sorted(row)) if isinstance(row, dict) else type(row).__name__
                raise TextSourceError(f"{path}:{n}: no text column {text_column!r} (has: {keys}); "
                                      "pass text_column= to name the column that holds the text.")


def _parquet(path: Path, text_column: str) -> Iterator[str]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise TextSourceError(f"reading {path} needs pyarrow: pip install pyarrow (or saewidgets[data]).") from None
    table = pq.ParquetFile(path)
    if text_column not in table.schema_arrow.names:
        raise TextSourceError(f"{path}: no text column {text_column!r} (has: {', '.join(table.schema_arrow.names)}); "
                              "pass text_column= to name the column that holds the text.")
    for batch in table.iter_batches(columns=[text_column], batch_size=1024):
        yield from (t for t in batch.column(0).to_pylist() if isinstance(t, str))


# ---- datasets


def _is_dataset(source) -> bool:
    return type(source).__module__.split(".")[0] == "datasets"


def _from_dataset(ds, text_column: str) -> Iterator[str]:
    columns = getattr(ds, "column_names", None)
    if columns is not None and text_column not in columns:
        raise TextSourceError(f"the dataset has no text column {text_column!r} (has: {', '.join(columns)}); "
                              "pass text_column= to name the column that holds the text.")
    return (row[text_column] for row in ds if isinstance(row[text_column], str))


def _from_hub(name: str, text_column: str) -> Iterator[str]:
    what = f"dataset {name!r}"
    fix = "pass a list of strings, a local file, or a datasets.Dataset you loaded"
    if offline():
        raise TextSourceError(offline_message(what, fix))
    try:
        import datasets
    except ImportError:
        raise TextSourceError(f"{name!r} is not a local file, and reading a hub dataset needs the datasets package: "
                              f"pip install datasets (or saewidgets[data]), or {FIX}.") from None
    try:
        ds = datasets.load_dataset(name, split="train", streaming=True)
    except Exception as err:  # noqa: BLE001 - every failure becomes one message naming the fix
        raise TextSourceError(hub_failure_message(what, fix, err)) from None
    return _from_dataset(ds, text_column)


def _checked(items: Iterable) -> Iterator[str]:
    for n, item in enumerate(items):
        if not isinstance(item, str):
            raise TextSourceError(f"text {n} is a {type(item).__name__}, not a string: {FIX}.")
        yield item
