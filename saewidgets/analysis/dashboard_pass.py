"""The streaming pass behind feature dashboards: every feature's examples, histogram and counts in one pass.

A corpus streams through the model (only up to the hook layer) and the SAE, batch by batch. For every
feature we keep, in tensors whose size never depends on how many tokens have gone by:

- the top 20 activating examples, at most one per token window, each with a 24-token context
  (token ids + the feature's fp16 activation on each token): a streaming top-k merge;
- a uniform random sample of 20 firings (keys drawn at random, the 20 largest kept: a mergeable
  reservoir). Sorted by activation it yields examples from each of 10 activation quantile intervals;
- a 64-bin activation histogram whose range doubles when a larger value arrives (adjacent bins merge,
  so counts stay exact without knowing the maximum in advance);
- how often the feature fires and the sum of its activations (density, mean when firing);
- optionally, what fires together (``cooccurrence``): pairs of features in the same segments, and the
  vocabulary words near each feature's firings (for co-activation neighbours and context explanations).

The whole state has a ``state_dict``, so a long pass (``lab.prepare``) can be checkpointed and resumed.
The finished arrays are a ``dashboards.Dashboards``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from .cooccurrence import Coactivation, ContextWords
from .. import distributed
from ..activations import sink_mask
from ..hooks import run_to

FORMAT = 1  # of the finished arrays (``Dashboards``)

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
        # the corpus-wide index of each example's window (-1 = empty): equal scores rank the earlier window
        # first, so examples kept by several processes merge into exactly what one process keeps
        self.window = torch.full((d_sae, k), -1, dtype=torch.int64, device=device)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.score, self.value, self.tokens, self.acts, self.center))

    _STATE = ("score", "value", "tokens", "acts", "center", "window")

    def state_dict(self) -> dict:
        return {name: getattr(self, name).cpu() for name in self._STATE}

    def load_state_dict(self, state: dict) -> None:
        for name in self._STATE:
            if name in state:  # checkpoints from before "window" lack it
                getattr(self, name).copy_(state[name])

    @torch.no_grad()
    def merge(self, others: list["ExampleStore"]) -> None:
        """Keep, per feature, the ``k`` best of this store's and ``others``' examples (in place).

        Best = highest score, then earliest window: the order one store fed the same windows in order keeps,
        so stores that each saw a shard of the windows merge into the same tensors as one that saw them all.
        """
        stores = [self, *others]
        cat = {name: torch.cat([getattr(s, name) for s in stores], 1) for name in self._STATE}
        empty = ~torch.isfinite(cat["score"])
        window = cat["window"].masked_fill(empty, torch.iinfo(torch.int64).max)
        order = torch.argsort(window, dim=1, stable=True)
        order = order.gather(1, torch.argsort(cat["score"].gather(1, order), dim=1, descending=True, stable=True))
        order = order[:, :self.k]
        for name in self._STATE:
            t = cat[name]
            index = order if t.dim() == 2 else order[..., None].expand(-1, -1, t.shape[2])
            getattr(self, name).copy_(t.gather(1, index))

    def offer(self, batch: Batch, feature, score, value, window, position, one_per_window: bool = False,
              first_window: int = 0) -> None:
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
        # merge with the kept ones; slots 0..k-1 are old entries, k..2k-1 candidates. A stable sort (not
        # topk) so that on equal scores the old entry (an earlier window) stays first and empty slots stay empty.
        best, slot = torch.cat([self.score[rows], cand_score], 1).sort(dim=1, descending=True, stable=True)
        best, slot = best[:, :self.k], slot[:, :self.k]
        old = slot.clamp(max=self.k - 1)
        value_rows = self.value[rows].gather(1, old)
        center_rows = self.center[rows].gather(1, old)
        window_rows = self.window[rows].gather(1, old)
        wide = old[..., None].expand(-1, -1, self.width)
        token_rows = self.tokens[rows].gather(1, wide)
        act_rows = self.acts[rows].gather(1, wide)
        r, s = (slot >= self.k).nonzero(as_tuple=True)
        c = cand_id[r, slot[r, s] - self.k]
        tokens, acts, center = self._context(batch, feature[c], window[c], position[c])
        value_rows[r, s] = value[c]
        window_rows[r, s] = window[c] + first_window
        token_rows[r, s], act_rows[r, s], center_rows[r, s] = tokens, acts, center
        self.score[rows], self.value[rows], self.center[rows] = best, value_rows, center_rows
        self.window[rows] = window_rows
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

    def __init__(self, d_sae: int, config: DashboardConfig = DashboardConfig(), device="cpu",
                 coactivation: Coactivation | None = None, context: ContextWords | None = None):
        self.d_sae, self.config = d_sae, config
        self.coactivation, self.context = coactivation, context
        width = min(config.top_width, config.seq_len)
        self.top = ExampleStore(d_sae, config.n_top, width, device)
        self.sample = ExampleStore(d_sae, config.n_samples, min(config.sample_width, config.seq_len), device)
        self.histogram = Histogram(d_sae, config.n_bins, device)
        self.fired = torch.zeros(d_sae, dtype=torch.int64, device=device)
        self.total = torch.zeros(d_sae, dtype=torch.float64, device=device)
        self.tokens = 0       # positions analysed (attention sinks left out)
        self.positions = 0    # positions read, sinks included
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self.batches = 0      # batches taken in; with ``windows``, where the next batch sits in the corpus
        self.windows = 0

    def state_dict(self) -> dict:
        """Everything needed to resume the pass (``load_state_dict``), on the CPU."""
        return {"top": self.top.state_dict(), "sample": self.sample.state_dict(),
                "hist_counts": self.histogram.counts.cpu(), "hist_top": self.histogram.top.cpu(),
                "fired": self.fired.cpu(), "total": self.total.cpu(), "tokens": self.tokens,
                "positions": self.positions, "generator": self.generator.get_state(), "config": asdict(self.config),
                "batches": self.batches, "windows": self.windows,
                "coactivation": self.coactivation.state_dict() if self.coactivation else None,
                "context": self.context.state_dict() if self.context else None}

    def load_state_dict(self, state: dict) -> None:
        if state["config"] != asdict(self.config):
            raise ValueError("the checkpoint was made with other dashboard settings; delete it to start afresh.")
        self.top.load_state_dict(state["top"])
        self.sample.load_state_dict(state["sample"])
        self.histogram.counts.copy_(state["hist_counts"])
        self.histogram.top.copy_(state["hist_top"])
        self.fired.copy_(state["fired"])
        self.total.copy_(state["total"])
        self.tokens, self.positions = int(state["tokens"]), int(state["positions"])
        self.generator.set_state(state["generator"])
        self.batches, self.windows = int(state.get("batches", 0)), int(state.get("windows", 0))
        for name in ("coactivation", "context"):
            counts, saved = getattr(self, name), state.get(name)
            if (counts is None) != (saved is None):
                raise ValueError(f"the checkpoint was made {'without' if saved is None else 'with'} {name} counts; "
                                 "delete it to start afresh.")
            if counts is not None:
                counts.load_state_dict(saved)

    def nbytes(self) -> int:
        """Memory held by the state: fixed by d_sae and the config, independent of the corpus."""
        extra = sum(t.numel() * t.element_size() for t in (self.histogram.counts, self.histogram.top, self.fired, self.total))
        counts = sum(c.nbytes() for c in (self.coactivation, self.context) if c is not None)
        return self.top.nbytes() + self.sample.nbytes() + extra + counts

    @torch.no_grad()
    def update(self, batch: Batch, sink: torch.Tensor, batch_index: int | None = None,
               first_window: int | None = None) -> None:
        """Add one batch: ``sink`` [B, S] marks attention-sink positions, which are left out.

        ``batch_index`` / ``first_window``: where the batch sits in the corpus (default: right after the
        batches already added). The sample's random keys are drawn from a generator seeded by the batch's
        index, and equal scores rank the earlier window first, so the result depends only on what each
        batch holds, not on which process took it in or in what order (``merge``).
        """
        batch_index = self.batches if batch_index is None else batch_index
        first_window = self.windows if first_window is None else first_window
        self.batches, self.windows = batch_index + 1, first_window + batch.ids.shape[0]
        firing = (batch.values > 0) & ~sink[..., None]
        window, position, j = firing.nonzero(as_tuple=True)
        feature = batch.indices[window, position, j].long()
        value = batch.values[window, position, j].float()
        self.positions += sink.numel()
        self.tokens += int((~sink).sum())
        self.fired.index_add_(0, feature, torch.ones_like(feature))
        self.total.index_add_(0, feature, value.double())
        self.histogram.add(feature, value)
        self.top.offer(batch, feature, value, value, window, position, one_per_window=True,
                       first_window=first_window)
        keys = torch.rand(len(feature), generator=self._batch_generator(batch_index), device=feature.device)
        self.sample.offer(batch, feature, keys, value, window, position, first_window=first_window)
        if self.coactivation is not None or self.context is not None:
            active = batch.values > 0
            if self.coactivation is not None:
                self.coactivation.update(batch.indices, active, ~sink)
            if self.context is not None:
                self.context.update(batch.ids, batch.indices, active, ~sink)

    def _batch_generator(self, batch_index: int) -> torch.Generator:
        seed = int(np.random.SeedSequence([self.config.seed, batch_index]).generate_state(1, np.uint64)[0] >> 1)
        return self.generator.manual_seed(seed)

    @torch.no_grad()
    def merge_ranks(self) -> None:
        """Under ``torchrun``: combine every rank's state so that each holds what one process reading all the
        batches would (counts and histograms summed, examples merged by score then window). No-op alone."""
        if not distributed.active():
            return
        hist = self.histogram
        top = distributed.all_reduce_(hist.top.clone(), "max")      # powers of two: bring every rank to it
        grow = (top > hist.top) & (hist.top > 0)
        factor = torch.where(grow, torch.log2(top / hist.top.clamp(min=1e-30)).round(), 0).long()
        for d in factor.unique().tolist():
            if d > 0:
                rows = (factor == d).nonzero(as_tuple=True)[0]
                hist.counts[rows] = _merge_bins(hist.counts[rows], 2 ** d)
        hist.top.copy_(top)
        for t in (hist.counts, self.fired, self.total):
            distributed.all_reduce_(t)
        self.tokens = distributed.all_reduce_number(self.tokens)
        self.positions = distributed.all_reduce_number(self.positions)
        self.batches = distributed.all_reduce_number(self.batches, "max")
        self.windows = distributed.all_reduce_number(self.windows, "max")
        for store in (self.top, self.sample):
            _merge_stores(store)
        for counts in (self.coactivation, self.context):
            if counts is not None:
                counts.merge_ranks()

    def finish(self, meta: dict | None = None) -> tuple[dict[str, np.ndarray], dict]:
        """The finished arrays (numpy, indexed by feature) and their header."""
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
        return arrays, meta


def _merge_stores(store: ExampleStore) -> None:
    """Every rank's examples merged into each rank's ``store``, a block of features at a time (bounded memory)."""
    d_sae = store.score.shape[0]
    row_bytes = store.k * (4 + 4 + 1 + 8 + store.width * 6)
    step = max(1, distributed.CHUNK_BYTES // (row_bytes * distributed.world_size()))
    for lo in range(0, d_sae, step):
        gathered = {name: distributed.all_gather(getattr(store, name)[lo:lo + step]) for name in ExampleStore._STATE}
        ranks = []
        for r in range(distributed.world_size()):  # in rank order: the same merge on every rank
            part = ExampleStore(0, store.k, store.width, store.score.device)
            for name in ExampleStore._STATE:
                setattr(part, name, gathered[name][r])
            ranks.append(part)
        ranks[0].merge(ranks[1:])
        for name in ExampleStore._STATE:
            getattr(store, name)[lo:lo + step] = getattr(ranks[0], name)


def _valid(store: ExampleStore) -> torch.Tensor:
    """Activations of the kept examples, 0 in empty slots."""
    return torch.where(torch.isfinite(store.score), store.value, 0.0)



# ---------------------------------------------------------------------------------------------
# The pass over a corpus


def batches(windows: Iterable, size: int, limit: int, skip: int = 0) -> Iterator[torch.Tensor]:
    """``[size, seq_len]`` batches of the first ``limit`` windows, leaving out the first ``skip``."""
    for _, ids in indexed_batches(windows, size, limit, skip):
        yield ids


def indexed_batches(windows: Iterable, size: int, limit: int, skip: int = 0, shard: tuple[int, int] = (0, 1)
                    ) -> Iterator[tuple[int, torch.Tensor]]:
    """``(batch_index, ids)`` for the batches of ``batches``; with ``shard=(rank, n)`` only those whose index is
    ``rank`` modulo ``n`` (each process of ``n`` takes every n-th batch; all read the same stream). A batch
    is always the same windows, whoever takes it, so its forward pass and attention-sink mask are too."""
    rank, n_shards = shard
    batch, index = [], 0
    for n, window in enumerate(windows):
        if n >= limit:
            break
        if n % size == 0 and n:
            index += 1
        if n < skip or index % n_shards != rank:
            continue
        batch.append(torch.as_tensor(np.asarray(window), dtype=torch.long))
        if len(batch) == size:
            yield index, torch.stack(batch)
            batch = []
    if batch:
        yield index, torch.stack(batch)


@torch.no_grad()
def run_pass(model, hook, sae, windows: Iterable, tokens: int, config: DashboardConfig = DashboardConfig(),
             progress: bool = True, meta: dict | None = None, max_seconds: float | None = None,
             builder: DashboardBuilder | None = None, skip_windows: int = 0,
             on_batch: Callable[[DashboardBuilder, int], None] | None = None,
             bar: tqdm | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Dashboard arrays for every feature of ``sae`` from token ``windows`` (each ``config.seq_len`` ids long).

    Reads ``ceil(tokens / seq_len)`` windows, or stops after the batch that passes ``max_seconds``; the
    model runs only up to ``hook``. To resume: pass the restored ``builder`` and the number of windows
    it has seen (``skip_windows``; they are read but not run). ``on_batch(builder, windows_done)`` runs
    after every batch (checkpoints). ``bar``: a progress bar to advance instead of a new one.
    """
    device = sae.device
    shard = (distributed.rank(), distributed.world_size())
    builder = builder or DashboardBuilder(sae.d_sae, config, device)
    n_windows = max(1, math.ceil(tokens / config.seq_len))
    own_bar = bar is None
    if own_bar:
        bar = tqdm(total=n_windows * config.seq_len, unit="tok", unit_scale=True, desc="feature dashboards",
                   disable=not progress or not distributed.is_main())
    bar.update(skip_windows * config.seq_len)
    started = time.perf_counter()
    done = skip_windows
    W = config.batch_windows
    try:
        for index, ids in indexed_batches(windows, W, n_windows, skip_windows, shard):
            if ids.shape[1] != config.seq_len:
                raise ValueError(f"token windows must be {config.seq_len} long (got {ids.shape[1]}).")
            ids = ids.to(next(model.parameters()).device)
            acts = run_to(model, hook, ids)
            values, indices = sae.encode_sparse(acts.to(sae.dtype))
            batch = Batch(ids.to(device), values.float().to(device), indices.to(device))
            builder.update(batch, sink_mask(acts).to(device), batch_index=index, first_window=index * W)
            done = index * W + len(ids)   # windows read so far, this rank's and the others'
            bar.update(ids.numel() * shard[1])
            if on_batch is not None:
                on_batch(builder, done)
            if max_seconds is not None and time.perf_counter() - started > max_seconds:
                break
    finally:
        if own_bar:
            bar.close()
    if shard[1] > 1:
        builder.merge_ranks()
        done = distributed.all_reduce_number(done, "max")
    if builder.positions == 0:
        raise ValueError("no token windows to analyse: pass longer texts or more of them.")
    info = {"hook_name": hook.name, "seconds": round(time.perf_counter() - started, 1), "windows": done,
            **(meta or {})}
    return builder.finish(info)
