"""``lab.prepare``: every artefact of an SAE from one streaming pass over a corpus, saved as one folder.

    lab = sw.load(model="gpt2", sae="path/to/saelens-folder")
    lab.prepare("my-texts/*.jsonl", tokens=500_000, out="gpt2-layer8-explorable")
    lab = sw.load(model="gpt2", sae="gpt2-layer8-explorable")     # every view, nothing recomputed

The stages, all under one progress bar (ETA from the work left, counted in tokens):

1. **one pass over the texts**: each window of tokens runs once through the model, up to the hook layer,
   and the SAE; the dashboard state (top and sampled examples, histograms, counts, hence the statistics)
   takes it in, and so do the co-occurrence counts (pairs of features firing in the same 16-token
   segment; vocabulary words within 16 tokens of each firing). The state has a fixed size (``d_sae`` ×
   examples, ``d_sae²`` and ``d_sae`` × words counts: 1.5 GB at 16k features), so memory does not grow
   with the number of tokens. It is checkpointed every ``CHECKPOINT_S`` seconds into ``out/.prepare/``; running
   the same call again resumes from there (the first windows are checked to be the same texts);
2. **explanations**: context words (mutual information between a feature firing and a word being near,
   from 1.), vocabulary words by mutual information (weights only) and top tokens (from 1.), each
   scored by how well it detects the feature's sampled firings, so views show the best one first (or
   "unclear"); and the co-activation neighbours (Jaccard of the segment counts);
3. **the search table**: how strongly each feature fires on each vocabulary word (short probe phrases);
4. **the maps**: UMAP of the co-activation graph and of the decoder directions, clustered and labelled.

The folder holds the SAE in SAELens format with its statistics (``cfg.json``, ``sae_weights.safetensors``,
``feature_stats.safetensors``), the artefacts (``dashboards.npz``, ``explanations.npz``,
``feature_map.npz``, ``coactivation.npz``, each stamped with the SAE's fingerprint) and ``prepare.json`` (what was read, how
long each stage took).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import coactivation as coact_mod
from . import dashboards as dash
from . import explain as explain_mod
from . import feature_map as fmap_mod
from . import search as search_mod
from .cooccurrence import Coactivation, ContextWords, continuation_tokens, token_words
from .dashboard_pass import DashboardBuilder, DashboardConfig, run_pass
from .. import distributed, text_sources
from ..corpus import available_documents, token_windows
from ..store import same_folder

DEFAULT_TOKENS = 200_000   # about 3-4 minutes on two CPU cores for SmolLM2-135M at layer 15
CHECKPOINT_S = 120.0       # the state is about 1.5 GB at 16k features: a few seconds to write
CONTEXT_RADIUS = 16
MAX_COACTIVATION_FEATURES = 32_768
CHECKPOINT_DIR = ".prepare"
PROBE_TOKENS_PER_WORD = 18  # two probe phrases of about nine tokens: the search table's work, in tokens
MAP_TOKENS_PER_FEATURE = 4  # UMAP's work for one feature, in tokens of the pass (measured on 2 cores)
QUALITY_TOKENS_PER_FEATURE = 3  # scoring one feature's explanations, in tokens of the pass
SUMMARY = "prepare.json"


@dataclass
class Prepared:
    """What ``lab.prepare`` made: the folder, what it read and how long each stage took."""

    folder: Path
    tokens: int
    source: str
    seconds: dict = field(default_factory=dict)
    resumed_from: int = 0   # tokens already done by an interrupted run

    @property
    def tokens_per_second(self) -> float:
        return (self.tokens - self.resumed_from) / max(self.seconds.get("pass", 0.0), 1e-9)

    def __repr__(self) -> str:
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items())
        return (f"Prepared({self.folder}: {self.tokens:,} tokens of {self.source}, "
                f"{self.tokens_per_second:,.0f} tokens/s; {stages})")


def prepare(ctx, texts=None, tokens: int = DEFAULT_TOKENS, out=None, *, text_column: str = "text",
            map_layout: str = "umap", progress: bool = True, resume: bool = True, max_seconds: float | None = None,
            config: DashboardConfig = DashboardConfig(), coactivation: bool | None = None,
            context_words: bool = True) -> Prepared:
    """Build every artefact of ``ctx.sae`` (see the module docstring) and save them in ``out``.

    ``out=None``: the SAE's own folder when it has one (a folder it was loaded from), else its user-cache
    folder. ``map_layout``: "umap" (default) or "pca" (instant; no map file is written). ``max_seconds``:
    end the pass early after this long (the other stages still run). ``coactivation`` /
    ``context_words``: gather the co-occurrence counts (``d_sae²`` and ``d_sae × 8000`` int32);
    ``coactivation=None`` gathers pair counts up to ``MAX_COACTIVATION_FEATURES`` features (4 GB) and
    says so when it skips them.
    """
    sae = ctx.need_sae()
    progress = progress and distributed.is_main()  # under torchrun: one progress bar, rank 0's
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < config.seq_len:
        raise ValueError(f"tokens must be a whole number of at least {config.seq_len} (got {tokens!r}).")
    if map_layout not in ("umap", "pca"):
        raise ValueError(f"map_layout must be 'umap' or 'pca' (got {map_layout!r}).")
    if coactivation is None:
        coactivation = sae.d_sae <= MAX_COACTIVATION_FEATURES
        if not coactivation and progress:
            print(f"saewidgets: {sae.d_sae:,} features are too many for co-activation pair counts "
                  f"({sae.d_sae ** 2 * 4 / 2**30:.0f} GB); neighbours and the map use decoder directions. "
                  "coactivation=True forces them.", flush=True)
    store = ctx.store
    folder = Path(out).expanduser() if out is not None else (store.folder or store.cache_folder())
    folder.mkdir(parents=True, exist_ok=True)
    if texts is None:
        source, stream = "corpus at hand", (doc["text"] for doc in available_documents("train"))
    else:
        source, stream = text_sources.open_texts(texts, text_column)
    windows = token_windows(ctx.tokenizer, stream, seq_len=config.seq_len)

    n_words = explain_mod.N_WORDS
    words = explain_mod.vocabulary(n_words)
    probe_units = n_words * PROBE_TOKENS_PER_WORD
    map_units = sae.d_sae * MAP_TOKENS_PER_FEATURE if map_layout == "umap" else 0
    quality_units = sae.d_sae * QUALITY_TOKENS_PER_FEATURE
    bar = tqdm(total=tokens + probe_units + map_units + quality_units, unit="tok", unit_scale=True,
               desc="prepare: dashboards", disable=not progress)
    seconds: dict[str, float] = {}
    try:
        # 1. one pass over the texts
        started = time.perf_counter()
        checkpoint = _Checkpoint(folder / CHECKPOINT_DIR, key={"sae": store.fingerprint, "tokens": tokens,
                                                               "source": source, "config": asdict(config),
                                                               "hook": ctx.hook.name,
                                                               "coactivation": coactivation,
                                                               "context_words": context_words},
                                 rank=distributed.rank(), world_size=distributed.world_size())
        builder = counting_builder(ctx, words, config, coactivation, context_words)
        windows, skip = checkpoint.restore(builder, windows, resume)
        arrays, meta = run_pass(ctx.model, ctx.hook, sae, windows, tokens, config, progress, {"texts": source},
                                max_seconds, builder=builder, skip_windows=skip, on_batch=checkpoint.maybe_save,
                                bar=bar)
        if not distributed.is_main():
            # Under torchrun the pass's state is merged into every rank (run_pass); the rest is rank 0's alone.
            checkpoint.clear()
            return Prepared(folder, int(meta["tokens"]), source, {"pass": round(time.perf_counter() - started, 1)},
                            resumed_from=skip * config.seq_len)
        d = dash.Dashboards(arrays, meta)
        store.put(dash.KIND, d, "folder", save_to=folder)
        store.adopt_stats(dash.stats_of(d))
        seconds["pass"] = time.perf_counter() - started
        seconds["checkpoints"] = checkpoint.seconds  # part of the pass

        # 2. explanations, 3. the search table
        started = time.perf_counter()
        bar.set_description("prepare: explanations")
        ex = explain_mod.compute(ctx, n_words, progress=False, tokens=True)
        if builder.context is not None:
            explain_mod.add_context(ex, builder.context)
        explain_mod.add_quality(ex, d.arrays, ctx.tokenizer, progress=lambda n: bar.update(n * QUALITY_TOKENS_PER_FEATURE))
        if builder.coactivation is not None:
            store.put(coact_mod.KIND, coact_mod.from_counts(ctx, builder.coactivation, int(meta["tokens"])), "folder",
                      save_to=folder)
        builder = None  # the counts are 1.5 GB: let them go before the search table and the map
        seconds["explanations"] = time.perf_counter() - started
        started = time.perf_counter()
        bar.set_description("prepare: search table")
        ex.arrays.update(search_mod.probe_table(ctx, ex.words, progress=False,
                                                on_chunk=lambda n: bar.update(n * PROBE_TOKENS_PER_WORD)))
        store.put(explain_mod.KIND, ex, "folder", save_to=folder)
        seconds["search_table"] = time.perf_counter() - started

        # 4. the map
        if map_layout == "umap":
            started = time.perf_counter()
            bar.set_description("prepare: map (UMAP)")
            for by in fmap_mod.BY if coactivation else ("decoder",):
                layout = fmap_mod.compute(ctx, "umap", progress=False, ex=ex, by=by)
                store.put(fmap_mod.KINDS[by], layout, "folder", save_to=folder)
                bar.update(map_units // (2 if coactivation else 1))
            seconds["map"] = time.perf_counter() - started
        bar.set_description("prepare: done")
    finally:
        bar.close()

    if not same_folder(folder, store.folder):  # the SAE's own folder already has its weights
        sae.save(folder)
    store.folder = folder
    checkpoint.clear()
    result = Prepared(folder, int(meta["tokens"]), source, {k: round(v, 1) for k, v in seconds.items()},
                      resumed_from=skip * config.seq_len)
    (folder / SUMMARY).write_text(json.dumps({
        "tokens": result.tokens, "source": source, "seconds": result.seconds, "resumed_from": result.resumed_from,
        "tokens_per_second": round(result.tokens_per_second, 1), "model": ctx.model_name, "hook": ctx.hook.name,
        "sae": store.fingerprint}, indent=2))
    return result


def counting_builder(ctx, words: list[str], config: DashboardConfig = DashboardConfig(), coactivation: bool = True,
                     context_words: bool = True) -> DashboardBuilder:
    """The pass's state: dashboards, plus co-activation pairs and context words over ``words`` when asked."""
    sae = ctx.need_sae()
    return DashboardBuilder(
        sae.d_sae, config, sae.device,
        coactivation=Coactivation(sae.d_sae, coact_mod.SEGMENT, sae.device) if coactivation else None,
        context=ContextWords(sae.d_sae, token_words(ctx.tokenizer, words), len(words), CONTEXT_RADIUS,
                             sae.device, continuation_tokens(ctx.tokenizer)) if context_words else None)


class _Checkpoint:
    """The pass's state on disk: saved every ``CHECKPOINT_S`` seconds, restored when the same call runs again."""

    def __init__(self, folder: Path, key: dict, rank: int = 0, world_size: int = 1):
        self.folder, self.key = folder, key
        # under torchrun each rank keeps its own shard's state (and resumes it): the ranks' files together
        # are the pass's state, and the key records how many ranks there were
        if world_size > 1:
            self.key = {**key, "world_size": world_size}
            self.path = folder / f"dashboards-state.rank{rank}-of-{world_size}.pt"
        else:
            self.path = folder / "dashboards-state.pt"
        self.last = time.perf_counter()
        self.digest = None   # of the first windows: a resumed run must read the same texts
        self.seconds = 0.0   # spent writing checkpoints

    def restore(self, builder: DashboardBuilder, windows, resume: bool):
        """``(windows, windows_done)``: the stream to read (the first windows checked) and where to resume."""
        windows = iter(windows)
        head = [next(windows, None) for _ in range(4)]
        head = [w for w in head if w is not None]
        self.digest = hashlib.sha256(b"".join(w.tobytes() for w in head)).hexdigest()[:16]
        stream = itertools.chain(head, windows)
        if not resume or not self.path.is_file():
            return stream, 0
        state = torch.load(self.path, weights_only=False)
        if state.get("key") != self.key or state.get("digest") != self.digest:
            if distributed.is_main():
                print("saewidgets: the checkpoint in", self.folder, "is from another prepare call; starting afresh.")
            return stream, 0
        builder.load_state_dict(state["builder"])
        print(f"saewidgets: resuming prepare after {state['windows']:,} windows "
              f"({builder.tokens:,} tokens{'' if distributed.world_size() == 1 else ' of this rank'}) "
              f"from {self.path}.", flush=True)
        return stream, int(state["windows"])

    def maybe_save(self, builder: DashboardBuilder, windows_done: int) -> None:
        if time.perf_counter() - self.last < CHECKPOINT_S:
            return
        self.save(builder, windows_done)

    def save(self, builder: DashboardBuilder, windows_done: int) -> None:
        started = time.perf_counter()
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save({"key": self.key, "digest": self.digest, "windows": windows_done,
                    "builder": builder.state_dict()}, tmp)
        tmp.replace(self.path)  # a reader never sees half a checkpoint
        self.last = time.perf_counter()
        self.seconds += self.last - started

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
        try:
            if self.folder.is_dir() and not any(self.folder.iterdir()):
                self.folder.rmdir()
        except OSError:  # another rank's checkpoint is still there
            pass

