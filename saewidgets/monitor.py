"""A live feature monitor: watch SAE features while the model reads and writes, and act when one fires.

    mon = Monitor(lab, [123, 456], threshold=2.0, consecutive=2, action="steer",
                  steer={123: 0.0}, method="calibrate")
    with mon:                       # every generation on this model is watched while inside
        lab.generate("...")
    mon.frame()                     # generation, row, position, token, phase, feature, activation, ...

How it works: one hook at the SAE's hook point (``hooks.edit``, removed in ``finally``) reads the watched
features' exact codes (``steering.feature_codes``) on every position of every forward: the prompt's prefill
and then one position per decoding step. A feature that stays above its threshold for ``consecutive``
tokens fires an event. The actions:

- ``flag``: the event (and the live view's alert) only;
- ``stop``: the row's next token is forced to the end-of-sequence token (a ``LogitsProcessor``), so the
  generation ends cleanly within the step that fired; the reason is kept (``monitor.reason``);
- ``steer``: an intervention (``steering.Intervention``: clamp, add, amplify, calibrate, ablate) applied
  from the triggering position on, in the same forward: the token computed at the step that fired is
  already steered.

The monitor reads the activation the model really uses (after any steering of the call itself), before its
own conditional intervention, so the recorded values are what triggered it.

Thresholds: given (one number or ``{feature: number}``), calibrated on benign texts
(``calibrate(texts, fpr)``: at most ``fpr`` of windows of ``consecutive`` tokens would trigger), or, when
neither, a guess (half the feature's maximum activation) that the monitor says is one.

The last token of a reply is never read by the model (nothing follows it), so it has no activation.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .activations import SINK_RATIO, sink_mask
from .checks import check_feature
from .hooks import edit
from .steering import METHODS, Intervention, check_steer, feature_codes
from .tokens import display_token

ACTIONS = ("flag", "stop", "steer")
GUESS_SHARE = 0.5  # an uncalibrated threshold: this share of the feature's maximum activation


@dataclass
class Event:
    """A watched feature stayed above its threshold for ``consecutive`` tokens."""

    generation: int          # which generation of this monitor (0, 1, ...)
    row: int                 # batch row (a sweep has several)
    position: int            # token position in the row (prompt first, without padding)
    phase: str               # "prompt" or "reply"
    feature: int
    activation: float
    threshold: float
    action: str              # what the monitor did: "flag", "stop" or "steer"
    token: str = ""          # the token read at ``position`` (filled in once known)


def check_threshold(value, feature: int | None = None) -> float:
    where = f" for feature {feature}" if feature is not None else ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold{where} must be a number (got {value!r}); e.g. threshold=2.0, "
                         "or leave it out and call monitor.calibrate(benign_texts).") from None
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"threshold{where} is {value!r}; pass a finite number such as 2.0, "
                         "or call monitor.calibrate(benign_texts) to set it from data.")
    if number < 0:
        raise ValueError(f"threshold{where} is negative ({number:g}); SAE activations are never negative, so pass "
                         "0 or more (or call monitor.calibrate(benign_texts)).")
    return number


class Monitor:
    """Watches ``features`` on every token of every generation it is part of; see the module docstring.

    ``features``: feature indices (or ``{feature: label}``). ``threshold``: a number, ``{feature: number}``
    or None (a guess until ``calibrate``). ``consecutive``: tokens in a row above threshold to fire.
    ``action``: "flag", "stop" or "steer"; with "steer", ``steer``/``method`` are the intervention
    (default: calibrate the watched features down, Wu et al.'s ``x - ReLU(xS)S^T``).
    """

    def __init__(self, ctx, features, threshold=None, *, consecutive: int = 1, action: str = "flag",
                 steer: Mapping[int, float] | None = None, method: str = "calibrate", labels=None):
        sae = ctx.need_sae()
        if isinstance(features, Mapping):
            labels = {**{int(f): str(v) for f, v in features.items()}, **(labels or {})}
            features = list(features)
        if isinstance(features, (int, np.integer)) and not isinstance(features, bool):
            features = [features]
        features = list(features) if features is not None else []
        if not features:
            raise ValueError("the watch list is empty: pass feature indices (lab.monitor([123])), words "
                             "(lab.monitor('spam')) or a detector (lab.monitor(lab.contrast(pos, neg))).")
        clean = []
        for f in features:
            f = check_feature(f, sae.d_sae)
            if f not in clean:
                clean.append(f)
        if isinstance(consecutive, bool) or not isinstance(consecutive, (int, np.integer)) or consecutive < 1:
            raise ValueError(f"consecutive must be a whole number of tokens, at least 1 (got {consecutive!r}).")
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)} "
                             "(flag: record an alert; stop: end the generation; steer: intervene from then on).")
        if method not in METHODS:
            raise ValueError(f"unknown steering method {method!r}; use one of {', '.join(METHODS)}.")
        self.ctx, self.sae, self.features = ctx, sae, clean
        self.labels = {f: (labels or {}).get(f, "") for f in clean}
        self.consecutive, self.action, self.method = int(consecutive), action, method
        self.steer = check_steer(steer if steer is not None else {f: 0.0 for f in clean}, method, sae.d_sae) \
            if action == "steer" else None
        self.calibration: pd.DataFrame | None = None
        self.threshold_source = "given"
        self.set_threshold(threshold)
        self.events: list[Event] = []
        self.reasons: list[str] = []           # one line a stopped row
        self._records: list[dict] = []         # one dict a (generation, row): tokens, codes, phases, steered
        self._generations = 0
        self._listeners: list[Callable[[dict], None]] = []
        self._lock = threading.Lock()

    # ---- thresholds

    def set_threshold(self, threshold) -> None:
        """A number for every feature, ``{feature: number}``, or None (a guess: half the maximum activation)."""
        if threshold is None:
            top = (getattr(self.sae, "stats", None) or {}).get("max_activation")
            maxes = [float(top[f]) if top is not None and float(top[f]) > 0 else 1.0 for f in self.features]
            self.thresholds = {f: GUESS_SHARE * m for f, m in zip(self.features, maxes)}
            self.threshold_source = "guess"
            return
        if isinstance(threshold, Mapping):
            unknown = sorted(set(int(f) for f in threshold) - set(self.features))
            if unknown:
                raise ValueError(f"threshold given for feature(s) {unknown} that are not watched; "
                                 f"watched: {self.features}.")
            missing = [f for f in self.features if f not in {int(k) for k in threshold}]
            if missing:
                raise ValueError(f"no threshold for watched feature(s) {missing}; give one for each, or a single number.")
            self.thresholds = {f: check_threshold(threshold[f] if f in threshold else threshold[str(f)], f)
                               for f in self.features}
        else:
            value = check_threshold(threshold)
            self.thresholds = {f: value for f in self.features}
        self.threshold_source = "given"

    @property
    def calibrated(self) -> bool:
        return self.threshold_source == "calibrated"

    def threshold_note(self) -> str:
        if self.threshold_source == "guess":
            return ("thresholds are a guess (half of each feature's maximum activation): "
                    "call monitor.calibrate(benign_texts, fpr=0.01) to set them from data")
        if self.threshold_source == "calibrated":
            fpr = self.calibration.attrs.get("fpr") if self.calibration is not None else None
            return f"thresholds calibrated on benign texts (at most {fpr:g} of windows trigger)"
        return "thresholds given by hand"

    @torch.no_grad()
    def calibrate(self, benign_texts: Sequence[str], fpr: float = 0.01) -> pd.DataFrame:
        """Set each threshold so that at most ``fpr`` of the windows of ``consecutive`` tokens of
        ``benign_texts`` would trigger; returns (and keeps in ``calibration``) the report per feature."""
        if isinstance(benign_texts, str):
            raise TypeError("pass a list of benign texts: monitor.calibrate(['a normal e-mail', ...]).")
        try:
            fpr = float(fpr)
        except (TypeError, ValueError):
            raise ValueError(f"fpr must be a number between 0 and 1 (got {fpr!r}).") from None
        if not 0 < fpr < 1:
            raise ValueError(f"fpr must be between 0 and 1, e.g. 0.01 for 1% of benign windows (got {fpr!r}).")
        texts = [t for t in (benign_texts or []) if isinstance(t, str) and t.strip()]
        need = math.ceil(1 / fpr)
        scores = [[] for _ in self.features]
        n = self.consecutive
        for text in texts:
            values = self.ctx.encode(text).values[:, self.features]     # [T, n], sinks zeroed
            values = values[1:]                                          # the sink never fires
            if len(values) < n:
                continue
            # a window fires when every token in it is above threshold: its score is its smallest value
            windows = values.unfold(0, n, 1).min(dim=-1).values if n > 1 else values
            for i in range(len(self.features)):
                scores[i].append(windows[:, i])
        windows = int(sum(len(s) for s in scores[0])) if scores[0] else 0
        if windows < need:
            raise ValueError(f"texts too short to calibrate: {len(texts)} text(s) give {windows} windows of "
                             f"{n} token(s), and fpr={fpr:g} needs at least {need}; pass more or longer benign "
                             "texts, or a larger fpr.")
        rows = []
        for i, f in enumerate(self.features):
            s = torch.cat(scores[i]).sort(descending=True).values
            allowed = int(math.floor(fpr * len(s)))      # windows allowed strictly above the threshold
            threshold = float(s[allowed])
            rows.append({"feature": f, "label": self.labels.get(f, ""), "threshold": threshold,
                         "windows": len(s), "benign_trigger_rate": float((s > threshold).float().mean()),
                         "previous": self.thresholds[f]})
        self.thresholds = {r["feature"]: r["threshold"] for r in rows}
        self.threshold_source = "calibrated"
        report = pd.DataFrame(rows)
        report.attrs.update(fpr=fpr, consecutive=n, texts=len(texts))
        self.calibration = report
        return report

    # ---- taking part in generations

    def __enter__(self) -> "Monitor":
        active = self.ctx.model.__dict__.setdefault("_saewidgets_monitors", [])
        active.append(self)
        return self

    def __exit__(self, *exc) -> bool:
        active = self.ctx.model.__dict__.get("_saewidgets_monitors", [])
        if self in active:
            active.remove(self)
        return False

    def subscribe(self, listener: Callable[[dict], None]) -> Callable[[], None]:
        """``listener(update)`` after every forward of a watched generation (the live view uses it);
        returns the function that unsubscribes. Updates: ``{"kind": "start"|"step"|"end", ...}``."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def start(self, prompt_ids: Sequence[Sequence[int]], pad: Sequence[int] | None = None,
              eos: set[int] | None = None) -> "Watch":
        """A ``Watch`` of one (batched) generation: its hook, its logits processor, its token feed."""
        with self._lock:
            generation = self._generations
            self._generations += 1
        return Watch(self, generation, prompt_ids, pad, eos or set())

    def hooked(self, prompt_ids: Sequence[Sequence[int]], pad: Sequence[int] | None = None):
        """A context manager: plain forwards of ``prompt_ids`` are watched (and steered when it fires), e.g.
        for the perplexity of a reply under the monitor."""
        if prompt_ids and isinstance(prompt_ids[0], (int, np.integer)):  # one sequence of ids
            prompt_ids = [prompt_ids]
        watch = self.start(prompt_ids, pad)
        return watch.installed(self.ctx.model, self.ctx.hook)

    # ---- what it saw

    def frame(self) -> pd.DataFrame:
        """One row a (generation, batch row, position, feature): token, phase, activation, threshold,
        above, steered (the conditional intervention was on), event (the action taken there, else "")."""
        events = {(e.generation, e.row, e.position, e.feature): e.action for e in self.events}
        parts = []
        for rec in self._records:
            codes = rec["codes"]
            T, n = codes.shape
            if T == 0:
                continue
            feats = np.tile(np.asarray(self.features), T)
            pos = np.repeat(np.arange(T), n)
            parts.append(pd.DataFrame({
                "generation": rec["generation"], "row": rec["row"], "position": pos,
                "token": np.repeat(np.asarray(rec["tokens"], dtype=object), n),
                "phase": np.repeat(np.asarray(rec["phases"], dtype=object), n),
                "feature": feats, "activation": codes.reshape(-1),
                "threshold": np.tile(np.asarray([self.thresholds[f] for f in self.features]), T),
                "steered": np.repeat(rec["steered"], n),
                "event": [events.get((rec["generation"], rec["row"], int(p), int(f)), "")
                          for p, f in zip(pos, feats)]}))
        if not parts:
            return pd.DataFrame(columns=["generation", "row", "position", "token", "phase", "feature", "activation",
                                         "threshold", "above", "steered", "event"])
        df = pd.concat(parts, ignore_index=True)
        df.insert(df.columns.get_loc("threshold") + 1, "above", df["activation"] > df["threshold"])
        return df

    def events_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(e) for e in self.events],
                            columns=list(Event.__dataclass_fields__))

    @property
    def reason(self) -> str | None:
        """Why the last stopped generation stopped (None when nothing stopped)."""
        return self.reasons[-1] if self.reasons else None

    def clear(self) -> None:
        """Forget what was recorded (thresholds and settings stay)."""
        with self._lock:
            self.events, self.reasons, self._records, self._generations = [], [], [], 0

    def __repr__(self) -> str:
        thr = ", ".join(f"#{f}>{self.thresholds[f]:.3g}" for f in self.features)
        return (f"Monitor({thr}; {self.consecutive} token(s) in a row; action={self.action}; {len(self.events)} "
                f"event(s); {self.threshold_note()})")

    def _emit(self, update: dict) -> None:
        for listener in list(self._listeners):
            listener(update)


def active_monitor(model) -> Monitor | None:
    """The innermost monitor entered with ``with monitor:`` on this model, if any."""
    active = model.__dict__.get("_saewidgets_monitors") or []
    return active[-1] if active else None


class Watch:
    """One generation under a monitor: the hook callable (``__call__``), the stop processor, the token feed.

    Positions: row r's prompt tokens come first (padding left out), then its reply. The prefill reads every
    prompt position at once; decoding step i reads the reply token i - 1.
    """

    def __init__(self, monitor: Monitor, generation: int, prompt_ids, pad, eos: set[int]):
        self.monitor, self.generation, self.eos = monitor, generation, eos
        self.prompts = [list(p) for p in prompt_ids]
        rows = len(self.prompts)
        self.pad = list(pad) if pad is not None else [0] * rows
        feats = monitor.features
        self.threshold = torch.tensor([monitor.thresholds[f] for f in feats])
        self.run = torch.zeros(rows, len(feats), dtype=torch.long)      # tokens in a row above threshold
        self.fired_at = [None] * rows                                   # position the action started
        self.stopping = [False] * rows
        self.row_reasons: list[str | None] = [None] * rows
        self.done = [False] * rows                                      # row emitted its end token
        self.replies: list[list[int]] = [[] for _ in range(rows)]
        self.codes: list[list[torch.Tensor]] = [[] for _ in range(rows)]  # per row: [t, n] pieces
        self.steered: list[list[bool]] = [[] for _ in range(rows)]
        self.positions = [0] * rows                                     # positions read so far
        self.sink_norm: torch.Tensor | None = None
        self.memory: dict = {}
        self.intervention = Intervention(monitor.sae, [(monitor.steer, monitor.method)], None) \
            if monitor.action == "steer" else None
        self.finished = self.cancelled = False
        monitor._emit({"kind": "start", "generation": generation, "prompt": self.prompts[-1]})

    # the hook: read, decide, act (same forward)
    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        b, s, _ = h.shape
        if b != len(self.prompts):
            raise RuntimeError(f"monitor built for {len(self.prompts)} rows, got a batch of {b}.")
        m = self.monitor
        codes = feature_codes(m.sae, h, m.features, self.memory).float().cpu()   # [b, s, n]
        valid = torch.ones(b, s, dtype=torch.bool)
        prefill = self.sink_norm is None  # the first forward reads the whole prompt
        if prefill:
            for r in range(b):
                valid[r, : self.pad[r]] = False
            norms = h.float().norm(dim=-1).cpu()
            sinks = torch.zeros(b, s, dtype=torch.bool)
            for r in range(b):
                real = slice(self.pad[r], s)
                sinks[r, real] = sink_mask(h[r:r + 1, real])[0].cpu()
            self.sink_norm = torch.stack([norms[r, self.pad[r] + 1:].median() if s - self.pad[r] > 1
                                          else norms[r, -1] for r in range(b)])
            codes[sinks] = 0.0
        else:
            for r in range(b):
                valid[r] = not self.done[r]
            if self.sink_norm is not None:  # a decoding position can be a sink too (same rule as lab.encode)
                norm = h.float().norm(dim=-1).cpu()[:, 0]
                codes[norm > SINK_RATIO * self.sink_norm] = 0.0
        codes[~valid] = 0.0
        above = (codes > self.threshold) & valid[..., None]
        act = torch.zeros(b, s, dtype=torch.bool)  # where the conditional intervention applies
        n = m.consecutive
        for r in range(b):
            if not valid[r].any():
                continue
            for j in range(s):
                if not valid[r, j]:
                    continue
                position = self.positions[r]
                self.positions[r] += 1
                self.run[r] = (self.run[r] + 1) * above[r, j]
                started = self.fired_at[r] is not None
                if (self.run[r] == n).any():  # an episode starts: one event a feature a sustained run
                    for i in torch.nonzero(self.run[r] == n).flatten().tolist():
                        action = m.action if not started or m.action == "flag" else "flag"
                        self._event(r, position, j, i, float(codes[r, j, i]), action)
                        if action != "flag" and self.fired_at[r] is None:
                            self.fired_at[r] = position
                            if m.action == "stop":
                                self.stopping[r] = True
                            started = True
                if self.fired_at[r] is not None and m.action == "steer":
                    act[r, j] = True
                self.codes[r].append(codes[r, j])
                self.steered[r].append(bool(act[r, j]))
        if prefill or any(v.any() for v in valid):
            m._emit({"kind": "step", "generation": self.generation, "watch": self, "prefill": prefill})
        if self.intervention is not None and act.any():
            steered = self.intervention(h)
            mask = act.to(h.device)[..., None].to(h.dtype)
            return h + (steered - h) * mask
        return h

    def _event(self, r: int, position: int, j: int, i: int, value: float, action: str) -> None:
        m = self.monitor
        f = m.features[i]
        prompt_len = len(self.prompts[r])
        phase = "prompt" if position < prompt_len else "reply"
        event = Event(self.generation, r, position, phase, f, value, m.thresholds[f], action)
        with m._lock:
            m.events.append(event)
        if action == "stop":
            self.row_reasons[r] = (f"stopped: feature #{f}{' (' + m.labels[f] + ')' if m.labels.get(f) else ''} stayed "
                             f"above {m.thresholds[f]:.3g} for {m.consecutive} token(s) (activation {value:.3g}, "
                             f"{phase} position {position})")
            m.reasons.append(self.row_reasons[r])

    # transformers' LogitsProcessor interface: a stopping row's next token is its end token
    def logits_processor(self):
        watch = self
        end = min(self.eos) if self.eos else None

        class _StopRows:
            def __call__(self, input_ids, scores):
                if end is None or not any(watch.stopping):
                    return scores
                for r, stop in enumerate(watch.stopping):
                    if stop and not watch.done[r]:
                        scores[r] = float("-inf")
                        scores[r, end] = 0.0
                return scores

        return _StopRows()

    def read_tokens(self, tokens: list[int]) -> None:
        """The streamer's new token per row (after each decoding step)."""
        for r, token in enumerate(tokens):
            if self.done[r]:
                continue
            self.replies[r].append(token)
            if token in self.eos:
                self.done[r] = True

    def tokens(self, r: int) -> list[int]:
        return self.prompts[r] + self.replies[r]

    def values(self, r: int) -> np.ndarray:
        return torch.stack(self.codes[r]).numpy() if self.codes[r] else np.zeros((0, len(self.monitor.features)))

    def finish(self, cancelled: bool = False) -> None:
        """Store what this generation saw in the monitor; called once, in ``finally``."""
        if self.finished:
            return
        self.finished, self.cancelled = True, cancelled
        m, tok = self.monitor, self.monitor.ctx.tokenizer
        records = []
        for r in range(len(self.prompts)):
            ids = self.tokens(r)
            values = self.values(r)
            T = len(values)
            pieces = tok.batch_decode([[i] for i in ids[:T]]) if T else []
            phases = ["prompt" if p < len(self.prompts[r]) else "reply" for p in range(T)]
            records.append({"generation": self.generation, "row": r, "tokens": [display_token(p) for p in pieces],
                            "phases": phases, "codes": values, "steered": np.asarray(self.steered[r][:T], dtype=bool),
                            "stopped": self.stopping[r], "cancelled": cancelled})
            for e in m.events:
                if e.generation == self.generation and e.row == r and e.position < T:
                    e.token = display_token(pieces[e.position])
        with m._lock:
            m._records.extend(records)
        m._emit({"kind": "end", "generation": self.generation, "watch": self, "cancelled": cancelled})

    def reason(self, r: int) -> str | None:
        """Why row ``r`` stopped (None: it was not stopped)."""
        return self.row_reasons[r]

    def installed(self, model, point):
        """The hook on ``model`` at ``point``; removed (and the record kept) on the way out."""
        import contextlib

        @contextlib.contextmanager
        def cm():
            try:
                with edit(model, point, self):
                    yield self
            finally:
                self.finish()

        return cm()
