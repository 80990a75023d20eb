"""One feature's dashboard as a person reads it: examples as text, quantiles, top tokens, histogram.

``FeatureView`` turns a feature's rows of the ``Dashboards`` arrays into token strings and DataFrames
(it needs the tokenizer, and remembers each token's text). ``top_tokens`` ranks every feature's tokens
by their mean activation in its top examples: the one ranking that the card, the explanations, the
search and the short labels share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from .logit_lens import logit_lens_frame

if TYPE_CHECKING:
    from .dashboards import Dashboards


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
        ids, mean, count = top_tokens(self.d.arrays, n, [f])
        keep = mean[0] > 0
        ids, mean, count = ids[0][keep], mean[0][keep], count[0][keep]
        return pd.DataFrame({"token": self.pieces(ids), "token_id": ids.astype(int),
                             "mean_activation": mean.astype(float), "count": count.astype(int)})

    def histogram(self, f: int) -> pd.DataFrame:
        """The bins up to the feature's maximum (the range above it is empty)."""
        a = self.d.arrays
        counts, top = a["hist_counts"][f].astype(np.int64), float(a["hist_top"][f])
        n = len(counts)
        used = int(np.nonzero(counts)[0].max()) + 1 if counts.any() else 0
        edges = np.arange(n + 1) * (top / n)
        return pd.DataFrame({"lo": edges[:used], "hi": edges[1:used + 1], "count": counts[:used]})

    def dashboard(self, ctx, f: int, source: str) -> FeatureDashboard:
        a = self.d.arrays
        return FeatureDashboard(
            feature=f, max_activation=float(a["max_activation"][f]), frequency=float(a["frequency"][f]),
            mean_activation=float(a["mean_activation"][f]), examples=self.examples(f), quantiles=self.quantiles(f),
            logit_lens=logit_lens_frame(ctx, f), top_tokens=self.top_tokens(f), histogram=self.histogram(f),
            tokens=int(self.d.meta["tokens"]), source=source)




@torch.no_grad()
def top_tokens(arrays: dict[str, np.ndarray], n: int, features=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each feature's ``n`` tokens of highest mean activation over its top examples, ties to the lower id.

    Returns ``(token_ids, mean_activation, count)``, each ``[len(features), n]`` (zeros where a feature
    has fewer tokens). ``features``: the rows to rank (default: all), all at once.
    """
    rows = np.arange(len(arrays["top_value"])) if features is None else np.asarray(features, dtype=np.int64)
    tokens = torch.from_numpy(arrays["top_tokens"][rows].astype(np.int64))
    acts = torch.from_numpy(arrays["top_acts"][rows].astype(np.float32))
    n_f = len(rows)
    ids = np.zeros((n_f, n), dtype=np.int64)
    vals = np.zeros((n_f, n), dtype=np.float32)
    counts = np.zeros((n_f, n), dtype=np.int64)
    valid = (torch.from_numpy(arrays["top_value"][rows]) > 0)[..., None].expand_as(tokens).reshape(-1)
    if not valid.any():
        return ids, vals, counts
    width = int(tokens.max()) + 1
    feature = torch.arange(n_f).repeat_interleave(tokens[0].numel())
    key = (feature * width + tokens.reshape(-1))[valid]
    uniq, inv = torch.unique(key, return_inverse=True)   # sorted by feature, then token id
    count = torch.bincount(inv, minlength=len(uniq))
    mean = torch.zeros(len(uniq)).index_add_(0, inv, acts.reshape(-1)[valid]) / count.float()
    uf, ut = uniq // width, uniq % width
    order = torch.argsort(mean, descending=True, stable=True)
    order = order[torch.argsort(uf[order], stable=True)]
    g = uf[order]
    starts = torch.ones_like(g, dtype=torch.bool)
    starts[1:] = g[1:] != g[:-1]
    pos = torch.arange(len(g))
    rank = pos - torch.where(starts, pos, 0).cummax(0).values
    keep = (rank < n) & (mean[order] > 0)
    o, r, gk = order[keep], rank[keep].numpy(), g[keep].numpy()
    ids[gk, r], vals[gk, r], counts[gk, r] = ut[o].numpy(), mean[o].numpy(), count[o].numpy()
    return ids, vals, counts
