"""Feature dashboards: the data behind a feature card, for every feature of an SAE.

``dashboard_pass`` computes them in one streaming pass; this module is their file format
(``dashboards.npz``: token ids uint16 when the vocabulary fits, fp16 activations, arrays indexed by
feature, a JSON header with the SAE's fingerprint) and how a Context gets them: through the SAE's
feature store (memory → the SAE's folder → shipped → user cache → computed over ``DEFAULT_TOKENS``
tokens of the corpus, with a progress bar, and cached). ``feature_view`` turns one feature's rows into
DataFrames. ``lab.prepare`` builds them together with every other artefact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from . import npz_store
from .dashboard_pass import FORMAT, DashboardBuilder, DashboardConfig, run_pass
from .feature_view import FeatureDashboard, FeatureView
from .logit_lens import final_norm, logit_lens, logit_lens_frame  # noqa: F401 - re-exported
from ..checks import check_feature
from ..corpus import available_documents, token_windows
from ..paths import DEFAULT_SAE_DIR
from ..store import Kind, store_of

FILE = "dashboards.npz"
DEFAULT_TOKENS = 100_000  # computed on demand: about a minute on two CPU cores
STAT_KEYS = ("max_activation", "frequency", "mean_activation")

__all__ = ["Dashboards", "DashboardBuilder", "DashboardConfig", "FeatureDashboard", "FeatureView", "KIND",
           "compute", "dashboards", "feature_dashboard", "view_of", "corpus_windows", "fingerprint"]


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

KIND = Kind("dashboards", FILE, FORMAT, Dashboards)


def compute(model, hook, sae, windows: Iterable, tokens: int, config: DashboardConfig = DashboardConfig(),
            progress: bool = True, meta: dict | None = None, max_seconds: float | None = None) -> Dashboards:
    """Dashboards of every feature of ``sae`` from token ``windows`` (see ``dashboard_pass.run_pass``)."""
    arrays, info = run_pass(model, hook, sae, windows, tokens, config, progress, meta, max_seconds)
    info["sae"] = fingerprint(sae)
    return Dashboards(arrays, info)


def fingerprint(sae) -> str:
    """The SAE's fingerprint (``saewidgets.store``): which SAE a file was computed from."""
    return store_of(sae).fingerprint


def shipped_path() -> Path:
    return DEFAULT_SAE_DIR / FILE


def corpus_windows(tokenizer, split: str = "train", seq_len: int = 128) -> Iterator[np.ndarray]:
    """Token windows of the corpus at hand (the full built corpus, else the sample shipped in the package)."""
    return token_windows(tokenizer, (doc["text"] for doc in available_documents(split)), seq_len=seq_len)


def stats_of(d: Dashboards) -> dict[str, torch.Tensor]:
    """The per-feature statistics a set of dashboards measured (what ``sae.stats`` holds)."""
    return {k: torch.from_numpy(d.arrays[k].astype(np.float32)) for k in STAT_KEYS}


def dashboards(ctx, tokens: int | None = None, texts: Iterable[str] | None = None, progress: bool = True,
               config: DashboardConfig = DashboardConfig()) -> tuple[Dashboards, str]:
    """The dashboards of ``ctx.sae`` and where they came from (``"shipped"``, ``"folder"``, ``"cache"``, ...).

    Without arguments: from the SAE's store, else computed over ``DEFAULT_TOKENS`` tokens of the corpus
    (a progress bar shows it) and cached. ``tokens``: at least that many tokens (recomputed if what is at
    hand covers fewer). ``texts``: computed from these texts instead of the corpus, and kept in memory only.
    An SAE without statistics gets them from its dashboards.
    """
    sae = ctx.need_sae()
    store = ctx.store
    if texts is None:
        want = tokens or DEFAULT_TOKENS

        def from_corpus() -> Dashboards:
            if progress:
                print(f"saewidgets: no dashboards for this SAE yet; computing them from {want:,} tokens of the "
                      "corpus (once; cached for next time; lab.prepare() builds every artefact at once).", flush=True)
            windows = corpus_windows(ctx.tokenizer, "train", config.seq_len)
            return compute(ctx.model, ctx.hook, sae, windows, want, config, progress, {"texts": "corpus:train"})

        accept = None if tokens is None else (lambda meta: meta.get("tokens", 0) >= tokens)
        d, source = store.get(KIND, from_corpus, accept)
    else:
        windows = token_windows(ctx.tokenizer, texts, seq_len=config.seq_len)
        d, source = compute(ctx.model, ctx.hook, sae, windows, tokens or DEFAULT_TOKENS, config, progress,
                            {"texts": "custom"}), "computed"
        store.put(KIND, d, source)
    store.adopt_stats(stats_of(d))
    return d, source


def dashboards_at_hand(ctx) -> Dashboards | None:
    """The SAE's dashboards if in memory or on disk, without computing any (else None)."""
    found = ctx.store.find(KIND)
    return None if found is None else found[0]


def view_of(ctx, d: Dashboards) -> FeatureView:
    """The SAE's ``FeatureView`` of ``d`` (kept in the store: it remembers token texts)."""
    return ctx.store.derived("feature_view", lambda: FeatureView(d, ctx.tokenizer), id(d), id(ctx.tokenizer))


def feature_dashboard(ctx, feature: int, tokens: int | None = None, texts: Iterable[str] | None = None,
                      progress: bool = True) -> FeatureDashboard:
    """One feature's dashboard (``lab.dashboard(feature)``)."""
    feature = check_feature(feature, ctx.need_sae().d_sae)
    d, source = dashboards(ctx, tokens, texts, progress)
    return view_of(ctx, d).dashboard(ctx, feature, source)
