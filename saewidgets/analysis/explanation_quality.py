"""How well an explanation predicts where its feature fires: a detection AUROC over contexts.

An explanation is a short list of entries (words, or tokens). A context's score is how many entries
occur in it (an entry occurs when one of its token forms does: " bridge", "bridge", " Bridge",
"Bridge"; for a token entry also the token itself), the first entries weighing a little more to break
ties. The AUROC is the probability that a context where the feature fires scores above one where it
does not (ties count half): 0.5 is a guess, 1.0 a perfect detector.

``lab.prepare`` uses it to choose, feature by feature, which explanation to show first and to call an
explanation "unclear" when none detects: positives are the feature's uniformly sampled firings (not
its top examples, from which the top tokens come), negatives a fixed pool of other features' sampled
firings, which stand for the corpus. The concept benchmark (``bench/concept_bench.py``) uses it on
held-out windows.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..tokens import single_token_ids

UNCLEAR_BELOW = 0.55  # best in-sample AUROC under this: views say "unclear" (chosen on held-out detection, docs/explanations.md)
RANK_WEIGHT = 0.05    # each later entry counts this much less than the one before


class EntryIds:
    """Token ids of each explanation entry's forms, cached per text (one tokenizer, many features)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._cache: dict[str, tuple[int, ...]] = {}

    def word(self, text: str) -> tuple[int, ...]:
        key = text.strip().lower()
        if key not in self._cache:
            self._cache[key] = tuple(single_token_ids(self.tokenizer, key)) if key else ()
        return self._cache[key]

    def token(self, token_id: int, text: str) -> tuple[int, ...]:
        return tuple(dict.fromkeys((int(token_id), *self.word(text))))


def incidence(contexts: np.ndarray, vocab_size: int) -> torch.Tensor:
    """``[n, vocab]`` bool: which token ids occur in each context (``contexts`` [n, L] ids, -1 = padding)."""
    contexts = torch.as_tensor(np.asarray(contexts, dtype=np.int64))
    out = torch.zeros(len(contexts), vocab_size, dtype=torch.bool)
    rows = torch.arange(len(contexts))[:, None].expand_as(contexts)
    ok = (contexts >= 0) & (contexts < vocab_size)
    out[rows[ok], contexts[ok]] = True
    return out


def scores(present: torch.Tensor, entries: Sequence[Sequence[int]]) -> torch.Tensor:
    """``[n]`` float: each context's score for one explanation (``present`` from ``incidence``)."""
    out = torch.zeros(present.shape[0])
    for rank, ids in enumerate(entries):
        if ids:
            hit = present[:, list(ids)].any(1)
            out += hit.float() * (1.0 - RANK_WEIGHT * rank)
    return out


def auroc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """P(positive score > negative score) + ½ P(equal); NaN when either side is empty."""
    if not len(positive) or not len(negative):
        return float("nan")
    both = torch.cat([positive, negative]).double()
    values, inverse, counts = torch.unique(both, return_inverse=True, return_counts=True)
    # mid-ranks of tied values (1-based)
    ends = torch.cumsum(counts, 0).double()
    mid = ends - (counts.double() - 1) / 2
    ranks = mid[inverse]
    n_pos, n_neg = len(positive), len(negative)
    u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


POOL = 2000  # sampled firings of random features: the "rest of the corpus" each feature is told apart from
FIRES_SHARE = 0.2  # a sampled firing is a positive when above this share of the feature's maximum
MIN_POSITIVES = 3  # fewer clear sampled firings: no score (the views then show top tokens first)


def in_sample(ex, arrays: dict[str, np.ndarray], tokenizer, methods: Sequence[str], n: int = 5, pool: int = POOL,
              seed: int = 0, progress=None) -> np.ndarray:
    """``[d_sae, len(methods)]`` float32: each method's detection AUROC on the feature's clear sampled
    firings (dashboard arrays ``sample_tokens`` / ``sample_value`` above ``FIRES_SHARE`` of its maximum)
    against a pool of other features' (NaN where a feature has fewer than ``MIN_POSITIVES`` or a method no
    entries). ``ex``: the ``explain.Explanations`` table."""
    tokens, value = arrays["sample_tokens"], arrays["sample_value"]
    d = len(tokens)
    # a firing counts when it is clear (as on held-out text: above 20% of the feature's maximum); the faint
    # ones of a Top-K code say little about what the feature is for
    strong = value > FIRES_SHARE * arrays["max_activation"][:, None]
    rng = np.random.default_rng(seed)
    f_ok, s_ok = np.nonzero(strong)
    if not len(f_ok):
        return np.full((d, len(methods)), np.nan, dtype=np.float32)
    pick = rng.choice(len(f_ok), min(pool, len(f_ok)), replace=False)
    pool_feature = f_ok[pick]
    present = incidence(tokens[pool_feature, s_ok[pick]], len(tokenizer))
    entry_ids = EntryIds(tokenizer)
    pool_hits: dict[tuple[int, ...], torch.Tensor] = {}

    def hits_of(ids: tuple[int, ...]) -> torch.Tensor:
        if ids not in pool_hits:
            pool_hits[ids] = present[:, list(ids)].any(1) if ids else torch.zeros(len(present), dtype=torch.bool)
        return pool_hits[ids]

    out = np.full((d, len(methods)), np.nan, dtype=np.float32)
    for f in range(d):
        mine = tokens[f][strong[f]]
        if len(mine) < MIN_POSITIVES:
            continue
        others = torch.from_numpy(pool_feature != f)
        for m, method in enumerate(methods):
            texts = ex.entries(f, method, tokenizer, n)
            if not texts:
                continue
            if method == "tokens":
                entries = [entry_ids.token(t, s) for t, s in zip(ex.top_token_ids(f, n), texts)]
            else:
                entries = [entry_ids.word(s) for s in texts]
            weight = 1.0 - RANK_WEIGHT * np.arange(len(entries))
            pos = sum(np.isin(mine, e).any(1) * w for e, w in zip(entries, weight) if e)
            neg = sum(hits_of(e).float() * float(w) for e, w in zip(entries, weight) if e)
            if isinstance(pos, int) or isinstance(neg, int):  # no entry has a token form
                continue
            out[f, m] = auroc(torch.as_tensor(pos, dtype=torch.float32), neg[others])
        if progress is not None and f % 1024 == 1023:
            progress(1024)
    return out
