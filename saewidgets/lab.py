"""The ``Lab``: the public API (``sw.load()``) over a model, its tokenizer and an SAE on one hook point.

A thin facade: each method checks its arguments and calls the analysis, widget or steering module
that does the work. Everything below takes a ``Context`` (what a Lab is) and never imports this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import pandas as pd
import torch

from . import steering as steering_mod
from .analysis import attribution as attribution_mod
from .analysis import dashboards as dashboards_mod
from .analysis import explain as explain_mod
from .analysis import family as family_mod
from .analysis import neighbors as neighbors_mod
from .analysis import prepare as prepare_mod
from .analysis import search as search_mod
from .analysis import steer_check as steer_check_mod
from .checks import check_feature
from .context import Context, FeatureActivations  # noqa: F401 - FeatureActivations is public
from .generation import Stream, generate_rows, model_worker
from .hooks import HookPoint, decoder_layers, hook_device
from .models import DEFAULT_MODEL, load_model
from .monitor import Monitor, active_monitor
from .paths import DEFAULT_SAE_DIR, SHIPPED_FAMILY, SHIPPED_SAES, shipped_sae  # noqa: F401 - public
from .sae import SAE
from .store import same_folder
from .tokens import display_token  # noqa: F401 - public since the first release
from .widgets.attribution import attribution as attribution_view
from .widgets.explorer import explorer as explorer_view
from .widgets.export import save_html
from .widgets.family import FamilyView
from .widgets.feature_card import feature_card as feature_card_view
from .widgets.feature_map import feature_map as feature_map_view
from .widgets.heatmap import heatmap as heatmap_view
from .widgets.monitor import LiveMonitor
from .widgets.steer_panel import SteerPanel

# lab.sweep's default strengths per method: the strengths docs/steering.md evaluates (calibrate: notebook 03's)
SWEEP_STRENGTHS = {"clamp": (0.75, 1.0, 1.25, 1.5), "add": (1.0, 1.5), "amplify": (8.0, 32.0),
                   "calibrate": (1.0, 2.0), "ablate": (1.0,)}


class Lab(Context):
    """A model, tokenizer and SAE hooked at one residual-stream point. Build one with ``sw.load()``."""

    def __repr__(self) -> str:
        sae = f"SAE {self.sae.d_sae} features ({self.sae.cfg.architecture})" if self.sae else "no SAE"
        return f"Lab({self.model_name}, {self.hook.name}, {sae}, {self.device})"

    # ---- reading features

    def heatmap(self, text, feature=None, *, k: int = 8, explanations=None):
        """A live token heatmap of ``text`` (a string or a list of strings); ``widget.feature`` follows clicks."""
        return heatmap_view(self, text, feature, k=k, explanations=explanations)

    def dashboard(self, feature: int, *, tokens: int | None = None, texts=None, progress: bool = True):
        """One feature's dashboard as data: top and quantile examples, histogram, density, logit lens.

        Shipped for the default SAE; for another SAE computed once over ``tokens`` tokens of the corpus (or
        over ``texts``) with a progress bar, then cached. See ``saewidgets.analysis.dashboards``.
        """
        return dashboards_mod.feature_dashboard(self, feature, tokens=tokens, texts=texts, progress=progress)

    def feature(self, feature: int | None = None, **kwargs):
        """A live feature card; link ``card.feature`` to a heatmap's ``feature`` to follow its clicks."""
        return feature_card_view(self, feature, **kwargs)

    # ---- finding features (saewidgets.analysis.explain / search / neighbors / feature_map)

    def explain(self, feature: int):
        """Both explanations of a feature: vocabulary words by mutual information, and its top tokens."""
        return explain_mod.explain(self, feature)

    def search(self, query: str | None = None, *, text: str | None = None, k: int = 20) -> pd.DataFrame:
        """Features for the words of ``query`` (``lab.search("bridge")``), or most active on ``text=``."""
        return search_mod.search(self, query, text=text, k=k)

    def contrast(self, positive_texts, negative_texts, k: int = 20, by: str = "auroc") -> pd.DataFrame:
        """Features that separate two sets of texts, ranked by AUROC (and difference of mean activation)."""
        return search_mod.contrast(self, positive_texts, negative_texts, k=k, by=by)

    def neighbors(self, feature: int, k: int = 10, by: str = "auto") -> pd.DataFrame:
        """The ``k`` nearest features, with their explanations: ``by="coactivation"`` (fire together in the
        same contexts, from ``lab.prepare``), ``"decoder"`` (cosine of decoder rows) or ``"auto"`` (the
        first when the SAE has it)."""
        return neighbors_mod.neighbors_frame(self, feature, k, by)

    def map(self, **kwargs):
        """A 2-D map of every feature (UMAP of decoder directions); hover, click, search, ``map.show(text)``.
        On a shipped width of the default a switch shows the other widths, keeping the selection on the best
        match (``family=False`` leaves it out; ``family=lab.feature_family([...])`` for your own SAEs)."""
        family = kwargs.pop("family", "auto")
        if isinstance(family, str) and family == "auto":
            family = self.feature_family() if self._shipped_name() and self._shipped_widths() else None
        return feature_map_view(self, family=family or None, **kwargs)

    # ---- families across SAE widths

    def family(self, feature: int, *, sae=None, widths=None, min_cosine: float = family_mod.CHILD_COSINE,
               max_children: int = family_mod.MAX_CHILDREN, examples: bool = False) -> pd.DataFrame:
        """Feature ``feature``'s family across SAE widths of the same hook point: its parents in the narrower
        SAEs and its children in the wider ones (decoder cosine; see ``saewidgets.analysis.family``).

        One row per node: sae, width, feature, relation (ancestor/self/child/grandchild, or "closest" where no
        child reaches ``min_cosine``), parent, cosine (to the parent), to_query, density, label, explanation,
        more_children. ``widths``: the other SAEs (folders, shipped names, ``SAE`` objects or Labs); default the
        shipped widths of the default SAE ("default-1k", "default-2k", "default-16k"). ``sae``: whose feature
        ``feature`` is (a member's name or width, e.g. ``sae="default-1k"``); default this Lab's SAE.
        ``examples=True`` checks each node on text: ``parent_fires`` is the share of its top examples on which
        its parent fires too (``self_fires``: the node itself on the same examples, the control)."""
        fam = self.feature_family(widths)
        return fam.frame(self._member(fam, sae), feature, min_cosine, max_children, examples=examples)

    def family_view(self, feature: int, *, sae=None, widths=None, min_cosine: float = family_mod.CHILD_COSINE,
                    max_children: int = family_mod.MAX_CHILDREN, examples: bool = True) -> FamilyView:
        """The family tree as a widget: hover a node for its top examples, click it for its card (arguments as
        ``lab.family``)."""
        fam = self.feature_family(widths)
        member = self._member(fam, sae)
        return FamilyView(fam, member, check_feature(feature, fam.width(member)), min_cosine=min_cosine,
                          max_children=max_children, examples=examples)

    def _member(self, fam: family_mod.Family, sae) -> int:
        if sae is None:
            return fam.contexts.index(self)
        return fam.index("default-16k" if sae == "default" else sae)

    def feature_family(self, widths=None) -> family_mod.Family:
        """This SAE and the SAEs of other widths as one ``Family`` (kept on this Lab, so the matching runs once)."""
        families = self.__dict__.setdefault("_families", {})
        key = None if widths is None else tuple(id(w) if not isinstance(w, (str, Path)) else str(w) for w in widths)
        if key not in families:
            families[key] = family_mod.Family(self._family_members(widths))
        return families[key]

    def _shipped_name(self) -> str | None:
        folder = self.need_sae().source_folder
        return next((name for name in SHIPPED_FAMILY if folder is not None and same_folder(folder, SHIPPED_SAES[name])),
                    None)

    def _shipped_widths(self) -> list[str]:
        own = self._shipped_name()
        return [name for name in SHIPPED_FAMILY if name != own and (SHIPPED_SAES[name] / "cfg.json").is_file()]

    def _family_members(self, widths) -> list[tuple[str, "Lab"]]:
        own = self._shipped_name()
        if widths is None:
            if own is None:
                raise ValueError("this SAE has no shipped family: pass the SAEs of the other widths, trained on "
                                 f"the same hook point ({self.hook.name}), e.g. lab.family(f, widths=['sae-4k/', "
                                 "'sae-16k/']).")
            widths = self._shipped_widths()
        members = [(own or f"this SAE ({self.need_sae().d_sae:,})", self)]
        for w in widths:
            if isinstance(w, Lab):
                members.append((w._shipped_name() or f"SAE ({w.need_sae().d_sae:,})", w))
            elif isinstance(w, (str, Path)):
                members.append((str(w), self.with_sae(w)))
            else:
                members.append((f"SAE ({w.d_sae:,})", self.with_sae(w)))
        return members

    def explorer(self, text: str | None = None, *, show_map: bool = True, steer: bool = True,
                 monitor: Monitor | None = None):
        """Heatmap, feature card, feature map and steering panel in one, linked by one selected feature
        (with ``monitor``: its live timeline beside the steering panel)."""
        return explorer_view(self, text, show_map=show_map, steer=steer, monitor=monitor)

    def export_html(self, path, *widgets, text: str | None = None, **kwargs):
        """One self-contained HTML file that works without a kernel: ``widgets`` on one page, or an explorer of
        ``text`` when none are given (``saewidgets/widgets/export.py``; ``title``, ``features`` as there)."""
        return save_html(list(widgets) or explorer_view(self, text), path, **kwargs)

    # ---- why did it say that? (saewidgets.analysis.attribution, widgets.attribution)

    def attribute(self, prompt: str, target=None, *, method: str = "logprob", positions=None, reply=None,
                  reply_index=None, top: int | None = None, chat: bool | None = None) -> pd.DataFrame:
        """Which SAE features pushed ``target`` (default: the top next-token prediction) up or down: a DataFrame
        of position, token, feature (-1: the SAE error), activation, attribution (activation × gradient),
        explanation, sorted by |attribution|. See ``saewidgets.analysis.attribution.attribute``."""
        return attribution_mod.attribute(self, prompt, target, method=method, positions=positions, reply=reply,
                                         reply_index=reply_index, top=top, chat=chat)

    def attribution(self, prompt: str, **kwargs):
        """The attribution view: the prompt and the model's reply as tokens; click a token to see the features
        that pushed it up and down, open a feature's card, ablate or steer it and see the probability change."""
        return attribution_view(self, prompt, **kwargs)

    # ---- generation and steering

    def generate(self, prompt: str, steer: Mapping[int, float] | None = None, method: str = "clamp",
                 max_new_tokens: int = 64, temperature: float = 0.0, seed: int | None = None,
                 chat: bool = True, monitor: Monitor | None = None) -> str:
        """Generate a reply (greedy when ``temperature`` is 0); ``steer={feature: strength}`` steers it.

        ``monitor`` (``lab.monitor(...)``; default the one of an enclosing ``with monitor:``) watches it; the
        reply is then a ``MonitoredReply``: a ``str`` with ``.stopped``, ``.reason`` and ``.events``."""
        ids = self.chat_ids(prompt, chat)
        rows = [(steer or None, method)]
        if steer:
            steering_mod.check_steer(steer, method, self.need_sae().d_sae)
        monitor = monitor or active_monitor(self.model)
        out = generate_rows(self, [ids], rows, max_new_tokens=max_new_tokens, temperature=temperature,
                            seed=seed, monitor=monitor)
        return out.texts[0] if monitor is None else MonitoredReply.of(out, monitor)

    def sweep(self, prompt, feature, strengths=None, method: str = "clamp", max_new_tokens: int = 48,
              temperature: float = 0.0, seed: int | None = None, chat: bool = True,
              baseline: bool = True, monitor: Monitor | None = None) -> pd.DataFrame:
        """Generate every strength (and the unsteered baseline) in ONE batched call; one row a generation.

        ``prompt``: a string or a list of strings (every prompt gets every strength). ``feature``: an index,
        or a list of indices steered together with the same strength. Columns: prompt, feature, method,
        strength (NaN for the unsteered baseline), steered, text, tokens. The default strengths are those
        ``docs/steering.md`` evaluates for ``method`` (clamp: 0.75, 1, 1.25, 1.5). With a ``monitor`` (or
        inside ``with monitor:``) every row is watched and the frame gains ``stopped`` and ``reason``.
        """
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts:
            raise ValueError("sweep needs at least one prompt.")
        d_sae = self.need_sae().d_sae
        features = [feature] if not isinstance(feature, (list, tuple, set)) else list(feature)
        features = [check_feature(f, d_sae) for f in features]
        if not features:
            raise ValueError("sweep needs at least one feature.")
        if strengths is None:
            if method not in SWEEP_STRENGTHS:
                raise ValueError(f"unknown steering method {method!r}; use one of {', '.join(steering_mod.METHODS)}.")
            strengths = SWEEP_STRENGTHS[method]
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
        monitor = monitor or active_monitor(self.model)
        out = generate_rows(self, prompt_ids, rows, max_new_tokens=max_new_tokens, temperature=temperature,
                            seed=seed, monitor=monitor)
        label = features[0] if len(features) == 1 else tuple(features)
        df = pd.DataFrame({
            "prompt": [p for p, _ in meta], "feature": [label] * len(meta), "method": method,
            "strength": [float("nan") if s is None else float(s) for _, s in meta],
            "steered": [s is not None for _, s in meta], "text": out.texts, "tokens": out.tokens})
        if monitor is not None:
            df["stopped"], df["reason"] = out.stopped, out.reasons
        return df

    def stream(self, prompt: str, steer: Mapping[int, float] | None = None, method: str = "clamp",
               max_new_tokens: int = 64, temperature: float = 0.0, seed: int | None = None, chat: bool = True,
               monitor: Monitor | None = None):
        """Generate in a background thread; iterate the returned ``Stream`` for text pieces as they come.

        A newer ``stream`` (or a steering-panel request) on the same model cancels this one within one
        decoding step; so does ``.cancel()`` or breaking out of the loop. A ``monitor`` (or the one of an
        enclosing ``with monitor:``, taken when ``stream`` is called) watches it; ``result.reasons`` says why
        a stop action ended it.
        """
        ids = self.chat_ids(prompt, chat)
        if steer:
            steering_mod.check_steer(steer, method, self.need_sae().d_sae)
        monitor = monitor or active_monitor(self.model)

        def run(on_step, cancel):
            return generate_rows(self, [ids], [(steer or None, method)], max_new_tokens=max_new_tokens,
                                 temperature=temperature, seed=seed, on_step=on_step, cancel=cancel,
                                 monitor=monitor)

        return Stream(model_worker(self.model), run)

    def steer(self, features=None, prompt: str | None = None, method: str = "clamp", monitor: Monitor | None = None,
              **kwargs):
        """The live steering panel: sliders on ``features`` (indices, or ``{feature: strength}``), generation
        re-runs on release and streams steered beside unsteered. See ``saewidgets.widgets.steer_panel``.
        With ``monitor`` its generations are watched and the monitor's live timeline sits beside the panel."""
        return SteerPanel(self, features, prompt=prompt, method=method, monitor=monitor, **kwargs)

    def monitor(self, watch, threshold=None, *, consecutive: int = 1, action: str = "flag", steer=None,
                method: str = "calibrate", top: int = 1) -> Monitor:
        """A live feature monitor (``saewidgets.monitor``); use it as ``with lab.monitor(...) as mon:`` or pass
        ``monitor=mon`` to generate / stream / sweep / steer; ``mon.frame()`` afterwards, ``mon.view()`` live.

        ``watch``: feature indices; words (each word's best ``top`` features from ``lab.search``); or a
        detector, the DataFrame of ``lab.contrast(positive_texts, negative_texts)`` (its ``top`` first rows).
        ``threshold``: a number, ``{feature: number}``, or None (a guess until ``mon.calibrate(benign_texts)``).
        ``action``: "flag", "stop", or "steer" (``steer``/``method`` from the moment a feature fires;
        default: calibrate the watched features down)."""
        features, labels = self._watch_list(watch, top)
        return LiveMonitor(self, features, threshold, consecutive=consecutive, action=action, steer=steer,
                           method=method, labels=labels)

    def _watch_list(self, watch, top: int) -> tuple[list[int], dict[int, str]]:
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise ValueError(f"top must be a whole number of at least 1 (got {top!r}).")
        if isinstance(watch, pd.DataFrame):
            if "feature" not in watch.columns:
                raise ValueError("a detector must be a DataFrame with a 'feature' column, e.g. lab.contrast(pos, neg).")
            rows = watch.head(top)
            return [int(f) for f in rows["feature"]], _labels(rows)
        words = [watch] if isinstance(watch, str) else list(watch) if isinstance(watch, (list, tuple)) and watch \
            and all(isinstance(w, str) for w in watch) else None
        if words is None:
            return watch, {}
        features, labels = [], {}
        for word in words:
            found = self.search(word, k=top)
            if found.empty:
                raise ValueError(f"no feature found for the word {word!r}: try another word, or watch feature "
                                 "indices (lab.monitor([123])).")
            for f in found["feature"].head(top):
                features.append(int(f))
                labels[int(f)] = word
        return features, labels

    def steer_check(self, features, words, strength: float = 1.0, method: str = "clamp") -> pd.DataFrame:
        """Rank candidate ``features`` (e.g. ``lab.search(q).feature[:5]``) by how far steering each one raises
        the probability of ``words`` on a neutral exchange; the best steering choice comes first."""
        return steer_check_mod.steer_check(self, features, words, strength=strength, method=method)

    def steering_vector(self, steer: Mapping[int, float]) -> torch.Tensor:
        """The summed steering direction ``[d_model]`` (for use in other tools)."""
        return steering_mod.steering_vector(self.need_sae(), steer)

    def with_sae(self, sae: SAE | str) -> "Lab":
        """A Lab on the same model (shared, not copied) with another SAE: an ``SAE`` (e.g. from ``sw.train_sae``)
        or a folder (one ``lab.prepare`` wrote brings every artefact along)."""
        if shipped_sae(sae) is not None:
            sae = shipped_sae(sae)
        sae = _open_sae(sae, self.model)
        return Lab(self.model, self.tokenizer, sae, _hook_point(None, sae, self.n_layers), self.model_name)

    # ---- every artefact at once

    def prepare(self, texts=None, tokens: int = prepare_mod.DEFAULT_TOKENS, out=None, *, text_column: str = "text",
                map_layout: str = "umap", progress: bool = True, resume: bool = True, max_seconds: float | None = None):
        """Build every artefact of this Lab's SAE in one streaming pass over ``texts`` and save them in ``out``.

        ``texts``: strings, a path or glob of ``.txt``/``.jsonl``/``.parquet`` files, or a Hugging Face
        ``datasets`` Dataset (``text_column``); default the corpus at hand (the full corpus when built, else the
        sample shipped in the package). ``tokens``: how many tokens to read. ``out``: a folder that gets the SAE
        (SAELens format) and its artefacts (statistics, dashboards, explanations with the search table, the
        map); ``sw.load(sae=out)`` and ``lab.with_sae(out)`` reuse them without recomputing. An interrupted run
        resumes from its last checkpoint. Returns a ``Prepared`` summary. See ``saewidgets.analysis.prepare``.
        """
        return prepare_mod.prepare(self, texts, tokens=tokens, out=out, text_column=text_column,
                                   map_layout=map_layout, progress=progress, resume=resume, max_seconds=max_seconds)


class MonitoredReply(str):
    """A monitored ``lab.generate`` reply: the text, plus ``stopped``, ``reason`` and this generation's
    ``events`` (the monitor's ``Event`` list)."""

    stopped: bool = False
    reason: str | None = None
    events: list = []

    @classmethod
    def of(cls, batch, monitor: Monitor) -> "MonitoredReply":
        reply = cls(batch.texts[0])
        reply.stopped, reply.reason = batch.stopped[0], batch.reasons[0]
        this = monitor._generations - 1  # the generation just run
        reply.events = [e for e in monitor.events if e.generation == this]
        return reply


def _labels(rows: pd.DataFrame) -> dict[int, str]:
    if "explanation" not in rows.columns:
        return {}
    return {int(f): str(e or "") for f, e in zip(rows["feature"], rows["explanation"])}


def load(model: str | None = None, sae: str | SAE | None = None, layer=None, device="auto", dtype=None,
         sae_id: str | None = None, device_map=None) -> Lab:
    """Load a model and an SAE. With no arguments: SmolLM2-135M-Instruct and the project's own SAE, offline.

    ``sae``: a local folder or file (SAELens, sparsify, Gemma Scope), a shipped width of the default
    (``"default-1k"``, ``"default-2k"``; ``"default"`` is 16k), a SAELens release (with ``sae_id``),
    an HF repo id, or an ``SAE``. ``layer``: a layer number or a hook name; taken from the SAE when omitted.
    ``device_map``: a model too big for one GPU: ``"auto"`` spreads its layers over the GPUs present (or a dict
    ``{module: device}``, accelerate's); the SAE then lives on its hook layer's device.
    """
    lm, tokenizer, name = load_model(model, device=device, dtype=dtype, device_map=device_map)
    n_layers = len(decoder_layers(lm))
    if sae is None and name == DEFAULT_MODEL:
        sae = DEFAULT_SAE_DIR
    if shipped_sae(sae) is not None:  # "default-1k", "default-2k": the default's other widths
        if name != DEFAULT_MODEL:
            raise ValueError(f"sae={sae!r} is an SAE of the default model {DEFAULT_MODEL}, not of {name}; "
                             "omit model= or pass an SAE trained on this model.")
        sae = shipped_sae(sae)
    if isinstance(sae, (str, Path)) and not Path(sae).expanduser().exists():
        sae = SAE.from_pretrained(str(sae), sae_id)
    if sae is not None:
        sae = _open_sae(sae, lm, None if layer is None else HookPoint.parse(layer, n_layers))
    hook = _hook_point(layer, sae, n_layers)
    return Lab(lm, tokenizer, sae, hook, name)


def _open_sae(sae: SAE | str | Path, model, point: HookPoint | None = None) -> SAE:
    """An SAE ready for ``model``; one loaded from a folder has that folder as its store's own."""
    if isinstance(sae, (str, Path)):
        sae = SAE.load(sae)
    return _on_device(sae, model, point)


def _on_device(sae: SAE, model, point: HookPoint | None = None) -> SAE:
    """``sae`` on the device of its hook layer (``point``, else the SAE's own hook name), in a dtype that runs there."""
    sae.check_width(model.config.hidden_size)
    if point is None and sae.cfg.hook_name:
        try:
            point = HookPoint.parse(sae.cfg.hook_name, len(decoder_layers(model)))
        except ValueError:
            point = None  # _hook_point says what is wrong
    device = hook_device(model, point) if point is not None else next(model.parameters()).device
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
