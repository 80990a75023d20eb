"""Token heatmap: which SAE features fire on which tokens, linked both ways with Python.

    w = heatmap(lab, "The Golden Gate Bridge")   # or lab.heatmap(...)
    w.feature = 123                               # recolour by a feature; clicking one in the view sets it

Only the top-k features of each token travel to the browser, plus the selected feature's column when
``feature`` changes, so thousands of tokens stay light (about 50 bytes a token with k=8).
The view is ``js/src/views/heatmap.ts``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Sequence

import anywidget
import numpy as np
import torch
import traitlets as t

from . import codecs
from .bundle import esm
from ..analysis.explain import explanations_or_none
from ..analysis.labels import label_of
from ..checks import check_feature, check_k
from ..context import NO_SAE
from .selection import FeatureSelection

SINK, SPECIAL = 1, 2  # token flags, as in js/src/tokens.ts


@dataclass
class Prompt:
    """One text as the heatmap shows it."""

    pieces: list[str]          # the decoded text of each token
    values: torch.Tensor       # [T, d_sae] activations
    flags: np.ndarray          # uint8 [T]: SINK | SPECIAL
    notice: str = ""           # shown above the text (empty or truncated input)


class Heatmap(FeatureSelection, anywidget.AnyWidget):
    """A token heatmap of one or more prompts. Build it with ``heatmap(lab, text)``."""

    prompts = t.List(t.Dict()).tag(sync=True)        # per prompt: tokens, flags, top_ids, top_values, notice
    feature_values = t.Dict().tag(sync=True)         # {"feature", "columns": the feature's value per token}
    scale = t.Dict().tag(sync=True)                  # the features shown: {"ids", "values" (max act), "density", "source"}
    explanations = t.Dict().tag(sync=True)           # {"feature id": short text} for the features shown

    def __init__(self, prompts: Sequence[Prompt], d_sae: int, *, max_activation: Any = None,
                 explanations: Mapping[int, str] | None = None, feature: int | None = None, k: int = 8,
                 frequency: Any = None, **kwargs):
        k = check_k(k)
        self._esm = esm("heatmap")  # read before traitlets start, so AnyWidget syncs it
        self._max_activation = None if max_activation is None else torch.as_tensor(max_activation).float().cpu()
        # firing density of every feature: the view ranks dense ones (> 10% of tokens) after the rest
        self._frequency = None if frequency is None else torch.as_tensor(frequency).float().cpu()
        self._explanations = explanations or {}  # looked up only for the features shown
        payloads, self._activations, shown = [], [], set()
        for p in prompts:
            ids, top = _top_k(p.values, min(k, d_sae))
            payloads.append(_payload(p, ids, top))
            shown.update(ids[ids >= 0].unique().tolist())
            self._activations.append(_Sparse(p.values))  # keeps memory ∝ active features, not T × d_sae
        self._shown = sorted(shown)  # the features the view lists: their maxima and explanations go along
        if feature is not None:
            feature = check_feature(feature, d_sae)
        super().__init__(prompts=payloads, d_sae=d_sae, feature=feature, **self._feature_state(feature), **kwargs)

    # ---- the selected feature

    @t.observe("feature")
    def _send_feature(self, change):
        with self.hold_sync():  # one message: the view never pairs a feature with another's column
            self.error = ""
            for name, value in self._feature_state(change["new"]).items():
                setattr(self, name, value)

    def _feature_state(self, feature: int | None) -> dict[str, Any]:
        columns = [] if feature is None else [codecs.encode(a.column(feature), "float16") for a in self._activations]
        shown = self._shown if feature is None else sorted({*self._shown, feature})
        return {
            "feature_values": {"feature": feature, "columns": columns},
            "scale": self._scale(shown),
            "explanations": {str(f): str(self._explanations[f]) for f in shown if f in self._explanations},
        }

    def _scale(self, features: list[int]) -> dict[str, Any]:
        """Each shown feature's maximum activation: from the SAE's statistics, else from these texts."""
        ids = torch.tensor(features, dtype=torch.long)
        if self._max_activation is not None:
            values, source = self._max_activation[ids], "stats"
        else:
            values = torch.zeros(len(features))
            for a in self._activations:
                values = torch.maximum(values, a.maxima(ids))
            source = "text"
        out = {"ids": codecs.encode(ids, "int32"), "values": codecs.encode(values, "float32"), "source": source}
        if self._frequency is not None:
            out["density"] = codecs.encode(self._frequency[ids], "float32")
        return out


class _Sparse:
    """The non-zero activations of one prompt, enough to send any feature's column later."""

    def __init__(self, values: torch.Tensor):
        self.length = values.shape[0]
        self.tokens, self.ids = values.nonzero(as_tuple=True)
        self.values = values[self.tokens, self.ids].float()

    def column(self, feature: int) -> torch.Tensor:
        out = torch.zeros(self.length)
        hit = self.ids == feature
        out[self.tokens[hit]] = self.values[hit]
        return out

    def maxima(self, features: torch.Tensor) -> torch.Tensor:
        """The largest activation of each of ``features`` (sorted ids) in this prompt."""
        out = torch.zeros(len(features))
        if len(features) == 0 or len(self.ids) == 0:
            return out
        at = torch.searchsorted(features, self.ids).clamp(max=len(features) - 1)
        hit = features[at] == self.ids
        return out.scatter_reduce(0, at[hit], self.values[hit], "amax")


def _top_k(values: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each token's k strongest features; id -1 where fewer than k fire."""
    top, ids = values.float().topk(k, dim=1)
    return torch.where(top > 0, ids, -1), top.clamp(min=0)


def _payload(prompt: Prompt, ids: torch.Tensor, values: torch.Tensor) -> dict[str, Any]:
    return {
        "tokens": list(prompt.pieces),
        "flags": codecs.encode(prompt.flags, "uint8"),
        "top_ids": codecs.encode(ids, "int32"),
        "top_values": codecs.encode(values, "float16"),
        "notice": prompt.notice,
    }


def encode_prompt(lab, text: str) -> Prompt:
    """Run ``lab`` on one text; an empty text or one longer than the model's context gets a notice."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string or a list of strings (got {type(text).__name__}).")
    d_sae = lab.sae.d_sae
    if not text.strip():
        return Prompt([], torch.zeros(0, d_sae), np.zeros(0, np.uint8),
                      "Empty text: nothing to show. Pass some text, e.g. lab.heatmap(\"The Golden Gate Bridge\").")
    with warnings.catch_warnings():  # the truncation is shown in the view instead
        warnings.filterwarnings("ignore", message=r".*more than the model's context")
        fa = lab.encode(text)
    notice = ""
    full = len(lab.tokenizer(text, add_special_tokens=False, verbose=False).input_ids)
    if len(fa.token_ids) >= lab.context_length and full > len(fa.token_ids) - 1:
        notice = (f"This text has {full} tokens, more than the model's context of {lab.context_length}: "
                  f"only the first {len(fa.token_ids)} are shown.")
    special = set(getattr(lab.tokenizer, "all_special_ids", []) or [])
    flags = np.array([SINK * bool(s) | SPECIAL * (i in special) for s, i in zip(fa.sink.tolist(), fa.token_ids)],
                     dtype=np.uint8)
    return Prompt(fa.pieces or fa.tokens, fa.values, flags, notice)


def heatmap(lab, text: str | Sequence[str], feature: int | None = None, *, k: int = 8,
            explanations: Mapping[int, str] | None = None) -> Heatmap:
    """A token heatmap of ``text`` (or of several texts, stacked).

    ``feature`` colours every token by that feature (else each token by its strongest feature);
    ``k`` features per token appear on hover; ``explanations`` maps feature ids to short descriptions
    (default: each feature's top activating tokens, else its vocabulary words; shipped for the default SAE,
    computed in seconds otherwise).
    Colours are activation ÷ the feature's maximum activation from the SAE's statistics, so they mean
    the same across prompts; without statistics, the maximum within these texts (the view says so).
    Dense features (firing on more than 10% of tokens, from the statistics' ``frequency``) are listed after
    the others with their density, and a token's colour is its strongest feature that is not dense.
    """
    if lab.sae is None:
        raise ValueError(NO_SAE)
    texts = [text] if isinstance(text, str) else text
    if not isinstance(texts, (list, tuple)) or not all(isinstance(s, str) for s in texts):
        raise TypeError(f"text must be a string or a list of strings (got {type(text).__name__}).")
    d_sae = lab.sae.d_sae
    if feature is not None:
        feature = check_feature(feature, d_sae)
    prompts = [encode_prompt(lab, s) for s in texts]
    if explanations is None:
        explanations = vocabulary_explanations(lab)
    stats = lab.stats
    return Heatmap(prompts, d_sae, max_activation=stats.get("max_activation"), explanations=explanations,
                   feature=feature, k=k, frequency=stats.get("frequency"))


class _ExplanationTexts(Mapping):
    """Feature id -> its short label (``analysis.labels``), built on demand for the features a view shows."""

    def __init__(self, table, tokenizer, n: int = 3):
        self._table, self._tokenizer, self._n = table, tokenizer, n

    def __getitem__(self, feature: int) -> str:
        if not 0 <= int(feature) < self._table.d_sae:
            raise KeyError(feature)
        return label_of(self._table, self._tokenizer, int(feature), self._n, tagged=True)

    def __iter__(self):
        return iter(range(self._table.d_sae))

    def __len__(self) -> int:
        return self._table.d_sae


def vocabulary_explanations(lab) -> Mapping[int, str]:
    """Short explanations for hover text; empty if they cannot be had (the view works without)."""
    table = explanations_or_none(lab)
    return {} if table is None else _ExplanationTexts(table, lab.tokenizer)
