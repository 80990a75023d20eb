"""What fires together: co-occurrence counts gathered during the streaming pass.

Two counts, each updated once a batch beside the dashboards (``dashboard_pass.DashboardBuilder``), each
with a ``state_dict`` so a checkpointed pass resumes:

- ``Coactivation``: for every pair of features, in how many *segments* (runs of ``segment`` tokens of a
  window; 1 = the same token) both fire. Kept as a dense ``d_sae × d_sae`` int32 matrix, upper triangle
  only (1 GB at 16k features), because the pairs a long corpus touches fill much of it.
- ``ContextWords``: for every feature and vocabulary word, at how many of the feature's firing positions
  the word occurs within ``radius`` tokens, plus how many positions have the word near at all. That
  is what context mutual information (``context_mi``) needs: ``d_sae × n_words`` int32.

Counting is by scatter-add of index pairs, so a batch costs about (firing features per segment)² plus
(firing features × context words) per position, not a dense product.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import distributed
from ..tokens import word_forms

MAX_DENSE_PAIRS = 2**31 - 1  # int32 indices into the flattened pair matrix


def _id_range(tokenizer) -> int:
    """One more than the largest token id (added tokens can lie beyond ``len(tokenizer)``)."""
    return max(len(tokenizer), max(tokenizer.get_vocab().values(), default=0) + 1)


def token_words(tokenizer, words: list[str]) -> torch.Tensor:
    """``[vocab]`` long: the vocabulary word a token stands for (its one-token forms after a space:
    " bridge", " Bridge"), -1 for other tokens. Forms without the space are left out: inside running
    text they are mostly pieces of longer words ("ar" of "argue")."""
    size = _id_range(tokenizer)
    out = torch.full((size,), -1, dtype=torch.long)
    forms = [(n, form) for n, w in enumerate(words) for form in word_forms(w) if form.startswith(" ")]
    if not forms:
        return out
    ids = tokenizer([f for _, f in forms], add_special_tokens=False).input_ids
    for (n, _), tok in zip(forms, ids):
        if len(tok) == 1 and out[tok[0]] < 0:
            out[tok[0]] = n
    return out


def continuation_tokens(tokenizer) -> torch.Tensor:
    """``[vocab]`` bool: tokens that go on with the word before them (they start with a letter, not a
    space or a symbol; also "'t"), so the token before is part of a longer word."""
    size = _id_range(tokenizer)
    out = torch.zeros(size, dtype=torch.bool)
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id])
        out[token_id] = bool(text) and (text[0].isalpha() or text.startswith(("'t", "’t")))  # don|'t
    return out


class Coactivation:
    """Segments in which each pair of features both fires (``i < j``), and in which each one fires."""

    def __init__(self, d_sae: int, segment: int = 16, device="cpu"):
        if d_sae * d_sae > MAX_DENSE_PAIRS:
            raise ValueError(f"co-activation counts of {d_sae:,} features need {d_sae * d_sae * 4 / 2**30:.0f} GB; "
                             "pass coactivation=False to lab.prepare for SAEs this wide.")
        self.d_sae, self.segment = d_sae, segment
        self.pairs = torch.zeros(d_sae * d_sae, dtype=torch.int32, device=device)
        self.fired = torch.zeros(d_sae, dtype=torch.int64, device=device)
        self.segments = 0

    def nbytes(self) -> int:
        return self.pairs.numel() * 4 + self.fired.numel() * 8

    def state_dict(self) -> dict:
        return {"pairs": self.pairs.cpu(), "fired": self.fired.cpu(), "segments": self.segments,
                "segment": self.segment}

    def load_state_dict(self, state: dict) -> None:
        if state["segment"] != self.segment:
            raise ValueError("the checkpoint counted co-activation in other segments; delete it to start afresh.")
        self.pairs.copy_(state["pairs"])
        self.fired.copy_(state["fired"])
        self.segments = int(state["segments"])

    def merge_ranks(self) -> None:
        """Under ``torchrun``: every rank's counts summed (exact: integers), on every rank."""
        distributed.all_reduce_(self.pairs)
        distributed.all_reduce_(self.fired)
        self.segments = distributed.all_reduce_number(self.segments)

    @torch.no_grad()
    def update(self, indices: torch.Tensor, firing: torch.Tensor, valid: torch.Tensor) -> None:
        """``indices``/``firing`` [B, S, k]: the sparse code and where it fires; ``valid`` [B, S]: positions
        that count (not attention sinks)."""
        B, S, k = indices.shape
        seg = self.segment
        n_seg = math.ceil(S / seg)
        segment_of = torch.arange(S, device=indices.device) // seg
        owner = (torch.arange(B, device=indices.device)[:, None] * n_seg + segment_of[None]).expand(B, S)
        keep = firing & valid[..., None]
        key = owner[..., None].expand(B, S, k)[keep] * self.d_sae + indices[keep].long()
        key = torch.unique(key)                                   # each (segment, feature) once, sorted
        group, feature = key // self.d_sae, key % self.d_sae
        padded = torch.nn.functional.pad(valid, (0, n_seg * seg - S), value=False)
        self.segments += int(padded.view(B, n_seg, seg).any(-1).sum())
        if not len(key):
            return
        self.fired.index_add_(0, feature, torch.ones_like(feature))
        # pad each segment's features into a row, then every pair i < j of a row
        counts = torch.bincount(group, minlength=B * n_seg)
        start = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(key), device=key.device) - start[group]
        width = int(counts.max())
        rows = torch.full((B * n_seg, width), -1, dtype=torch.long, device=key.device)
        rows[group, rank] = feature
        rows = rows[counts > 1]
        step = max(1, 4_000_000 // (width * width))  # bounded memory: about 4M candidate pairs at a time
        for lo in range(0, len(rows), step):
            a, b = rows[lo:lo + step, :, None], rows[lo:lo + step, None, :]
            ok = (a >= 0) & (b > a)            # features are sorted within a segment, so b > a is i < j
            idx = (a * self.d_sae + b)[ok]
            self.pairs.index_add_(0, idx, torch.ones_like(idx, dtype=torch.int32))

    def matrix(self) -> torch.Tensor:
        """The symmetric ``[d_sae, d_sae]`` pair counts (a view of the upper triangle plus its transpose)."""
        upper = self.pairs.view(self.d_sae, self.d_sae)
        return upper + upper.T


class ContextWords:
    """For every feature and vocabulary word: firing positions with the word within ``radius`` tokens."""

    def __init__(self, d_sae: int, token_word: torch.Tensor, n_words: int, radius: int = 16, device="cpu",
                 continues: torch.Tensor | None = None):
        if d_sae * n_words > MAX_DENSE_PAIRS:
            raise ValueError(f"context-word counts of {d_sae:,} features × {n_words:,} words are too many; "
                             "pass context_words=False to lab.prepare.")
        self.d_sae, self.n_words, self.radius = d_sae, n_words, radius
        self.token_word = token_word.to(device)
        # tokens that continue the word before them (no space: "ess" of " process"); a word token followed by
        # one is only the start of a longer word (" pro"), not the word itself
        self.continues = None if continues is None else continues.to(device)
        self.pairs = torch.zeros(d_sae * n_words, dtype=torch.int32, device=device)
        self.word_near = torch.zeros(n_words, dtype=torch.int64, device=device)  # positions with the word near
        self.fired = torch.zeros(d_sae, dtype=torch.int64, device=device)
        self.positions = 0

    def nbytes(self) -> int:
        return self.pairs.numel() * 4 + (self.word_near.numel() + self.fired.numel()) * 8

    def state_dict(self) -> dict:
        return {"pairs": self.pairs.cpu(), "word_near": self.word_near.cpu(), "fired": self.fired.cpu(),
                "positions": self.positions, "radius": self.radius, "n_words": self.n_words}

    def load_state_dict(self, state: dict) -> None:
        if (state["radius"], state["n_words"]) != (self.radius, self.n_words):
            raise ValueError("the checkpoint counted context words differently; delete it to start afresh.")
        self.pairs.copy_(state["pairs"])
        self.word_near.copy_(state["word_near"])
        self.fired.copy_(state["fired"])
        self.positions = int(state["positions"])

    def merge_ranks(self) -> None:
        """Under ``torchrun``: every rank's counts summed (exact: integers), on every rank."""
        for t in (self.pairs, self.word_near, self.fired):
            distributed.all_reduce_(t)
        self.positions = distributed.all_reduce_number(self.positions)

    def near_words(self, ids: torch.Tensor) -> torch.Tensor:
        """``[B, S, 2·radius + 1]``: the distinct vocabulary words within ``radius`` of each position (-1 pads)."""
        r = self.radius
        words = self.token_word[ids.long()]                                     # [B, S]
        if self.continues is not None:
            words[:, :-1] = words[:, :-1].masked_fill(self.continues[ids[:, 1:].long()], -1)
        padded = torch.nn.functional.pad(words, (r, r), value=-1)
        near = padded.unfold(1, 2 * r + 1, 1)                                   # [B, S, 2r+1]
        near = near.sort(-1).values
        repeat = torch.zeros_like(near, dtype=torch.bool)
        repeat[..., 1:] = near[..., 1:] == near[..., :-1]
        return near.masked_fill(repeat, -1)

    @torch.no_grad()
    def update(self, ids: torch.Tensor, indices: torch.Tensor, firing: torch.Tensor, valid: torch.Tensor) -> None:
        near = self.near_words(ids)
        near = near.masked_fill(~valid[..., None], -1)
        seen = near[near >= 0]
        self.word_near.index_add_(0, seen, torch.ones_like(seen))
        self.positions += int(valid.sum())
        keep = firing & valid[..., None]
        feat = indices.long().masked_fill(~keep, -1)
        self.fired.index_add_(0, feat[keep], torch.ones_like(feat[keep]))
        f, w = feat[..., :, None], near[..., None, :]                            # [B, S, k, 2r+1]
        idx = (f * self.n_words + w)[(f >= 0) & (w >= 0)]
        self.pairs.index_add_(0, idx, torch.ones_like(idx, dtype=torch.int32))

    def matrix(self) -> torch.Tensor:
        return self.pairs.view(self.d_sae, self.n_words)


# ---------------------------------------------------------------------------------------------
# From counts to similarities and explanations


SIMILARITIES = ("jaccard", "npmi", "phi")
MIN_PAIRS = 3  # fewer shared segments than this is chance, not a relation
MIN_NEAR = 5   # a context word must be near at least this many of a feature's firings
PRIOR_FIRINGS = 20  # shrinks p(w|f) of rarely firing features towards 0: c / (firings + 20)


def similarity(pairs: torch.Tensor, fired_i: torch.Tensor, fired_j: torch.Tensor, n: int, how: str) -> torch.Tensor:
    """A block of pair counts ``[a, b]`` → similarities, with ``fired_*`` the features' own counts."""
    c = pairs.double()
    fi, fj = fired_i.double()[:, None], fired_j.double()[None]
    if how == "jaccard":
        s = c / (fi + fj - c).clamp(min=1)
    elif how == "npmi":
        p_ij, p_i, p_j = c / n, fi / n, fj / n
        s = torch.log(p_ij.clamp(min=1e-30) / (p_i * p_j).clamp(min=1e-30)) / -torch.log(p_ij.clamp(min=1e-30))
    elif how == "phi":
        s = (n * c - fi * fj) / torch.sqrt((fi * fj * (n - fi) * (n - fj)).clamp(min=1))
    else:
        raise ValueError(f"similarity must be one of {', '.join(SIMILARITIES)} (got {how!r}).")
    return torch.where(c >= MIN_PAIRS, s, torch.full_like(s, -math.inf)).float()


@torch.no_grad()
def top_partners(counts: Coactivation, k: int = 32, how: str = "jaccard", chunk: int = 1024
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Every feature's ``k`` most similar features by co-activation: ``[d_sae, k]`` ids and similarities
    (-inf where a feature has fewer than ``k`` partners that fired with it ``MIN_PAIRS`` times)."""
    d = counts.d_sae
    upper = counts.pairs.view(d, d)
    ids = np.empty((d, min(k, d - 1)), dtype=np.int64)
    sims = np.empty(ids.shape, dtype=np.float32)
    for lo in range(0, d, chunk):
        hi = min(lo + chunk, d)
        block = upper[lo:hi] + upper[:, lo:hi].T                   # symmetric rows lo..hi
        s = similarity(block, counts.fired[lo:hi], counts.fired, counts.segments, how)
        s[torch.arange(hi - lo), torch.arange(lo, hi)] = -math.inf  # not its own partner
        top = s.topk(ids.shape[1], dim=1)
        ids[lo:hi], sims[lo:hi] = top.indices.numpy(), top.values.numpy()
    return ids, sims


@torch.no_grad()
def context_mi(counts: ContextWords, top: int = 10, skip_words: torch.Tensor | None = None, chunk: int = 2048
               ) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's ``top`` context words by their share of the mutual information between the feature
    firing and the word being near: ``p(w|f) · log(p(w|f) / p(w))``, with ``p(w|f)`` shrunk for rare
    features (``PRIOR_FIRINGS``) and only words near at least ``MIN_NEAR`` of its firings.

    ``skip_words``: a bool mask of words never to name (the most frequent function words)."""
    d = counts.d_sae
    p_w = counts.word_near.double() / max(counts.positions, 1)
    ids = np.empty((d, top), dtype=np.int64)
    scores = np.empty((d, top), dtype=np.float32)
    mat = counts.matrix()
    for lo in range(0, d, chunk):
        c = mat[lo:lo + chunk].double()
        p_wf = c / (counts.fired[lo:lo + chunk].double()[:, None] + PRIOR_FIRINGS)
        s = p_wf * torch.log(p_wf.clamp(min=1e-30) / p_w.clamp(min=1e-30))
        s = torch.where((c >= MIN_NEAR) & (s > 0), s, torch.zeros_like(s))
        if skip_words is not None:
            s[:, skip_words] = 0.0
        best = s.float().topk(top, dim=1)
        ids[lo:lo + chunk], scores[lo:lo + chunk] = best.indices.numpy(), best.values.numpy()
    return ids, scores


@torch.no_grad()
def word_features(counts: ContextWords, top: int = 32, skip_words: torch.Tensor | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """For each vocabulary word, the ``top`` features it characterises best: the same MI term,
    ``p(w|f) · log(p(w|f) / p(w))``, ranked over features (word search reads this)."""
    p_w = counts.word_near.double() / max(counts.positions, 1)
    mat = counts.matrix()
    ids = np.empty((counts.n_words, top), dtype=np.int64)
    scores = np.empty((counts.n_words, top), dtype=np.float32)
    fired = counts.fired.double() + PRIOR_FIRINGS
    for lo in range(0, counts.n_words, 512):
        c = mat[:, lo:lo + 512].double()
        p_wf = c / fired[:, None]
        s = p_wf * torch.log(p_wf.clamp(min=1e-30) / p_w[lo:lo + 512].clamp(min=1e-30))
        s = torch.where((c >= MIN_NEAR) & (s > 0), s, torch.zeros_like(s)).float().T      # [words, d_sae]
        best = s.topk(top, dim=1)
        ids[lo:lo + 512], scores[lo:lo + 512] = best.indices.numpy(), best.values.numpy()
    if skip_words is not None:
        scores[skip_words.numpy()] = 0.0
    return ids, scores
