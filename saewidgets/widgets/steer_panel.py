"""Steering panel: sliders on SAE features; generation re-runs on release and streams steered beside unsteered.

    panel = lab.steer([123, 456], prompt="Tell me about your weekend.")   # or SteerPanel(lab, ...)
    panel.follow(heatmap_or_card)      # a feature selected there joins the panel
    panel.strengths = {123: 8.0}; panel.run(); panel.stop()

The view (``js/src/views/steer_panel.ts``) only edits settings (synced traitlets) and sends intents:
``{"type": "run"}``, ``{"type": "stop"}``, ``{"type": "search", "query"}``. Python answers in ``result``.

How text never interleaves: generation runs in the model's background worker (``generation.Worker``);
every run gets a new id, and a run writes ``result`` only while it is the current run, checked under a
lock that ``run`` also takes when it starts a new one. ``result`` always holds whole texts, never
deltas, so the last write of the last run is exactly that run's text. The kernel's main thread only
enqueues work, so slider messages keep arriving while a generation runs (ipykernel 6 and 7).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Mapping

import anywidget
import traitlets as t

from .. import steering as steering_mod
from ..analysis.labels import feature_label
from ..checks import check_feature, check_strength
from ..generation import check_settings, generate_rows, model_worker
from .bundle import esm
from .monitor import MonitorView

# Slider range, step, the strength a newly added feature starts at, and the "all strengths" ladder, per
# method. The defaults come from bench/steering_eval.py (docs/steering.md): on the default SAE, clamp/add
# make the model use the concept from about 1x the max activation and break down past about 2x. The API
# accepts any finite strength up to steering.MAX_STRENGTH (Scaling Monosemanticity's 10x included).
SLIDERS = {
    "clamp": {"min": -3.0, "max": 3.0, "step": 0.05, "default": 1.0, "sweep": [0.5, 1.0, 1.5, 2.0]},
    "add": {"min": -3.0, "max": 3.0, "step": 0.05, "default": 1.0, "sweep": [0.5, 1.0, 1.5, 2.0]},
    "amplify": {"min": -1.0, "max": 40.0, "step": 0.5, "default": 8.0, "sweep": [4.0, 8.0, 16.0, 32.0]},
    "calibrate": {"min": -5.0, "max": 5.0, "step": 0.1, "default": 2.0, "sweep": [0.5, 1.0, 2.0, 4.0]},
    "ablate": {"min": 0.0, "max": 1.0, "step": 1.0, "default": 1.0, "sweep": [1.0]},
}
UNITS = {"clamp": "× max act", "add": "× max act", "amplify": "α", "calibrate": "β × max act", "ablate": ""}
THROTTLE_S = 0.05  # at most one streamed update a 50 ms (and always the first and the last)


class SteerPanel(anywidget.AnyWidget):
    """The live steering panel; build it with ``lab.steer(features, prompt=...)``."""

    prompt = t.Unicode("").tag(sync=True)
    chat = t.Bool(True).tag(sync=True)              # wrap the prompt in the model's chat template
    has_chat = t.Bool(False).tag(sync=True)
    steer = t.List(t.Dict()).tag(sync=True)         # [{"feature": int, "strength": float, "label": str}]
    method = t.Unicode("clamp").tag(sync=True)
    methods = t.List(t.Unicode()).tag(sync=True)
    sliders = t.Dict().tag(sync=True)               # SLIDERS, with the unit of each method
    mode = t.Unicode("single").tag(sync=True)       # "single": steered beside unsteered; "sweep": all strengths
    temperature = t.Float(0.0).tag(sync=True)
    seed = t.Int(0).tag(sync=True)
    max_new_tokens = t.Int(48).tag(sync=True)
    d_sae = t.Int(0).tag(sync=True)
    notice = t.Unicode("").tag(sync=True)           # e.g. "strengths are raw activations" (no max-act stats)
    searchable = t.Bool(False).tag(sync=True)
    search_results = t.Dict().tag(sync=True)        # {"query", "rows": [{"feature", "score", "explanation"}]}
    result = t.Dict().tag(sync=True)                # {"id", "mode", "status", "columns": [...], "tokens", "seconds"}
    error = t.Unicode("").tag(sync=True)

    def __init__(self, lab, features=None, *, prompt: str | None = None, method: str = "clamp",
                 max_new_tokens: int = 48, temperature: float = 0.0, seed: int = 0, chat: bool = True,
                 monitor=None, **kwargs):
        self._esm = esm("steer_panel")
        self._lab = lab
        # a monitor watches every generation of the panel; its live timeline is shown beside the panel
        self._monitor = monitor
        self.monitor_view = MonitorView(monitor) if monitor is not None else None
        self._beside = None
        sae = lab.need_sae()
        if method not in steering_mod.METHODS:
            raise ValueError(f"unknown steering method {method!r}; use one of {', '.join(steering_mod.METHODS)}.")
        self._lock = threading.Lock()
        self._current = 0          # id of the run allowed to write `result`
        self._ids = 0
        self._cache: dict[tuple, str] = {}  # unsteered text per (prompt, chat, settings)
        self._job = None
        self._labels: dict[int, str] = {}
        stats = lab.stats
        notice = "" if "max_activation" in stats else (
            "This SAE has no max-activation statistics: clamp/add/calibrate strengths are raw activations, "
            "not multiples of each feature's maximum.")
        sliders = {m: {**s, "unit": UNITS[m] if not notice else UNITS[m].replace("× max act", "raw")}
                   for m, s in SLIDERS.items()}
        has_chat = bool(getattr(lab.tokenizer, "chat_template", None))
        super().__init__(prompt=prompt or "Tell me about your weekend.", method=method,
                         methods=list(steering_mod.METHODS), sliders=sliders, d_sae=sae.d_sae, notice=notice,
                         has_chat=has_chat, chat=chat and has_chat, max_new_tokens=max_new_tokens,
                         temperature=temperature, seed=seed, searchable=callable(getattr(lab, "search", None)),
                         **kwargs)
        self.strengths = _as_strengths(features, sae.d_sae, SLIDERS[method]["default"])
        self.on_msg(self._on_msg)

    # ---- Python API

    @property
    def strengths(self) -> dict[int, float]:
        """``{feature: strength}`` of the sliders."""
        return {int(r["feature"]): float(r["strength"]) for r in self.steer}

    @strengths.setter
    def strengths(self, value) -> None:
        value = _as_strengths(value, self.d_sae, SLIDERS[self.method]["default"])
        self.steer = [{"feature": f, "strength": s, "label": self._label(f)} for f, s in value.items()]

    def add(self, feature: int, strength: float | None = None) -> None:
        """Add a slider for ``feature`` (at the method's default strength unless given)."""
        feature = check_feature(feature, self.d_sae)
        if feature in self.strengths:
            return
        strength = SLIDERS[self.method]["default"] if strength is None else strength
        self.steer = [*self.steer, {"feature": feature, "strength": float(strength), "label": self._label(feature)}]

    def reveal(self, feature: int | None = None) -> None:
        """Scroll the panel into view in the browser (and flash ``feature``'s slider): the explorer's *Steer #N*."""
        self.send({"type": "reveal", "feature": None if feature is None else int(feature)})

    def follow(self, widget, name: str = "feature") -> None:
        """Add the feature selected in another widget (heatmap, feature card, map) whenever it changes."""
        def added(change):
            if change["new"] is not None:
                self.add(change["new"])
        widget.observe(added, names=name)
        if getattr(widget, name, None) is not None:
            self.add(getattr(widget, name))

    def _repr_mimebundle_(self, **kwargs):
        if self.monitor_view is None:
            return super()._repr_mimebundle_(**kwargs)
        if self._beside is None:  # the panel and the monitor's timeline side by side
            import ipywidgets

            self.monitor_view.layout = ipywidgets.Layout(flex="1 1 22rem", min_width="18rem")
            self.layout.flex = "2 1 30rem"
            self._beside = ipywidgets.HBox([self, self.monitor_view],
                                           layout=ipywidgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        return self._beside._repr_mimebundle_(**kwargs)

    def save_html(self, path, **kwargs):
        """The panel with the generations it made (marked as recorded) as one self-contained HTML file."""
        from .export import save_html

        return save_html(self, path, **kwargs)

    def run(self) -> int:
        """Start a generation with the current settings (cancelling any running one); returns its id."""
        with self._lock:
            self._ids += 1
            run_id = self._current = self._ids
        try:
            plan = self._plan()
        except (ValueError, IndexError, TypeError) as err:
            self._write(run_id, {"id": run_id, "mode": self.mode, "status": "error", "columns": []}, str(err))
            return run_id
        self._write(run_id, {"id": run_id, "mode": self.mode, "status": "running", "tokens": 0, "seconds": 0.0,
                             "columns": [{"label": c["label"], "text": c.get("text", ""), "done": "text" in c}
                                         for c in plan["columns"]]}, "")
        self._job = model_worker(self._lab.model).submit(lambda job: self._generate(run_id, plan, job))
        return run_id

    def stop(self) -> None:
        """Stop the running generation (its text so far stays)."""
        with self._lock:
            current = self._current
        if self._job is not None and self.result.get("id") == current and self.result.get("status") == "running":
            self._job.cancel.set()

    def wait(self, timeout: float | None = 120) -> dict:
        """Block until the latest run has finished (for scripts and tests); returns ``result``."""
        deadline = time.monotonic() + (timeout or 1e9)
        while self.result.get("status") == "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.result

    # ---- the work

    def _plan(self) -> dict[str, Any]:
        """What to generate: rows of (steer, method) and the columns the view shows."""
        lab, method = self._lab, self.method
        steer = self.strengths
        if steer:
            steering_mod.check_steer(steer, method, self.d_sae)
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError("empty prompt: type something to generate from.")
        ids = lab.chat_ids(self.prompt, self.chat)
        check_settings(self.max_new_tokens, self.temperature)
        settings = dict(max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                        seed=self.seed if self.temperature > 0 else None)
        key = (self.prompt, self.chat, self.max_new_tokens, self.temperature, settings["seed"])
        columns: list[dict[str, Any]] = []
        rows: list = []
        cached = self._cache.get(key)
        if cached is not None:
            columns.append({"label": "unsteered", "text": cached})
        else:
            columns.append({"label": "unsteered", "row": 0})
            rows.append((None, method))
        if self.mode == "sweep":
            if not steer:
                raise ValueError("add a feature to steer before sweeping its strengths.")
            for s in SLIDERS[method]["sweep"]:
                columns.append({"label": _describe({f: s for f in steer}, method), "row": len(rows), "strength": s})
                rows.append(({f: s for f in steer}, method))
        elif steer:
            columns.append({"label": _describe(steer, method), "row": len(rows)})
            rows.append((steer, method))
        else:
            columns.append({"label": "steered", "text": "(no features to steer: add one above)"})
        return {"ids": ids, "rows": rows, "columns": columns, "settings": settings, "key": key}

    def _generate(self, run_id: int, plan: dict[str, Any], job) -> None:
        columns, rows = plan["columns"], plan["rows"]
        last = [0.0]
        start = time.perf_counter()

        def payload(texts, status, done_rows=None):
            out = []
            for c in columns:
                if "row" in c:
                    done = status != "running" or bool(done_rows and done_rows[c["row"]])
                    out.append({"label": c["label"], "text": texts[c["row"]], "done": done,
                                **({"note": c["note"]} if c.get("note") else {})})
                else:
                    out.append({"label": c["label"], "text": c["text"], "done": True})
            return {"id": run_id, "mode": self.mode, "status": status, "columns": out,
                    "tokens": n_tokens[0],
                    "seconds": round(time.perf_counter() - start, 2)}

        n_tokens = [0]

        def on_step(texts):
            n_tokens[0] += 1
            now = time.perf_counter()
            if n_tokens[0] == 1 or now - last[0] >= THROTTLE_S:
                last[0] = now
                self._write(run_id, payload(texts, "running"))

        if not rows:
            self._write(run_id, payload([], "done"), "")
            return
        try:
            batch = generate_rows(self._lab, [plan["ids"]] * len(rows), rows, on_step=on_step, cancel=job.cancel,
                                  monitor=self._monitor, **plan["settings"])
        except Exception as err:  # shown in the panel; the hook is already gone (hooks.edit)
            self._write(run_id, payload([""] * len(rows), "error"), f"{type(err).__name__}: {err}")
            return
        status = "stopped" if batch.cancelled else "done"
        for c in columns:  # a monitor's stop action says why that column ended
            if "row" in c and batch.stopped and batch.stopped[c["row"]]:
                c["note"] = batch.reasons[c["row"]]
        for c in columns:
            if c.get("row") == 0 and c["label"] == "unsteered" and not batch.cancelled:
                self._cache[plan["key"]] = batch.texts[0]
        self._write(run_id, payload(batch.texts, status, batch.finished), "")

    def _write(self, run_id: int, result: dict, error: str | None = None) -> bool:
        """Set ``result`` (and ``error``) only while ``run_id`` is the current run."""
        with self._lock:
            if run_id != self._current:
                return False
            with self.hold_sync():
                self.result = result
                if error is not None:
                    self.error = error
            return True

    # ---- messages from the view

    def _on_msg(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "run":
            self.run()
        elif kind == "stop":
            self.stop()
        elif kind == "search":
            self._search(str(content.get("query", "")))
        elif kind == "add":
            try:
                self.add(int(content.get("feature")))
                self.error = ""
            except (ValueError, IndexError, TypeError) as err:
                self.error = str(err)

    def _search(self, query: str) -> None:
        search = getattr(self._lab, "search", None)
        if not callable(search):
            self.error = "search is not available for this Lab: add features by index."
            return
        try:
            df = search(query)
            rows = [{"feature": int(r.feature), "score": float(getattr(r, "score", 0.0)),
                     "explanation": str(getattr(r, "explanation", "") or "")} for r in df.head(8).itertuples()]
            self.search_results = {"query": query, "rows": rows}
            self.error = ""
        except Exception as err:
            self.search_results = {"query": query, "rows": []}
            self.error = f"search failed: {err}"

    @t.validate("method")
    def _valid_method(self, proposal):
        if proposal["value"] not in steering_mod.METHODS:
            raise t.TraitError(f"unknown steering method {proposal['value']!r}; "
                               f"use one of {', '.join(steering_mod.METHODS)}.")
        return proposal["value"]

    @t.validate("mode")
    def _valid_mode(self, proposal):
        if proposal["value"] not in ("single", "sweep"):
            raise t.TraitError("mode is 'single' (steered beside unsteered) or 'sweep' (all strengths).")
        return proposal["value"]

    def set_state(self, sync_data):
        """Changes from the browser: a rejected value shows its error in the panel and snaps back."""
        try:
            super().set_state(sync_data)
        except t.TraitError as err:
            self.error = str(err)
            self.send_state(list(sync_data))

    def _label(self, feature: int) -> str:
        if feature not in self._labels:
            try:
                self._labels[feature] = feature_label(self._lab, feature, 4)
            except Exception:  # noqa: BLE001 - a label is a nicety; the panel works without one
                self._labels[feature] = ""
        return self._labels[feature]


def _as_strengths(features, d_sae: int, default: float) -> dict[int, float]:
    if features is None:
        return {}
    if isinstance(features, Mapping):
        items = list(features.items())
    elif isinstance(features, (int,)) or hasattr(features, "__index__"):
        items = [(features, default)]
    else:
        items = [(f, default) for f in features]
    out = {}
    for f, s in items:
        f = check_feature(f, d_sae)
        out[f] = check_strength(s, f)
    return out


def _describe(steer: Mapping[int, float], method: str) -> str:
    if method == "ablate":
        return "ablate " + ", ".join(f"#{f}" for f in steer)
    unit = {"clamp": "×", "add": "×", "amplify": "α=", "calibrate": "β="}[method]
    parts = [f"#{f} {unit}{s:g}" if unit != "×" else f"#{f} {s:g}×" for f, s in steer.items()]
    return f"{method} " + ", ".join(parts)


def steer_panel(lab, features=None, **kwargs) -> SteerPanel:
    return SteerPanel(lab, features, **kwargs)
