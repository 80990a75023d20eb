"""Attribution view: why did the model say that? Click a token, see the features that pushed it up and down.

    box = lab.attribution("What is the capital of France?")   # or attribution(lab, prompt)
    box.select(len(box.view.pieces))   # the next-token slot; any token index ≥ 1 attributes that token
    box.test(feature, "ablate")        # re-run with the feature zeroed: the target's probability before/after
    traitlets.link((box, "feature"), (other_view, "feature"))

The view (``js/src/views/attribution.ts``) shows the prompt and the model's reply as tokens (text as text,
never HTML). Clicking a reply token (or the slot after the reply) sends ``{"type": "attribute", "id", "index"}``;
clicking a bar selects its feature (``feature``, which opens its card below) and colours the prompt by where
that feature pushed; *ablate* / *steer* send ``{"type": "test", "id", "feature", "action", "strength"}``.
Answers come back in ``result`` and ``test`` with the request's id, so a late answer is never shown for a
newer click. The work runs in a background thread (one per view, newest request wins) and takes the
model's lock, so the kernel keeps answering and generations on the same model never overlap with it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import anywidget
import ipywidgets
import numpy as np
import torch
import traitlets as t

from ..analysis import attribution as attr
from ..analysis.labels import feature_labels
from ..checks import check_feature, check_strength
from ..generation import Worker
from . import codecs
from .bundle import esm
from .feature_card import feature_card
from .heatmap import SINK, SPECIAL
from .selection import FeatureSelection

BARS = 8            # features shown pushing up, and as many pushing down
STEER_STRENGTH = 1.0  # the steer button's default clamp strength: × the feature's max activation


class AttributionView(FeatureSelection, anywidget.AnyWidget):
    """The token view with its bars; ``feature`` is the feature selected in it."""

    prompt = t.Unicode("").tag(sync=True)
    pieces = t.List(t.Unicode()).tag(sync=True)     # the decoded text of every token (prompt, then reply)
    flags = t.Dict().tag(sync=True)                 # uint8 [T]: SINK | SPECIAL
    n_prompt = t.Int(0).tag(sync=True)              # tokens before the reply
    method = t.Unicode("logprob").tag(sync=True)
    selected = t.Int(None, allow_none=True).tag(sync=True)  # the token index being explained
    result = t.Dict().tag(sync=True)                # {"id", "index", "status", "target", "bars", "positions", ...}
    test_result = t.Dict().tag(sync=True)           # {"id", "feature", "action", "before", "after", ...}
    steer_strength = t.Float(STEER_STRENGTH).tag(sync=True)

    def __init__(self, lab, prompt: str, *, reply=None, max_new_tokens: int = 24, chat: bool = True,
                 method: str = "logprob", index: int | None = None, **kwargs):
        self._esm = esm("attribution")
        if method not in attr.METHODS:
            raise ValueError(f"unknown attribution method {method!r}; use 'logprob' or 'logit'.")
        self._lab = lab
        sae = lab.need_sae()
        prompt_ids = lab.chat_ids(prompt, chat)
        reply_ids = attr.reply_ids(lab, prompt_ids, max_new_tokens) if reply is None else attr.as_reply_ids(lab, reply)
        self._ids = list(prompt_ids) + list(reply_ids)
        pieces = lab.tokenizer.batch_decode([[i] for i in self._ids])
        special = set(getattr(lab.tokenizer, "all_special_ids", []) or [])
        flags = np.array([SPECIAL if i in special else 0 for i in self._ids], dtype=np.uint8)
        flags[0] |= SINK
        self._worker = Worker("saewidgets-attribution")
        self._lock = threading.Lock()
        self._job = None
        self._latest = {"attribute": 0, "test": 0}
        self._results: dict[int, attr.TargetAttribution] = {}
        super().__init__(d_sae=sae.d_sae, prompt=prompt, pieces=pieces, flags=codecs.encode(flags, "uint8"),
                         n_prompt=len(prompt_ids), method=method, **kwargs)
        self.on_msg(self._on_msg)
        first = index if index is not None else (len(prompt_ids) if reply_ids else len(self._ids))
        self.select(first)

    # ---- Python API

    @property
    def ids(self) -> list[int]:
        return list(self._ids)

    def select(self, index: int, request: int | None = None):
        """Attribute token ``index`` (1..len(pieces); ``len(pieces)`` is the next-token slot) in the background."""
        index = self._check_index(index)
        request = self._next("attribute", request)
        self.selected = index
        return self._submit(lambda job: self._attribute(request, index))

    def test(self, feature: int, action: str = "ablate", strength: float | None = None, request: int | None = None):
        """Re-run the selected target with ``feature`` ablated (zeroed at every position) or steered (clamped
        to ``strength`` × its max activation); ``test_result`` gets the target's probability before and after."""
        feature = check_feature(feature, self.d_sae)
        if action not in ("ablate", "steer"):
            raise ValueError(f"action is 'ablate' or 'steer' (got {action!r}).")
        strength = check_strength(self.steer_strength if strength is None else strength, feature)
        if self.selected is None:
            raise ValueError("select a token first: view.select(index).")
        request = self._next("test", request)
        index = self.selected
        return self._submit(lambda job: self._test(request, index, feature, action, strength))

    def wait(self, timeout: float | None = 300) -> bool:
        """Block until the latest request is answered (for scripts and tests)."""
        job = self._job
        return True if job is None else job.wait(timeout)

    def attribution(self) -> attr.TargetAttribution | None:
        """The shown target's full attribution (every feature at every position)."""
        return self._results.get(self.selected)

    # ---- the work, in the worker thread

    def _next(self, kind: str, request: int | None) -> int:
        with self._lock:
            self._latest[kind] = max(self._latest[kind] + 1, int(request or 0))
            return self._latest[kind]

    def _submit(self, fn):
        self._job = self._worker.submit(lambda job: None if job.cancelled else fn(job))
        return self._job

    def _check_index(self, index) -> int:
        n = len(self._ids)
        if isinstance(index, bool) or not hasattr(index, "__index__") or not 1 <= int(index) <= n:
            raise IndexError(f"token index {index!r} is out of range: pick 1..{n - 1}, or {n} for the next token "
                             "(token 0 is the attention sink).")
        return int(index)

    def _target(self, index: int) -> attr.Target:
        return attr.Target(index - 1, self._ids[index] if index < len(self._ids) else None)

    def _attribute(self, request: int, index: int) -> None:
        start = time.perf_counter()
        self._write("result", request, {"id": request, "index": index, "status": "running"})
        try:
            r = self._results.get(index)
            if r is None or r.method != self.method:
                r = attr.attribute_targets(self._lab, self._ids, [self._target(index)], self.method)[0]
                self._results[index] = r
            payload = self._payload(r)
        except Exception as err:  # shown in the view; hooks are already gone (hooks.edit)
            self._write("result", request, {"id": request, "index": index, "status": "error"},
                        f"{type(err).__name__}: {err}")
            return
        payload.update(id=request, index=index, status="done", seconds=round(time.perf_counter() - start, 2))
        self._write("result", request, payload, "")

    def _payload(self, r: attr.TargetAttribution) -> dict[str, Any]:
        features, sums = r.per_feature()
        up = [int(i) for i in torch.argsort(sums, descending=True)[:BARS] if sums[i] > 0]
        down = [int(i) for i in torch.argsort(sums)[:BARS] if sums[i] < 0]
        chosen = [int(features[i]) for i in up + down]
        labels = feature_labels(self._lab, chosen)
        rows = [r.by_position(f) for f in chosen]
        total = r.attribution.sum(-1) + r.error
        positions = torch.stack([*rows, total, r.error]) if rows else torch.stack([total, r.error])
        bars = [{"feature": f, "attribution": float(s), "label": label,
                 "activation": float((r.values * (r.indices == f)).amax())}
                for f, s, label in zip(chosen, [float(sums[i]) for i in up + down], labels)]
        return {"target": {"token": self._lab.tokenizer.decode([r.token]), "probability": r.probability,
                           "value": r.value, "method": r.method, "position": r.target.position},
                "bars": bars, "error": float(r.error.sum()), "total": r.total, "linearised": r.linearised,
                "positions": codecs.encode(positions.numpy(), "float32")}

    def _test(self, request: int, index: int, feature: int, action: str, strength: float) -> None:
        base = {"id": request, "index": index, "feature": feature, "action": action, "strength": strength}
        self._write("test_result", request, {**base, "status": "running"})
        try:
            target = self._target(index)
            r = self._results.get(index)
            token = r.token if r is not None else target.token
            steer = {feature: 1.0} if action == "ablate" else {feature: strength}
            method = "ablate" if action == "ablate" else "clamp"
            out = attr.intervened(self._lab, self._ids, target, token, steer, method)
        except Exception as err:
            self._write("test_result", request, {**base, "status": "error"}, f"{type(err).__name__}: {err}")
            return
        self._write("test_result", request, {**base, **out, "status": "done"}, "")

    def _write(self, name: str, request: int, value: dict, error: str | None = None) -> None:
        """Set ``name`` only for the newest request of its kind (a late answer is dropped)."""
        kind = "attribute" if name == "result" else "test"
        with self._lock:
            if request != self._latest[kind]:
                return
            with self.hold_sync():
                setattr(self, name, value)
                if error is not None:
                    self.error = error

    # ---- messages from the view

    def _on_msg(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        try:
            if content.get("type") == "attribute":
                self.select(int(content.get("index")), content.get("id"))
            elif content.get("type") == "test":
                strength = content.get("strength")
                self.test(int(content.get("feature")), str(content.get("action")),
                          None if strength is None else float(strength), content.get("id"))
        except (ValueError, IndexError, TypeError, t.TraitError) as err:
            self.error = str(err)

    @t.validate("method")
    def _valid_method(self, proposal):
        if proposal["value"] not in attr.METHODS:
            raise t.TraitError(f"unknown attribution method {proposal['value']!r}; use 'logprob' or 'logit'.")
        return proposal["value"]


class Attribution(ipywidgets.VBox):
    """The attribution view with the selected feature's card below it; ``feature`` is shared by both."""

    feature = t.Int(None, allow_none=True)

    def __init__(self, lab, prompt: str, *, card: bool = True, **kwargs):
        self.view = AttributionView(lab, prompt, **kwargs)
        self.card = feature_card(lab, None) if card else None
        super().__init__(children=[self.view] + ([self.card] if self.card is not None else []))
        self._links = [t.link((self, "feature"), (self.view, "feature"))]
        if self.card is not None:
            self._links.append(t.link((self, "feature"), (self.card, "feature")))

    def select(self, index: int):
        return self.view.select(index)

    def test(self, feature: int, action: str = "ablate", strength: float | None = None):
        return self.view.test(feature, action, strength)

    def wait(self, timeout: float | None = 300) -> bool:
        return self.view.wait(timeout)


def attribution(lab, prompt: str, *, reply=None, max_new_tokens: int = 24, chat: bool = True,
                method: str = "logprob", card: bool = True, **kwargs) -> Attribution:
    """``lab.attribution(prompt)``: the model's reply to ``prompt`` (or ``reply``) as clickable tokens."""
    return Attribution(lab, prompt, card=card, reply=reply, max_new_tokens=max_new_tokens, chat=chat,
                       method=method, **kwargs)
