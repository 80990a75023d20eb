"""The ``Lab``: a language model, its tokenizer and an SAE on one hook point, behind the public API."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd
import torch

from . import steering as steering_mod
from .activations import sink_mask
from .hooks import HookPoint, decoder_layers, run_to
from .models import DEFAULT_MODEL, load_model
from .paths import package_data
from .sae import SAE

DEFAULT_SAE_DIR = package_data("default-sae")
_VISIBLE = str.maketrans({" ": "·", "\n": "↵", "\t": "→", "\r": "␍"})


def display_token(text: str) -> str:
    """A token as a readable string with its whitespace visible (space ·, newline ↵, tab →)."""
    return text.translate(_VISIBLE)


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
        if k < 1:
            raise ValueError(f"k must be at least 1 (got {k}).")
        k = min(k, self.values.shape[1])
        vals, idx = self.values.topk(k, dim=1)
        rows = [
            (self.tokens[t], t, int(f), float(v))
            for t in range(len(self.tokens)) if not self.sink[t]
            for v, f in zip(vals[t].tolist(), idx[t].tolist()) if v > 0
        ]
        return pd.DataFrame(rows, columns=["token", "position", "feature", "activation"])

    def feature(self, feature: int) -> pd.DataFrame:
        """One feature's activation on every token."""
        feature = steering_mod.check_feature(feature, self.values.shape[1])
        return pd.DataFrame({"token": self.tokens, "position": range(len(self.tokens)),
                             "activation": self.values[:, feature].tolist()})

    def __repr__(self) -> str:
        active = (self.values > 0).sum(1)[~self.sink].float()
        l0 = f"{active.mean().item():.1f}" if len(active) else "0"
        return f"FeatureActivations({len(self.tokens)} tokens, {self.values.shape[1]} features, mean L0 {l0})"


class Lab:
    """A model, tokenizer and SAE hooked at one residual-stream point. Build one with ``sw.load()``."""

    def __init__(self, model, tokenizer, sae: SAE | None, hook: HookPoint, model_name: str):
        self.model, self.tokenizer, self.sae, self.hook, self.model_name = model, tokenizer, sae, hook, model_name
        self.n_layers = len(decoder_layers(model))
        self.device = next(model.parameters()).device
        self.context_length = getattr(model.config, "max_position_embeddings", None) or 2048

    @property
    def layer(self) -> int:
        return self.hook.layer

    def __repr__(self) -> str:
        sae = f"SAE {self.sae.d_sae} features ({self.sae.cfg.architecture})" if self.sae else "no SAE"
        return f"Lab({self.model_name}, {self.hook.name}, {sae}, {self.device})"

    # ---- reading features

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
        sae = self._need_sae()
        ids, acts = self.activations(text)
        sink = sink_mask(acts[None])[0].cpu()
        values = sae.encode(acts.to(sae.dtype)).float().cpu()
        values[sink] = 0.0
        pieces = self.tokenizer.batch_decode([[i] for i in ids])  # one call into the Rust tokenizer
        return FeatureActivations(text, [display_token(p) for p in pieces], ids, values, sink, pieces)

    def heatmap(self, text, feature=None, *, k: int = 8, explanations=None):
        """A live token heatmap of ``text`` (a string or a list of strings); ``widget.feature`` follows clicks."""
        from .widgets.heatmap import heatmap  # imported here so `import saewidgets` stays light

        return heatmap(self, text, feature, k=k, explanations=explanations)

    def dashboard(self, feature: int, *, tokens: int | None = None, texts=None, progress: bool = True):
        """One feature's dashboard as data: top and quantile examples, histogram, density, logit lens.

        Shipped for the default SAE; for another SAE computed once over ``tokens`` tokens of the corpus (or
        over ``texts``) with a progress bar, then cached. See ``saewidgets.analysis.dashboards``.
        """
        from .analysis.dashboards import feature_dashboard

        return feature_dashboard(self, feature, tokens=tokens, texts=texts, progress=progress)

    def feature(self, feature: int | None = None, **kwargs):
        """A live feature card; link ``card.feature`` to a heatmap's ``feature`` to follow its clicks."""
        from .widgets.feature_card import feature_card

        return feature_card(self, feature, **kwargs)

    # ---- finding features (saewidgets.analysis.explain / search / neighbors / feature_map)

    def explain(self, feature: int):
        """Both explanations of a feature: vocabulary words by mutual information, and its top tokens."""
        from .analysis.explain import explain

        return explain(self, feature)

    def search(self, query: str | None = None, *, text: str | None = None, k: int = 20) -> pd.DataFrame:
        """Features for the words of ``query`` (``lab.search("bridge")``), or most active on ``text=``."""
        from .analysis.search import search

        return search(self, query, text=text, k=k)

    def contrast(self, positive_texts, negative_texts, k: int = 20, by: str = "auroc") -> pd.DataFrame:
        """Features that separate two sets of texts, ranked by AUROC (and difference of mean activation)."""
        from .analysis.search import contrast

        return contrast(self, positive_texts, negative_texts, k=k, by=by)

    def neighbors(self, feature: int, k: int = 10) -> pd.DataFrame:
        """The ``k`` features whose decoder rows are closest in cosine, with their explanations."""
        from .analysis.neighbors import neighbors_frame

        return neighbors_frame(self, feature, k)

    def map(self, **kwargs):
        """A 2-D map of every feature (UMAP of decoder directions); hover, click, search, ``map.show(text)``."""
        from .widgets.feature_map import feature_map

        return feature_map(self, **kwargs)

    def explorer(self, text: str | None = None, *, show_map: bool = True, steer: bool = True):
        """Heatmap, feature card, feature map and steering panel in one, linked by one selected feature."""
        from .widgets.explorer import explorer

        return explorer(self, text, show_map=show_map, steer=steer)

    # ---- generation and steering

    def chat_ids(self, prompt: str, chat: bool = True) -> list[int]:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("empty prompt: pass some text, e.g. lab.generate('Tell me about bridges').")
        if chat and getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                     add_generation_prompt=True, tokenize=True, return_dict=True)
            return list(ids["input_ids"])
        return self.tokenize(prompt)

    def generate(self, prompt: str, steer: Mapping[int, float] | None = None, method: str = "clamp",
                 max_new_tokens: int = 64, temperature: float = 0.0, seed: int | None = None,
                 chat: bool = True) -> str:
        """Generate a reply (greedy when ``temperature`` is 0); ``steer={feature: strength}`` steers it."""
        from .generation import generate_rows

        ids = self.chat_ids(prompt, chat)
        rows = [(steer or None, method)]
        if steer:
            steering_mod.check_steer(steer, method, self._need_sae().d_sae)
        return generate_rows(self, [ids], rows, max_new_tokens=max_new_tokens, temperature=temperature,
                             seed=seed).texts[0]

    def sweep(self, prompt, feature, strengths=(0, 2, 5, 10), method: str = "clamp", max_new_tokens: int = 48,
              temperature: float = 0.0, seed: int | None = None, chat: bool = True,
              baseline: bool = True) -> pd.DataFrame:
        """Generate every strength (and the unsteered baseline) in ONE batched call; one row a generation.

        ``prompt``: a string or a list of strings (every prompt gets every strength). ``feature``: an index,
        or a list of indices steered together with the same strength. Columns: prompt, feature, method,
        strength (NaN for the unsteered baseline), steered, text, tokens.
        """
        from .generation import generate_rows

        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts:
            raise ValueError("sweep needs at least one prompt.")
        d_sae = self._need_sae().d_sae
        features = [feature] if not isinstance(feature, (list, tuple, set)) else list(feature)
        features = [steering_mod.check_feature(f, d_sae) for f in features]
        if not features:
            raise ValueError("sweep needs at least one feature.")
        strengths = list(strengths)
        plan = [None] * bool(baseline) + strengths
        if not plan:
            raise ValueError("sweep needs at least one strength (or baseline=True).")
        rows, prompt_ids, meta = [], [], []
        for p in prompts:
            ids = self.chat_ids(p, chat)
            for s in plan:
                steer = None if s is None else steering_mod.check_steer({f: s for f in features}, method, d_sae)
                rows.append((steer, method))
                prompt_ids.append(ids)
                meta.append((p, s))
        out = generate_rows(self, prompt_ids, rows, max_new_tokens=max_new_tokens, temperature=temperature,
                            seed=seed)
        label = features[0] if len(features) == 1 else tuple(features)
        return pd.DataFrame({
            "prompt": [p for p, _ in meta], "feature": [label] * len(meta), "method": method,
            "strength": [float("nan") if s is None else float(s) for _, s in meta],
            "steered": [s is not None for _, s in meta], "text": out.texts, "tokens": out.tokens})

    def stream(self, prompt: str, steer: Mapping[int, float] | None = None, method: str = "clamp",
               max_new_tokens: int = 64, temperature: float = 0.0, seed: int | None = None, chat: bool = True):
        """Generate in a background thread; iterate the returned ``Stream`` for text pieces as they come.

        A newer ``stream`` (or a steering-panel request) on the same model cancels this one within one
        decoding step; so does ``.cancel()`` or breaking out of the loop.
        """
        from .generation import Stream, generate_rows, model_worker

        ids = self.chat_ids(prompt, chat)
        if steer:
            steering_mod.check_steer(steer, method, self._need_sae().d_sae)

        def run(on_step, cancel):
            return generate_rows(self, [ids], [(steer or None, method)], max_new_tokens=max_new_tokens,
                                 temperature=temperature, seed=seed, on_step=on_step, cancel=cancel)

        return Stream(model_worker(self.model), run)

    def steer(self, features=None, prompt: str | None = None, method: str = "clamp", **kwargs):
        """The live steering panel: sliders on ``features`` (indices, or ``{feature: strength}``), generation
        re-runs on release and streams steered beside unsteered. See ``saewidgets.widgets.steer_panel``."""
        from .widgets.steer_panel import SteerPanel

        return SteerPanel(self, features, prompt=prompt, method=method, **kwargs)

    def steering(self, steer: Mapping[int, float], method: str = "clamp"):
        """A context manager: inside it every forward of ``lab.model`` is steered."""
        return steering_mod.steering(self.model, self._need_sae(), self.hook, steer, method)

    def steer_check(self, features, words, strength: float = 1.0, method: str = "clamp") -> pd.DataFrame:
        """Rank candidate ``features`` (e.g. ``lab.search(q).feature[:5]``) by how far steering each one raises
        the probability of ``words`` on a neutral exchange; the best steering choice comes first."""
        from .analysis.steer_check import steer_check

        return steer_check(self, features, words, strength=strength, method=method)

    def steering_vector(self, steer: Mapping[int, float]) -> torch.Tensor:
        """The summed steering direction ``[d_model]`` (for use in other tools)."""
        return steering_mod.steering_vector(self._need_sae(), steer)

    def with_sae(self, sae: SAE | str) -> "Lab":
        """A Lab on the same model (shared, not copied) with another SAE, e.g. one from ``sw.train_sae``."""
        if isinstance(sae, (str, Path)):
            sae = SAE.load(sae)
        sae = _prepare_sae(sae, self.model)
        return Lab(self.model, self.tokenizer, sae, _hook_point(None, sae, self.n_layers), self.model_name)

    def _need_sae(self) -> SAE:
        if self.sae is None:
            raise ValueError("this Lab has no SAE: pass sae=... to sw.load(), or train one with sw.train_sae(lab, texts).")
        return self.sae


def load(model: str | None = None, sae: str | SAE | None = None, layer=None, device="auto", dtype=None,
         sae_id: str | None = None) -> Lab:
    """Load a model and an SAE. With no arguments: SmolLM2-135M-Instruct and the project's own SAE, offline.

    ``sae``: a local folder or file (SAELens, sparsify, Gemma Scope), a SAELens release (with ``sae_id``),
    an HF repo id, or an ``SAE``. ``layer``: a layer number or a hook name; taken from the SAE when omitted.
    """
    lm, tokenizer, name = load_model(model, device=device, dtype=dtype)
    n_layers = len(decoder_layers(lm))
    if sae is None and name == DEFAULT_MODEL:
        sae = DEFAULT_SAE_DIR
    if isinstance(sae, (str, Path)):
        sae = SAE.load(sae) if Path(sae).expanduser().exists() else SAE.from_pretrained(str(sae), sae_id)
    if sae is not None:
        sae = _prepare_sae(sae, lm)
    hook = _hook_point(layer, sae, n_layers)
    return Lab(lm, tokenizer, sae, hook, name)


def _prepare_sae(sae: SAE, model) -> SAE:
    sae.check_width(model.config.hidden_size)
    device = next(model.parameters()).device
    if device.type == "cpu" and sae.dtype == torch.float16:
        sae = sae.float()  # CPUs have no fast fp16 matmul; the shipped fp16 weights run in fp32
        sae.cfg.dtype = "float32"
    sae = sae.to(device)
    sae.requires_grad_(False)
    return sae


def _hook_point(layer, sae: SAE | None, n_layers: int) -> HookPoint:
    sae_point = None
    if sae is not None and sae.cfg.hook_name:
        try:
            sae_point = HookPoint.parse(sae.cfg.hook_name, n_layers)
        except ValueError as err:
            raise ValueError(f"the SAE was trained on {sae.cfg.hook_name!r}, which this model lacks: {err}") from None
    if layer is None:
        return sae_point or HookPoint(n_layers // 2)
    point = HookPoint.parse(layer, n_layers)
    if sae_point is not None and point != sae_point:
        raise ValueError(f"layer {layer!r} does not match the SAE's hook point {sae_point.name!r}; "
                         "omit layer= to use the SAE's own.")
    return point
