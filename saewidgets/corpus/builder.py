"""The build: chunking, de-duplication, domain budgets, the held-out split, the files and their
manifest; and reading a built corpus back (:func:`load_documents`, :func:`load_texts`).

1. the readers' natural documents and chat conversations built from them;
2. long documents are cut into chunks of at most ``MAX_DOC_CHARS`` and exact duplicates dropped;
3. each *domain* gets a token budget by water-filling: budgets as equal as the sources allow,
   no domain above ``max_share`` of the total (so the big dictionary or the stdlib can't dominate);
4. a deterministic held-out split by a hash of each natural document's text (all chunks of one
   document, and chat built from it, land on the same side, so nothing leaks into train);
5. ``train.jsonl.gz``, ``heldout.jsonl.gz`` and ``manifest.json`` are written atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Iterable, Iterator

from .chat import make_chat
from .documents import MAX_DOC_CHARS, MIN_DOC_CHARS, _chunks, _digest, _unit, is_heldout
from .readers import read_sources
from .sources import SourceMissingError, _missing_message, _package_version, source_info
from .windows import _count_tokens, smollm2_tokenizer

# Bump when readers or the pipeline change: load_texts() rebuilds a corpus of another format.
CORPUS_FORMAT = 1
TRAIN_FILE, HELDOUT_FILE, MANIFEST_FILE = "train.jsonl.gz", "heldout.jsonl.gz", "manifest.json"


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
    # Mixes the domains in the files. Not evenly: a domain cut by its budget kept its lowest
    # "order" values, so it is denser near the start (the sample shares its budget by domain).
    selected.sort(key=lambda d: d["order"])
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
