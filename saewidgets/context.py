"""A model, its tokenizer and an SAE on one hook point: what the analysis and the views work from.

``Context`` tokenizes and encodes text into per-token SAE features, runs the model up to the hook, and
holds the SAE's feature store. The public ``Lab`` (``lab.py``) is a Context with the user-facing
methods on top; analysis and widget modules take any Context and never import ``lab.py``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Mapping

import pandas as pd
import torch

from . import steering as steering_mod
from .activations import sink_mask
from .checks import check_feature, check_k
from .hooks import HookPoint, decoder_layers, run_to
from .sae import SAE
from .store import FeatureStore, store_of
from .tokens import display_token


@dataclass
class FeatureActivations:
    """SAE features of every token of a text. ``values[t, f]`` is feature f's activation on token t."""

    text: str
    tokens: list[str]            # display strings, whitespace visible
    token_ids: list[int]
    values: torch.Tensor         # [T, d_sae] float32; zero at attention-sink positions
    sink: torch.Tensor           # [T] bool: attention-sink positions (the first token), left out of analysis
    pieces: list[str] = field(default_factory=list)  # the raw decoded text of each token

    def __len__(self) -> int:
        return len(self.tokens)

    def top(self, k: int = 5) -> pd.DataFrame:
        """The k strongest features of every token: columns token, position, feature, activation."""
        k = min(check_k(k), self.values.shape[1])
        vals, idx = self.values.topk(k, dim=1)
        rows = [
            (self.tokens[t], t, int(f), float(v))
            for t in range(len(self.tokens)) if not self.sink[t]
            for v, f in zip(vals[t].tolist(), idx[t].tolist()) if v > 0
        ]
        return pd.DataFrame(rows, columns=["token", "position", "feature", "activation"])

    def feature(self, feature: int) -> pd.DataFrame:
        """One feature's activation on every token."""
        feature = check_feature(feature, self.values.shape[1])
        return pd.DataFrame({"token": self.tokens, "position": range(len(self.tokens)),
                             "activation": self.values[:, feature].tolist()})

    def __repr__(self) -> str:
        active = (self.values > 0).sum(1)[~self.sink].float()
        l0 = f"{active.mean().item():.1f}" if len(active) else "0"
        return f"FeatureActivations({len(self.tokens)} tokens, {self.values.shape[1]} features, mean L0 {l0})"


NO_SAE = "this Lab has no SAE: pass sae=... to sw.load(), or train one with sw.train_sae(lab, texts)."


class Context:
    """A model, tokenizer and SAE hooked at one residual-stream point."""

    def __init__(self, model, tokenizer, sae: SAE | None, hook: HookPoint, model_name: str):
        self.model, self.tokenizer, self.sae, self.hook, self.model_name = model, tokenizer, sae, hook, model_name
        self.n_layers = len(decoder_layers(model))
        self.device = next(model.parameters()).device
        self.context_length = getattr(model.config, "max_position_embeddings", None) or 2048

    @property
    def layer(self) -> int:
        return self.hook.layer

    def need_sae(self) -> SAE:
        if self.sae is None:
            raise ValueError(NO_SAE)
        return self.sae


    @property
    def store(self) -> FeatureStore:
        """Every artefact of this SAE (dashboards, explanations, map, ...): see ``saewidgets.store``."""
        return store_of(self.need_sae())

    @property
    def stats(self) -> dict:
        """The SAE's per-feature statistics ({} when it has none yet)."""
        return (self.store.stats or {}) if self.sae is not None else {}

    # ---- text in, features out

    def tokenize(self, text: str) -> list[int]:
        """Token ids with the BOS token first (it becomes the attention sink); long texts are truncated."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string (got {type(text).__name__}).")
        if not text.strip():
            raise ValueError("empty prompt: pass some text, e.g. lab.encode('The Golden Gate Bridge').")
        ids = self.tokenizer(text, add_special_tokens=False, verbose=False).input_ids
        bos = self.tokenizer.bos_token_id
        if bos is None:
            bos = self.tokenizer.eos_token_id
        if bos is not None and (not ids or ids[0] != bos):
            ids = [bos] + ids
        if len(ids) > self.context_length:
            warnings.warn(f"the text has {len(ids)} tokens, more than the model's context of "
                          f"{self.context_length}; only the first {self.context_length} are used.", stacklevel=3)
            ids = ids[: self.context_length]
        return ids

    def activations(self, text: str) -> tuple[list[int], torch.Tensor]:
        """Token ids and the residual stream ``[T, d_model]`` at the hook point (runs only up to it)."""
        ids = self.tokenize(text)
        acts = run_to(self.model, self.hook, torch.tensor([ids], device=self.device))
        return ids, acts[0]

    @torch.no_grad()
    def encode(self, text: str) -> FeatureActivations:
        """Per-token SAE features of ``text``. The model runs only up to the hook layer."""
        sae = self.need_sae()
        ids, acts = self.activations(text)
        sink = sink_mask(acts[None])[0].cpu()
        values = sae.encode(acts.to(sae.dtype)).float().cpu()
        values[sink] = 0.0
        pieces = self.tokenizer.batch_decode([[i] for i in ids])  # one call into the Rust tokenizer
        return FeatureActivations(text, [display_token(p) for p in pieces], ids, values, sink, pieces)

    def chat_ids(self, prompt: str, chat: bool = True) -> list[int]:
        """The prompt's token ids, wrapped in the model's chat template when it has one and ``chat``."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("empty prompt: pass some text, e.g. lab.generate('Tell me about bridges').")
        if chat and getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                     add_generation_prompt=True, tokenize=True, return_dict=True)
            return list(ids["input_ids"])
        return self.tokenize(prompt)

    def steering(self, steer: Mapping[int, float], method: str = "clamp"):
        """A context manager: inside it every forward of ``model`` is steered."""
        return steering_mod.steering(self.model, self.need_sae(), self.hook, steer, method)
