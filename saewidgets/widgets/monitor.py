"""The monitor's live timeline: the reply's tokens coloured by the watched features, a sparkline per feature with
its threshold line, and the alerts with the action taken, as they happen.

    mon = lab.monitor([123], action="steer")
    mon.view()                       # a MonitorView; it follows every generation the monitor watches
    lab.steer([456], monitor=mon)    # the panel with the timeline beside it

The view (``js/src/views/monitor.ts``) only draws. Python sends, at most every ``THROTTLE_S`` and always at the
end of a generation, the shown row's whole timeline: token strings (shown as text), activations ``[T, n]`` as
float32 bytes, phase and steered flags as bytes, and the events. Updates come from the generation worker's
thread, like the steering panel's.
"""

from __future__ import annotations

import threading
import time

import anywidget
import numpy as np
import traitlets as t

from ..monitor import Monitor
from ..tokens import display_token
from .bundle import esm
from .codecs import encode

THROTTLE_S = 0.05


class MonitorView(anywidget.AnyWidget):
    """A live timeline of one ``Monitor``; build it with ``monitor.view()``."""

    features = t.List(t.Dict()).tag(sync=True)     # [{"feature", "label", "threshold"}]
    note = t.Unicode("").tag(sync=True)            # where the thresholds come from (a guess, calibrated, given)
    guess = t.Bool(False).tag(sync=True)
    action = t.Unicode("flag").tag(sync=True)      # "flag", "stop" or "steer (calibrate #1, #2)"
    consecutive = t.Int(1).tag(sync=True)
    tokens = t.List(t.Unicode()).tag(sync=True)    # display strings of the shown row's tokens
    values = t.Dict().tag(sync=True)               # float32 [T, n]: activations (codecs.encode)
    flags = t.Dict().tag(sync=True)                # uint8 [T]: bit 0 reply (else prompt), bit 1 steered
    events = t.List(t.Dict()).tag(sync=True)       # [{"position", "feature", "activation", "threshold", "action", "token"}]
    status = t.Unicode("idle").tag(sync=True)      # idle | running | done | stopped | cancelled
    reason = t.Unicode("").tag(sync=True)
    generation = t.Int(-1).tag(sync=True)

    def __init__(self, monitor: Monitor, *, row: int = -1, **kwargs):
        self._esm = esm("monitor")
        self._monitor, self._row = monitor, row
        self._last = 0.0
        self._pieces: list[str] = []
        self._lock = threading.Lock()
        super().__init__(**kwargs)
        self._describe()
        self._unsubscribe = monitor.subscribe(self._on_update)

    def _describe(self) -> None:
        m = self._monitor
        action = m.action
        if m.action == "steer":
            action = f"steer ({m.method} " + ", ".join(f"#{f} {s:g}" for f, s in m.steer.items()) + ")"
        with self.hold_sync():
            self.features = [{"feature": f, "label": m.labels.get(f, ""), "threshold": float(m.thresholds[f])}
                             for f in m.features]
            self.note, self.guess = m.threshold_note(), m.threshold_source == "guess"
            self.action, self.consecutive = action, m.consecutive

    def close(self) -> None:
        if hasattr(self, "_unsubscribe"):
            self._unsubscribe()
        super().close()

    # ---- updates from the monitor (generation thread)

    def _on_update(self, update: dict) -> None:
        kind, watch = update["kind"], update.get("watch")
        if kind == "start":
            with self._lock:
                self._pieces = []
            self._describe()  # thresholds may have been calibrated since
            with self.hold_sync():
                self.generation, self.status, self.reason, self.events = update["generation"], "running", "", []
                self.tokens, self.values, self.flags = [], encode(np.zeros((0, len(self._monitor.features))),
                                                                  "float32"), encode(np.zeros(0), "uint8")
            return
        now = time.perf_counter()
        if kind == "step" and now - self._last < THROTTLE_S:
            return
        self._last = now
        self._publish(watch, kind)

    def _publish(self, watch, kind: str) -> None:
        r = self._row if self._row >= 0 else len(watch.prompts) + self._row
        values = watch.values(r)
        T = len(values)
        ids = watch.tokens(r)[:T]
        with self._lock:
            new = ids[len(self._pieces):]
            if new:
                tok = self._monitor.ctx.tokenizer
                self._pieces.extend(display_token(p) for p in tok.batch_decode([[i] for i in new]))
            pieces = self._pieces[:T]
        prompt = len(watch.prompts[r])
        steered = watch.steered[r][:T]
        flags = np.array([(p >= prompt) | (bool(steered[p]) << 1) for p in range(T)], dtype=np.uint8)
        events = [{"position": e.position, "feature": e.feature, "activation": e.activation,
                   "threshold": e.threshold, "action": e.action, "phase": e.phase,
                   "token": pieces[e.position] if e.position < len(pieces) else ""}
                  for e in list(self._monitor.events) if e.generation == watch.generation and e.row == r]
        status = "running"
        if kind == "end":
            status = "cancelled" if update_cancelled(watch) else "stopped" if watch.stopping[r] else "done"
        with self.hold_sync():
            self.tokens, self.values, self.flags, self.events = pieces, encode(values, "float32"), \
                encode(flags, "uint8"), events
            self.status, self.reason = status, watch.row_reasons[r] or ""


def update_cancelled(watch) -> bool:
    return bool(getattr(watch, "cancelled", False))


class LiveMonitor(Monitor):
    """A ``Monitor`` that can show itself: ``view()`` is its live timeline (what ``lab.monitor`` returns)."""

    def view(self, row: int = -1) -> MonitorView:
        """The live timeline of this monitor's generations (``row``: which batch row, default the last)."""
        return MonitorView(self, row=row)
