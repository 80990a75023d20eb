"""Feature dashboards: the data behind a feature card, for every feature of an SAE in one pass.

A corpus streams through the model (only up to the hook layer) and the SAE, batch by batch. For every
feature we keep, in tensors whose size never depends on how many tokens have gone by:

- the top 20 activating examples, at most one per token window, each with a 24-token context
  (token ids + the feature's fp16 activation on each token): a streaming top-k merge;
- a uniform random sample of 20 firings (keys drawn at random, the 20 largest kept: a mergeable
  reservoir). Sorted by activation it yields examples from each of 10 activation quantile intervals;
- a 64-bin activation histogram whose range doubles when a larger value arrives (adjacent bins merge,
  so counts stay exact without knowing the maximum in advance);
- how often the feature fires and the sum of its activations (density, mean when firing).

The logit lens and the neighbours are computed per feature when asked (one matrix-vector product each).

On disk (``dashboards.npz``, compressed): token ids (uint16 when the vocabulary fits, else int32) and
fp16 activations, arrays indexed by feature, plus a JSON header naming the SAE by a fingerprint of its
decoder. The default SAE's file ships in ``saewidgets/data/default-sae/``; for any other SAE the first
``lab.dashboard(f)`` computes one with a progress bar and caches it in the user cache.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import npz_store
from ..activations import sink_mask
from ..hooks import run_to
from ..steering import check_feature

FILE = "dashboards.npz"
FORMAT = 1
DEFAULT_TOKENS = 100_000  # computed on demand: about a minute on two CPU cores


@dataclass(frozen=True)
class DashboardConfig:
    n_top: int = 20            # max-activating examples per feature
    top_width: int = 24        # tokens of context around each (two thirds before, one third after)
    n_samples: int = 20        # uniformly sampled firings, sorted into quantile intervals
    sample_width: int = 16
    n_quantiles: int = 10
    n_bins: int = 64           # histogram bins over [0, range]; the range is a power of two ≥ the max
    seq_len: int = 128         # token windows, as the SAE was trained
    batch_windows: int = 16    # windows per forward pass
    seed: int = 0


# ---------------------------------------------------------------------------------------------
# Streaming state


@dataclass
class Batch:
    """One forward pass: token ids [B, S] and each token's sparse SAE code [B, S, k]."""

    ids: torch.Tensor
    values: torch.Tensor
    indices: torch.Tensor
    _lookup: tuple | None = field(default=None, repr=False)

    def activation(self, window: torch.Tensor, column: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        """Feature ``feature[m]``'s activation at ``(window[m], column[m, j])``, zero where it is silent.

        The sparse code is looked up by binary search over sorted (token, feature) keys: memory stays
        at the code's size, never tokens × d_sae.
        """
        B, S, k = self.indices.shape
        if self._lookup is None:
            token = torch.arange(B * S, device=self.indices.device).repeat_interleave(k)
            keys = (token << 32) | self.indices.reshape(-1).long()
            keys, order = keys.sort()
            self._lookup = (keys, self.values.reshape(-1)[order])
        keys, values = self._lookup
        query = ((window[:, None] * S + column) << 32) | feature[:, None]
        at = torch.searchsorted(keys, query).clamp(max=len(keys) - 1)
        return torch.where(keys[at] == query, values[at], 0.0)


class ExampleStore:
    """Per feature, the ``k`` firings with the highest score so far, each with a window of context.

    Scores are activations (top examples) or random keys (a uniform sample). ``offer`` merges a batch's
    candidates into fixed-size tensors, so memory is ``d_sae × k × width`` however long the corpus.
    """

    def __init__(self, d_sae: int, k: int, width: int, device="cpu"):
        self.k, self.width = k, width
        self.before = (2 * width) // 3  # more context before the token than after: it reads left to right
        self.score = torch.full((d_sae, k), -math.inf, device=device)  # sorted high to low; -inf = empty
        self.value = torch.zeros(d_sae, k, device=device)
        self.tokens = torch.zeros(d_sae, k, width, dtype=torch.int32, device=device)
        self.acts = torch.zeros(d_sae, k, width, dtype=torch.float16, device=device)
        self.center = torch.zeros(d_sae, k, dtype=torch.uint8, device=device)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.score, self.value, self.tokens, self.acts, self.center))

    def offer(self, batch: Batch, feature, score, value, window, position, one_per_window: bool = False) -> None:
        # Only candidates that beat their feature's current k-th best can enter: after the first
        # batches that is a small fraction, so the sorting below stays cheap.
        keep = score > self.score[feature, -1]
        feature, score, value, window, position = (x[keep] for x in (feature, score, value, window, position))
        if one_per_window and len(feature):
            # the strongest token of a window stands for it: overlapping contexts would repeat
            key = feature * batch.ids.shape[0] + window
            order = _group_sorted(key, score)
            first = _starts(key[order])
            pick = order[first]
            feature, score, value, window, position = (x[pick] for x in (feature, score, value, window, position))
        if not len(feature):
            return
        # rank the candidates within their feature, best first, and keep at most k of each
        order = _group_sorted(feature, score)
        g = feature[order]
        rank = torch.arange(len(g), device=g.device) - _group_start(g)
        ok = rank < self.k
        order, g, rank = order[ok], g[ok], rank[ok]
        rows, row = torch.unique(g, return_inverse=True)
        cand_score = torch.full((len(rows), self.k), -math.inf, device=g.device)
        cand_score[row, rank] = score[order]
        cand_id = torch.full((len(rows), self.k), -1, dtype=torch.long, device=g.device)
        cand_id[row, rank] = order
        # merge with the kept ones; slots 0..k-1 are old entries, k..2k-1 candidates
        best, slot = torch.cat([self.score[rows], cand_score], 1).topk(self.k, dim=1)
        old = slot.clamp(max=self.k - 1)
        value_rows = self.value[rows].gather(1, old)
        center_rows = self.center[rows].gather(1, old)
        wide = old[..., None].expand(-1, -1, self.width)
        token_rows = self.tokens[rows].gather(1, wide)
        act_rows = self.acts[rows].gather(1, wide)
        r, s = (slot >= self.k).nonzero(as_tuple=True)
        c = cand_id[r, slot[r, s] - self.k]
        tokens, acts, center = self._context(batch, feature[c], window[c], position[c])
        value_rows[r, s] = value[c]
        token_rows[r, s], act_rows[r, s], center_rows[r, s] = tokens, acts, center
        self.score[rows], self.value[rows], self.center[rows] = best, value_rows, center_rows
        self.tokens[rows], self.acts[rows] = token_rows, act_rows

    def _context(self, batch: Batch, feature, window, position):
        """Token ids and the feature's activations on the window slice around each chosen token."""
        S = batch.ids.shape[1]
        start = (position - self.before).clamp(min=0).clamp(max=S - self.width)  # slide inside the window at its ends
        cols = start[:, None] + torch.arange(self.width, device=start.device)
        tokens = batch.ids[window[:, None], cols].int()
        acts = batch.activation(window, cols, feature).half()
        return tokens, acts, (position - start).to(torch.uint8)


def _group_sorted(group: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Indices ordering the items by group, and by score (high first) within a group."""
    order = torch.argsort(score, descending=True, stable=True)
    return order[torch.argsort(group[order], stable=True)]


def _starts(sorted_group: torch.Tensor) -> torch.Tensor:
    first = torch.ones_like(sorted_group, dtype=torch.bool)
    first[1:] = sorted_group[1:] != sorted_group[:-1]
    return first


def _group_start(sorted_group: torch.Tensor) -> torch.Tensor:
    """For each item of a sorted group vector, the index where its group begins."""
    n = torch.arange(len(sorted_group), device=sorted_group.device)
    return torch.where(_starts(sorted_group), n, 0).cummax(0).values


class Histogram:
    """Per-feature activation counts in ``n_bins`` equal bins over ``[0, top]``.

    ``top`` is a power of two at least the largest value seen. When a larger value arrives, ``top``
    doubles (as often as needed) and each pair of neighbouring bins merges into one: the counts stay
    exact, and at the end at least half the bins lie below the feature's maximum.
    """

    def __init__(self, d_sae: int, n_bins: int, device="cpu"):
        if n_bins & (n_bins - 1):
            raise ValueError(f"n_bins must be a power of two (got {n_bins}).")
        self.n_bins = n_bins
        self.counts = torch.zeros(d_sae, n_bins, dtype=torch.int64, device=device)
        self.top = torch.zeros(d_sae, device=device)  # 0 = nothing seen yet

    def add(self, feature: torch.Tensor, value: torch.Tensor) -> None:
        if not len(feature):
            return
        biggest = torch.zeros_like(self.top).scatter_reduce(0, feature, value, "amax")
        grow = (biggest > self.top).nonzero(as_tuple=True)[0]
        if len(grow):
            new_top = torch.exp2(torch.ceil(torch.log2(biggest[grow])))
            old_top = self.top[grow]
            doublings = torch.where(old_top > 0, torch.log2(new_top / old_top.clamp(min=1e-30)).round(), 0).long()
            for d in doublings.unique().tolist():
                if d > 0:
                    rows = grow[doublings == d]
                    self.counts[rows] = _merge_bins(self.counts[rows], 2 ** d)
            self.top[grow] = new_top
        bins = (value / self.top[feature] * self.n_bins).long().clamp(0, self.n_bins - 1)
        self.counts.view(-1).index_add_(0, feature * self.n_bins + bins, torch.ones_like(bins))


def _merge_bins(counts: torch.Tensor, factor: int) -> torch.Tensor:
    """Counts over a range ``factor`` times wider: groups of ``factor`` bins summed, zeros after."""
    rows, n = counts.shape
    factor = min(factor, n)
    merged = counts.view(rows, n // factor, factor).sum(-1)
    return torch.cat([merged, counts.new_zeros(rows, n - n // factor)], 1)


class DashboardBuilder:
    """All per-feature state of the streaming pass; ``update`` once a batch, ``finish`` at the end."""

    def __init__(self, d_sae: int, config: DashboardConfig = DashboardConfig(), device="cpu"):
        self.d_sae, self.config = d_sae, config
        width = min(config.top_width, config.seq_len)
        self.top = ExampleStore(d_sae, config.n_top, width, device)
        self.sample = ExampleStore(d_sae, config.n_samples, min(config.sample_width, config.seq_len), device)
        self.histogram = Histogram(d_sae, config.n_bins, device)
        self.fired = torch.zeros(d_sae, dtype=torch.int64, device=device)
        self.total = torch.zeros(d_sae, dtype=torch.float64, device=device)
        self.tokens = 0       # positions analysed (attention sinks left out)
        self.positions = 0    # positions read, sinks included
        self.generator = torch.Generator(device=device).manual_seed(config.seed)

    def nbytes(self) -> int:
        """Memory held by the state: fixed by d_sae and the config, independent of the corpus."""
        extra = sum(t.numel() * t.element_size() for t in (self.histogram.counts, self.histogram.top, self.fired, self.total))
        return self.top.nbytes() + self.sample.nbytes() + extra

    @torch.no_grad()
    def update(self, batch: Batch, sink: torch.Tensor) -> None:
        """Add one batch: ``sink`` [B, S] marks attention-sink positions, which are left out."""
        firing = (batch.values > 0) & ~sink[..., None]
        window, position, j = firing.nonzero(as_tuple=True)
        feature = batch.indices[window, position, j].long()
        value = batch.values[window, position, j].float()
        self.positions += sink.numel()
        self.tokens += int((~sink).sum())
        self.fired.index_add_(0, feature, torch.ones_like(feature))
        self.total.index_add_(0, feature, value.double())
        self.histogram.add(feature, value)
        self.top.offer(batch, feature, value, value, window, position, one_per_window=True)
        keys = torch.rand(len(feature), generator=self.generator, device=feature.device)
        self.sample.offer(batch, feature, keys, value, window, position)

    def finish(self, meta: dict | None = None) -> "Dashboards":
        top, sample = self.top, self.sample
        n = max(self.tokens, 1)
        arrays = {
            "top_value": _valid(top), "top_tokens": top.tokens, "top_acts": top.acts, "top_center": top.center,
            "sample_value": _valid(sample), "sample_tokens": sample.tokens, "sample_acts": sample.acts,
            "sample_center": sample.center,
            "hist_counts": self.histogram.counts, "hist_top": self.histogram.top,
            "max_activation": _valid(top)[:, 0],
            "frequency": (self.fired / n).float(),
            "mean_activation": (self.total / self.fired.clamp(min=1)).float(),
        }
        arrays = {k: v.cpu().numpy() for k, v in arrays.items()}
        meta = {"format": FORMAT, "d_sae": self.d_sae, "tokens": self.tokens, "positions": self.positions,
                "config": asdict(self.config), **(meta or {})}
        return Dashboards(arrays, meta)


def _valid(store: ExampleStore) -> torch.Tensor:
    """Activations of the kept examples, 0 in empty slots."""
    return torch.where(torch.isfinite(store.score), store.value, 0.0)


# ---------------------------------------------------------------------------------------------
# The pass over a corpus


def _batches(windows: Iterable, size: int, limit: int) -> Iterator[torch.Tensor]:
    batch = []
    for n, window in enumerate(windows):
        if n >= limit:
            break
        batch.append(torch.as_tensor(np.asarray(window), dtype=torch.long))
        if len(batch) == size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


@torch.no_grad()
def compute(model, hook, sae, windows: Iterable, tokens: int, config: DashboardConfig = DashboardConfig(),
            progress: bool = True, meta: dict | None = None, max_seconds: float | None = None) -> "Dashboards":
    """Dashboards for every feature of ``sae`` from token ``windows`` (each ``config.seq_len`` ids long).

    Reads ``ceil(tokens / seq_len)`` windows, or stops after the batch that passes ``max_seconds``;
    the model runs only up to ``hook``.
    """
    device = sae.device
    builder = DashboardBuilder(sae.d_sae, config, device)
    n_windows = max(1, math.ceil(tokens / config.seq_len))
    bar = tqdm(total=n_windows * config.seq_len, unit="tok", unit_scale=True, desc="feature dashboards",
               disable=not progress)
    started = time.perf_counter()
    try:
        for ids in _batches(windows, config.batch_windows, n_windows):
            if ids.shape[1] != config.seq_len:
                raise ValueError(f"token windows must be {config.seq_len} long (got {ids.shape[1]}).")
            ids = ids.to(next(model.parameters()).device)
            acts = run_to(model, hook, ids)
            values, indices = sae.encode_sparse(acts.to(sae.dtype))
            batch = Batch(ids.to(device), values.float().to(device), indices.to(device))
            builder.update(batch, sink_mask(acts).to(device))
            bar.update(ids.numel())
            if max_seconds is not None and time.perf_counter() - started > max_seconds:
                break
    finally:
        bar.close()
    if builder.positions == 0:
        raise ValueError("no token windows to analyse: pass longer texts or more of them.")
    info = {"sae": fingerprint(sae), "hook_name": hook.name, "seconds": round(time.perf_counter() - started, 1),
            **(meta or {})}
    return builder.finish(info)


def corpus_windows(tokenizer, split: str = "train", seq_len: int = 128) -> Iterator[np.ndarray]:
    """Token windows of the saewidgets corpus (``saewidgets.corpus``), streamed."""
    from .. import corpus

    texts = (doc["text"] for doc in corpus.load_documents(split))
    return corpus.token_windows(tokenizer, texts, seq_len=seq_len)


# ---------------------------------------------------------------------------------------------
# The finished arrays, on disk and per feature


@dataclass
class Dashboards:
    """Dashboards of every feature of one SAE: numpy arrays indexed by feature, and a header."""

    arrays: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)

    @property
    def d_sae(self) -> int:
        return len(self.arrays["frequency"])

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    def save(self, path: str | Path) -> Path:
        """A compressed ``.npz``: token ids as uint16 when they fit, activations fp16, header as JSON."""
        arrays = dict(self.arrays)
        for key in ("top_tokens", "sample_tokens"):
            if arrays[key].max(initial=0) < 2**16:  # vocabularies up to 65,536 tokens: half the bytes
                arrays[key] = arrays[key].astype(np.uint16)
        arrays["hist_counts"] = arrays["hist_counts"].astype(np.uint32)
        return npz_store.save(path, self.meta, arrays)

    header = staticmethod(npz_store.header)

    @classmethod
    def load(cls, path: str | Path) -> "Dashboards":
        meta, arrays = npz_store.load(path, "dashboard", FORMAT)
        return cls(arrays, meta)  # token ids stay uint16 in memory too


@dataclass
class FeatureDashboard:
    """One feature's dashboard: what ``lab.dashboard(f)`` returns and a feature card shows.

    ``examples`` and ``quantiles`` have one row per example (columns ``activation``, ``token`` — the
    token it is centred on —, ``text``, ``tokens``, ``activations`` (per token), ``center``); ``logit_lens`` one row per
    token (``direction`` "positive" or "negative", ``rank``, ``token``, ``logit``); ``top_tokens`` the
    tokens with the highest mean activation in the top examples; ``histogram`` the activation counts.
    """

    feature: int
    max_activation: float
    frequency: float               # density: share of tokens on which it fires
    mean_activation: float         # mean activation when firing
    examples: pd.DataFrame
    quantiles: pd.DataFrame
    logit_lens: pd.DataFrame
    top_tokens: pd.DataFrame
    histogram: pd.DataFrame        # lo, hi, count
    tokens: int                    # tokens the dashboards were computed from
    source: str                    # "shipped", "cache" or "computed"

    @property
    def explanation(self) -> str:
        """For now the top tokens; the vocabulary explanation (mutual information) comes later."""
        return ", ".join(repr(t) for t in self.top_tokens.token.head(5))

    def __repr__(self) -> str:
        return (f"FeatureDashboard(#{self.feature}: density {self.frequency:.3%}, max {self.max_activation:.3g}, "
                f"mean {self.mean_activation:.3g}, top tokens {self.explanation}, "
                f"{len(self.examples)} examples from {self.tokens:,} tokens)")


def examples_frame(pieces: list[list[str]], values: np.ndarray, center: np.ndarray, activation: np.ndarray,
                   **extra) -> pd.DataFrame:
    """Examples as a DataFrame: one row each, the context as text and as token lists."""
    rows = {
        **extra,
        "activation": activation.astype(float),
        "token": [p[c] if c < len(p) else "" for p, c in zip(pieces, center)],
        "text": ["".join(p) for p in pieces],
        "tokens": pieces,
        "activations": [v[:len(p)].astype(float) for v, p in zip(values, pieces)],
        "center": center.astype(int),
    }
    return pd.DataFrame(rows)


class FeatureView:
    """Turns one feature's rows of a ``Dashboards`` into token strings and DataFrames (needs the tokenizer)."""

    def __init__(self, dashboards: Dashboards, tokenizer):
        self.d, self.tokenizer = dashboards, tokenizer
        self._pieces: dict[int, str] = {}

    def pieces(self, ids: np.ndarray) -> list[str]:
        """Decoded text of each id."""
        out = []
        for i in ids.tolist():
            if i not in self._pieces:
                self._pieces[i] = self.tokenizer.decode([i])
            out.append(self._pieces[i])
        return out

    def _examples(self, prefix: str, f: int, order: np.ndarray | None = None):
        a = self.d.arrays
        value = a[f"{prefix}_value"][f]
        keep = np.nonzero(value > 0)[0] if order is None else order
        tokens, acts, center = a[f"{prefix}_tokens"][f][keep], a[f"{prefix}_acts"][f][keep], a[f"{prefix}_center"][f][keep]
        return [self.pieces(t) for t in tokens], acts.astype(np.float32), center, value[keep], tokens

    def examples(self, f: int) -> pd.DataFrame:
        pieces, acts, center, value, _ = self._examples("top", f)
        return examples_frame(pieces, acts, center, value, rank=np.arange(1, len(value) + 1))

    def quantile_groups(self, f: int) -> list[tuple[float, float, np.ndarray]]:
        """The sampled firings sorted by activation and split into ``n_quantiles`` groups of equal size.

        Each group is ``(q_lo, q_hi, indices)``: a uniform sample's quantiles estimate the feature's.
        """
        value = self.d.arrays["sample_value"][f]
        order = np.nonzero(value > 0)[0]
        order = order[np.argsort(value[order], kind="stable")]
        n_q = self.d.meta.get("config", {}).get("n_quantiles", 10)
        groups = np.array_split(order, min(n_q, len(order))) if len(order) else []
        out, edge = [], 0
        for g in groups:
            lo = edge / len(order)
            edge += len(g)
            out.append((lo, edge / len(order), g))
        return out

    def quantiles(self, f: int) -> pd.DataFrame:
        frames = []
        for n, (lo, hi, idx) in enumerate(self.quantile_groups(f)):
            pieces, acts, center, value, _ = self._examples("sample", f, idx[::-1])  # strongest first
            frames.append(examples_frame(pieces, acts, center, value, interval=n + 1,
                                         quantile=f"{lo:.0%}–{hi:.0%}"))
        columns = ["interval", "quantile", "activation", "token", "text", "tokens", "activations", "center"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def top_tokens(self, f: int, n: int = 10) -> pd.DataFrame:
        """Tokens with the highest mean activation over their occurrences in the top examples."""
        _, acts, _, _, tokens = self._examples("top", f)
        ids, acts = tokens.reshape(-1), acts.reshape(-1)
        if not len(ids):
            return pd.DataFrame(columns=["token", "token_id", "mean_activation", "count"])
        uniq, inv = np.unique(ids, return_inverse=True)
        sums, counts = np.bincount(inv, weights=acts), np.bincount(inv)
        mean = sums / counts
        best = [i for i in np.argsort(-mean, kind="stable") if mean[i] > 0][:n]
        return pd.DataFrame({"token": [self.pieces(uniq[[i]])[0] for i in best], "token_id": uniq[best].astype(int),
                             "mean_activation": mean[best], "count": counts[best].astype(int)})

    def histogram(self, f: int) -> pd.DataFrame:
        """The bins up to the feature's maximum (the range above it is empty)."""
        a = self.d.arrays
        counts, top = a["hist_counts"][f].astype(np.int64), float(a["hist_top"][f])
        n = len(counts)
        used = int(np.nonzero(counts)[0].max()) + 1 if counts.any() else 0
        edges = np.arange(n + 1) * (top / n)
        return pd.DataFrame({"lo": edges[:used], "hi": edges[1:used + 1], "count": counts[:used]})

    def dashboard(self, lab, f: int, source: str) -> FeatureDashboard:
        a = self.d.arrays
        return FeatureDashboard(
            feature=f, max_activation=float(a["max_activation"][f]), frequency=float(a["frequency"][f]),
            mean_activation=float(a["mean_activation"][f]), examples=self.examples(f), quantiles=self.quantiles(f),
            logit_lens=logit_lens_frame(lab, f), top_tokens=self.top_tokens(f), histogram=self.histogram(f),
            tokens=int(self.d.meta["tokens"]), source=source)


# ---------------------------------------------------------------------------------------------
# Logit lens


def final_norm(model):
    """The norm before the unembedding (``model.norm`` for Llama/Qwen/Gemma, ``ln_f`` for GPT-2)."""
    base = getattr(model, "base_model", model)
    for name in ("norm", "ln_f", "final_layernorm", "final_layer_norm", "final_norm"):
        module = getattr(base, name, None)
        if isinstance(module, torch.nn.Module):
            return module
    return None


@torch.no_grad()
def logit_lens(model, directions: torch.Tensor, k: int = 10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tokens each direction promotes most and least: ``(top_values, top_ids, bottom_values, bottom_ids)``.

    The choice: ``lm_head(final_norm(W_dec[f]) - final_norm(0))``, i.e. the decoder row read as if it
    were the whole residual stream. Through the model's own norm module the gain (Gemma's 1 + w too) and
    LayerNorm's centring apply for any family, and the ranking equals that of W_dec[f]·diag(g)·W_U
    (TransformerLens' folded unembedding). Plain W_dec[f] @ W_U would ignore the gain, which weights
    dimensions very unevenly. Subtracting final_norm(0) drops LayerNorm's bias: a logit shift shared by
    every feature, which would otherwise put the same tokens at the top of every list. The norm's 1/rms
    is one positive factor per feature, so it changes the scale of the logits, not their order.
    """
    head = model.get_output_embeddings()
    norm = final_norm(model)
    x = directions.to(head.weight.device, head.weight.dtype)[:, None, :]
    if norm is not None:
        x = norm(x) - norm(torch.zeros_like(x[:1]))
    logits = head(x)[:, 0].float()
    top = logits.topk(k, dim=-1)
    bottom = logits.topk(k, dim=-1, largest=False)
    return top.values, top.indices, bottom.values, bottom.indices


def logit_lens_frame(lab, feature: int, k: int = 10) -> pd.DataFrame:
    tv, ti, bv, bi = logit_lens(lab.model, lab.sae.W_dec[feature][None].detach(), k)
    rows = [("positive", r + 1, lab.tokenizer.decode([int(i)]), float(v)) for r, (v, i) in enumerate(zip(tv[0], ti[0]))]
    rows += [("negative", r + 1, lab.tokenizer.decode([int(i)]), float(v)) for r, (v, i) in enumerate(zip(bv[0], bi[0]))]
    return pd.DataFrame(rows, columns=["direction", "rank", "token", "logit"])


# ---------------------------------------------------------------------------------------------
# Finding an SAE's dashboards: in memory, shipped, in the user cache, or computed now

_LOADED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # sae -> (Dashboards, source)
_FINGERPRINTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def fingerprint(sae) -> str:
    """A short hash of the decoder (in fp16, so an fp16 file upcast to fp32 keeps its fingerprint)."""
    version = sae.W_dec._version
    cached = _FINGERPRINTS.get(sae)
    if cached and cached[0] == version:
        return cached[1]
    digest = hashlib.sha256(f"{sae.d_in}x{sae.d_sae}".encode())
    digest.update(sae.W_dec.detach().half().cpu().numpy().tobytes())
    _FINGERPRINTS[sae] = (version, digest.hexdigest()[:16])
    return _FINGERPRINTS[sae][1]


def shipped_path() -> Path:
    from ..lab import DEFAULT_SAE_DIR

    return DEFAULT_SAE_DIR / FILE


def _cache_files(sae) -> list[Path]:
    from ..paths import cache_dir

    return sorted(cache_dir("dashboards").glob(f"{fingerprint(sae)}-*.npz"))


def _stored(lab, tokens: int | None) -> tuple[Dashboards, str] | None:
    """Dashboards on disk for this SAE covering at least ``tokens`` tokens, most tokens first."""
    found = []
    for path, source in [(shipped_path(), "shipped")] + [(p, "cache") for p in _cache_files(lab.sae)]:
        if not path.exists():
            continue
        try:
            meta = Dashboards.header(path)
        except (OSError, ValueError, KeyError) as err:
            warnings.warn(f"ignoring unreadable dashboards {path}: {err}", stacklevel=3)
            continue
        # the fingerprint tells whether the file belongs to this SAE (a retrained default SAE does not match)
        if meta.get("sae") == fingerprint(lab.sae) and meta.get("format") == FORMAT:
            if tokens is None or meta["tokens"] >= tokens:
                found.append((meta["tokens"], path, source))
    if not found:
        return None
    _, path, source = max(found, key=lambda x: x[0])
    return Dashboards.load(path), source


def dashboards(lab, tokens: int | None = None, texts: Iterable[str] | None = None, progress: bool = True,
               config: DashboardConfig = DashboardConfig()) -> tuple[Dashboards, str]:
    """The dashboards of ``lab.sae`` and where they came from.

    Without arguments: those in memory (the last ones loaded or computed for this SAE), else shipped
    (default SAE), else the user cache, else computed over ``DEFAULT_TOKENS`` tokens of the corpus's
    training split (a progress bar shows it) and cached. ``tokens``: at least that many tokens
    (recomputed if what is at hand covers fewer). ``texts``: computed from these texts instead of the
    corpus, and kept in memory only.
    """
    sae = lab._need_sae()
    held = _LOADED.get(sae)
    if texts is None:
        if held and (tokens is None or held[0].meta["tokens"] >= tokens):
            return held
        stored = _stored(lab, tokens)
        if stored is not None:
            _LOADED[sae] = stored
            _fill_stats(sae, stored[0])
            return stored
    want = tokens or DEFAULT_TOKENS
    if texts is not None:
        from ..corpus import token_windows

        windows, meta = token_windows(lab.tokenizer, texts, seq_len=config.seq_len), {"texts": "custom"}
    else:
        if progress:
            print(f"saewidgets: no dashboards for this SAE yet; computing them from {want:,} tokens of the corpus "
                  "(once; cached for next time).", flush=True)
        windows, meta = corpus_windows(lab.tokenizer, "train", config.seq_len), {"texts": "corpus:train"}
    result = compute(lab.model, lab.hook, sae, windows, want, config, progress, meta), "computed"
    if texts is None:
        from ..paths import cache_dir

        result[0].save(cache_dir("dashboards") / f"{fingerprint(sae)}-{result[0].meta['tokens']}.npz")
    _LOADED[sae] = result
    _fill_stats(sae, result[0])
    return result


def _fill_stats(sae, d: Dashboards) -> None:
    """An SAE without statistics gets them from its dashboards (heatmap colours and steering units use them)."""
    if getattr(sae, "stats", None):
        return
    sae.stats = {k: torch.from_numpy(d.arrays[k].astype(np.float32)) for k in ("max_activation", "frequency",
                                                                               "mean_activation")}


def feature_dashboard(lab, feature: int, tokens: int | None = None, texts: Iterable[str] | None = None,
                      progress: bool = True) -> FeatureDashboard:
    """One feature's dashboard (``lab.dashboard(feature)``)."""
    feature = check_feature(feature, lab._need_sae().d_sae)
    d, source = dashboards(lab, tokens, texts, progress)
    return view_of(lab, d).dashboard(lab, feature, source)


_VIEWS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # sae -> FeatureView (caches token texts)


def view_of(lab, d: Dashboards) -> FeatureView:
    view = _VIEWS.get(lab.sae)
    if view is None or view.d is not d or view.tokenizer is not lab.tokenizer:
        view = FeatureView(d, lab.tokenizer)
        _VIEWS[lab.sae] = view
    return view


def main(argv: list[str] | None = None) -> None:
    """Build the shipped dashboards of the default SAE (``python -m saewidgets.analysis.dashboards``)."""
    import argparse

    from .. import lab as lab_module

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--tokens", type=int, default=1_000_000, help="tokens of the corpus's training split")
    ap.add_argument("--minutes", type=float, default=None, help="stop earlier, after this much compute")
    ap.add_argument("--out", type=Path, default=None, help=f"default: {shipped_path()}")
    args = ap.parse_args(argv)
    lab = lab_module.load()
    config = DashboardConfig()
    windows = corpus_windows(lab.tokenizer, "train", config.seq_len)
    d = compute(lab.model, lab.hook, lab.sae, windows, args.tokens, config, meta={"texts": "corpus:train"},
                max_seconds=None if args.minutes is None else 60 * args.minutes)
    path = d.save(args.out or shipped_path())
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB, {d.meta['tokens']:,} tokens in {d.meta['seconds']} s")


if __name__ == "__main__":
    main()
