"""Feature card: one feature's dashboard as a live widget, linked both ways with Python.

    card = lab.feature(123)                                   # or feature_card(lab, 123)
    card.feature = 456                                        # show another; clicking a neighbour sets it
    traitlets.link((heatmap_widget, "feature"), (card, "feature"))   # a click in a heatmap opens its card

Python sends the current feature in one traitlet, ``card``: token texts as strings (never HTML),
activations as fp16 bytes, the histogram as int32 counts. Quantile examples travel only when the view
asks: it sends ``{"type": "quantiles", "id", "feature"}`` and the answer arrives in ``quantiles`` with
the same id, so a late answer for another feature is never shown. The view is
``js/src/views/feature_card.ts``.
"""

from __future__ import annotations

from typing import Any, Callable

import anywidget
import numpy as np
import traitlets as t

from ..analysis import dashboards as dash
from ..analysis.explain import LABELS, METHODS, explanations_or_none
from ..analysis.labels import feature_labels
from ..analysis.logit_lens import logit_lens
from ..analysis.neighbors import neighbor_ids, neighbors
from ..checks import FeatureIndexError, check_feature
from ..deprecation import renamed
from . import codecs
from .bundle import esm
from .heatmap import SPECIAL
from .selection import FeatureSelection

# (lab, feature, view) -> {"kind", "text", "tokens": [{token, value}], "words": vocabulary words}
Explainer = Callable[[Any, int, "dash.FeatureView"], dict]


def top_tokens_explanation(lab, feature: int, view: dash.FeatureView) -> dict:
    """The feature's explanations, the one that detects it best first (``Explanations.best_method``):
    ``method``, ``label``, ``words`` and ``quality`` of that one ("unclear" when none detects), the
    others as ``alternatives``; plus the top tokens with their mean activations, as before."""
    top = view.top_tokens(feature, n=6)
    out = {"kind": "top tokens", "text": ", ".join(top.token),
           "tokens": [{"token": tok, "value": float(v)} for tok, v in zip(top.token, top.mean_activation)],
           "words": [], "method": "tokens", "label": LABELS["tokens"], "quality": None, "unclear": False,
           "alternatives": []}
    table = explanations_or_none(lab)
    if table is None:
        return out
    quality = table.quality(feature)
    # without scores (no lab.prepare yet) the card leads with the top tokens of its own dashboards
    best = table.best_method(feature) if quality else "tokens"
    shown = table.guess(feature) if quality else "tokens"
    words = list(top.token) if shown == "tokens" and not quality else table.entries(feature, shown, lab.tokenizer, 8)
    out.update(method=best, label=LABELS[best], kind=LABELS[best], unclear=best == "unclear",
               words=words, quality=quality.get(shown))
    out["text"] = ", ".join(out["words"])
    out["alternatives"] = [{"method": m, "label": LABELS[m], "words": table.entries(feature, m, lab.tokenizer, 8),
                            "quality": quality.get(m)}
                           for m in METHODS if m != shown and table.entries(feature, m, lab.tokenizer, 1)]
    return out


class FeatureCard(FeatureSelection, anywidget.AnyWidget):
    """A feature's dashboard. Build it with ``lab.feature(f)``; ``feature`` may be linked to other widgets."""

    card = t.Dict().tag(sync=True)        # the shown feature's data (see _card); {} when feature is None
    quantiles = t.Dict().tag(sync=True)   # the answer to the latest request: {"id", "feature", "intervals"}

    def __init__(self, lab, feature: int | None = None, *, neighbors: int = 8, explain: Explainer | None = None,
                 **kwargs):
        neighbors = renamed(kwargs, "neighbours", "neighbors", neighbors, 8)
        self._esm = esm("feature_card")  # read before traitlets start, so AnyWidget syncs it
        self._lab, self._n_neighbors = lab, neighbors
        self._explain = explain or top_tokens_explanation
        d_sae = lab.need_sae().d_sae
        if feature is not None:
            feature = check_feature(feature, d_sae)
        super().__init__(d_sae=d_sae, feature=feature, card=self._card(feature), **kwargs)
        self.on_msg(self._on_request)

    # ---- the selected feature

    @t.observe("feature")
    def _show(self, change):
        with self.hold_sync():
            self.error = ""
            self.card = self._card(change["new"])
            self.quantiles = {}

    def dashboard(self) -> dash.FeatureDashboard | None:
        """The shown feature's data as DataFrames (what ``lab.dashboard(card.feature)`` returns)."""
        return None if self.feature is None else self._lab.dashboard(self.feature)

    # ---- what the view gets

    def _view(self) -> tuple[dash.FeatureView, str]:
        d, source = dash.dashboards(self._lab)
        return dash.view_of(self._lab, d), source

    def _card(self, feature: int | None) -> dict[str, Any]:
        if feature is None:
            return {}
        lab = self._lab
        view, source = self._view()
        a, meta = view.d.arrays, view.d.meta
        stats = lab.stats
        # colours mean the same as in the heatmap: activation ÷ the SAE's max activation for the feature
        scale = float(stats["max_activation"][feature]) if "max_activation" in stats else float(a["max_activation"][feature])
        hist = view.histogram(feature)
        top_v, top_i, bottom_v, bottom_i = logit_lens(lab.model, lab.sae.W_dec[feature][None].detach())
        ids, cos = neighbors(lab.sae, feature, self._n_neighbors)
        return {
            "feature": feature,
            "stats": {"max": float(a["max_activation"][feature]), "frequency": float(a["frequency"][feature]),
                      "mean": float(a["mean_activation"][feature]), "scale": scale or 1.0,
                      "tokens": int(meta["tokens"]), "source": source, "texts": meta.get("texts", "")},
            "explanation": self._explain(lab, feature, view),
            "histogram": {"counts": codecs.encode(hist["count"].to_numpy(), "int32"),
                          "hi": float(hist["hi"].iloc[-1]) if len(hist) else 0.0},
            "logits": {"positive": self._tokens(top_i[0], top_v[0]), "negative": self._tokens(bottom_i[0], bottom_v[0])},
            "neighbors": [{"feature": int(g), "cosine": float(c), "explanation": label}
                          for g, c, label in zip(ids, cos, feature_labels(lab, ids))],
            **self._neighbor_lists(feature, ids, cos),
            "examples": self._examples(view, "top", feature, np.nonzero(a["top_value"][feature] > 0)[0]),
        }

    def _neighbor_lists(self, feature: int, decoder_ids, decoder_cos) -> dict[str, Any]:
        """Both neighbour lists (decoder cosine; co-activation when ``lab.prepare`` gathered it), and which
        one the card shows first."""
        lab = self._lab
        freq = lab.stats.get("frequency")

        def rows(ids, sims):
            return [{"feature": int(g), "similarity": float(c), "explanation": label,
                     "density": float(freq[g]) if freq is not None else None}
                    for g, c, label in zip(ids, sims, feature_labels(lab, ids))]

        lists = {"decoder": rows(decoder_ids, decoder_cos)}
        ids, sims, by = neighbor_ids(lab, feature, self._n_neighbors, "auto")
        if by == "coactivation":
            lists["coactivation"] = rows(ids, sims)
        return {"neighbors_by": lists, "neighbors_default": by}

    def _tokens(self, ids, values) -> list[dict]:
        return [{"token": self._lab.tokenizer.decode([int(i)]), "value": float(v)} for i, v in zip(ids, values)]

    def _examples(self, view: dash.FeatureView, prefix: str, feature: int, idx: np.ndarray) -> dict[str, Any]:
        a = view.d.arrays
        tokens = a[f"{prefix}_tokens"][feature][idx]
        special = np.isin(tokens, list(getattr(self._lab.tokenizer, "all_special_ids", []) or []))
        return {
            "tokens": [view.pieces(row) for row in tokens],
            "flags": codecs.encode(special.astype(np.uint8) * SPECIAL, "uint8"),
            "acts": codecs.encode(a[f"{prefix}_acts"][feature][idx], "float16"),
            "center": codecs.encode(a[f"{prefix}_center"][feature][idx], "int32"),
            "value": codecs.encode(a[f"{prefix}_value"][feature][idx], "float32"),
        }

    # ---- requests from the view

    def _on_request(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "quantiles":
            return
        request = content.get("id")
        try:
            feature = check_feature(content.get("feature"), self.d_sae)
        except FeatureIndexError as err:
            self.quantiles = {"id": request, "feature": content.get("feature"), "intervals": [], "error": str(err)}
            return
        view, _ = self._view()
        intervals = [{"label": f"{lo:.0%}–{hi:.0%}", "examples": self._examples(view, "sample", feature, idx[::-1])}
                     for lo, hi, idx in view.quantile_groups(feature)]
        self.quantiles = {"id": request, "feature": feature, "intervals": intervals}


def feature_card(lab, feature: int | None = None, *, neighbors: int = 8, explain: Explainer | None = None,
                 **kwargs) -> FeatureCard:
    """A feature card for ``feature`` of ``lab.sae`` (dashboards computed on first use when not shipped)."""
    neighbors = renamed(kwargs, "neighbours", "neighbors", neighbors, 8)
    return FeatureCard(lab, feature, neighbors=neighbors, explain=explain, **kwargs)
