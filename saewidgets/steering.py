"""Interventions on SAE features at the hook point, applied to every position but the attention sink.

Strength units (``clamp`` and ``add``): multiples of the feature's maximum activation, taken from the
SAE's statistics (``sae.stats["max_activation"]``). Without statistics the unit is the raw activation
and a warning says so.

- clamp:     set feature f to ``strength x max_act[f]``; the SAE error term is kept, so
             ``x' = x + (target - z_f) W_dec[f]`` (everything the SAE does not explain is untouched).
- add:       ``x' = x + strength x max_act[f] x W_dec[f]``: the unit decoder row scaled by the maximum
             activation, so ``add`` at s adds what the feature firing at s times its maximum would add.
- ablate:    the feature set to zero: ``x' = x - z_f W_dec[f]``.
- amplify:   ``x' = x + ReLU(x S) diag(alpha) S^T`` over the chosen unit feature directions S, alpha the
             strengths (one alpha for all gives Wu et al. 2025's ``x + alpha ReLU(x S) S^T``); strength 0 is a
             no-op, -1 removes the features' positive projections.
- calibrate: ``x' = x - ReLU(x S) S^T + beta mean(S)`` (Wu et al. 2025); beta in units of the mean
             maximum activation of the chosen features.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator, Mapping

import torch

from . import topk_screen
from .activations import SINK_RATIO
from .checks import MAX_STRENGTH, check_feature, check_strength  # noqa: F401 - MAX_STRENGTH re-exported
from .hooks import HookPoint, edit

METHODS = ("clamp", "add", "ablate", "amplify", "calibrate")


def check_steer(steer: Mapping[int, float], method: str, d_sae: int) -> dict[int, float]:
    """Validate a ``{feature: strength}`` mapping; returns a clean copy."""
    if method not in METHODS:
        raise ValueError(f"unknown steering method {method!r}; use one of {', '.join(METHODS)}.")
    if not isinstance(steer, Mapping) or not steer:
        raise ValueError("steer must be a non-empty mapping {feature_index: strength}, e.g. {123: 10.0}.")
    clean = {}
    for feature, strength in steer.items():
        feature = check_feature(feature, d_sae)
        clean[feature] = check_strength(strength, feature)
    return clean


def max_activations(sae, features: list[int]) -> torch.Tensor:
    stats = getattr(sae, "stats", None)
    if stats is None or "max_activation" not in stats:
        warnings.warn("this SAE has no max-activation statistics: steering strengths are in raw activation "
                      "units instead of multiples of each feature's maximum.", stacklevel=3)
        return torch.ones(len(features))
    top = stats["max_activation"].float()
    unit = top[features].clone()
    never = [f for f, u in zip(features, unit.tolist()) if u <= 0]
    if never:
        # A feature that never fired while the statistics were taken has no maximum of its own.
        typical = top[top > 0].median() if (top > 0).any() else torch.tensor(1.0)
        warnings.warn(f"feature(s) {never} never fired in the SAE's statistics (dead features); their strength "
                      f"unit is the median maximum activation of the live features ({typical:.2f}).", stacklevel=3)
        unit[unit <= 0] = typical
    return unit


def feature_codes(sae, h: torch.Tensor, features: list[int], memory: dict | None = None) -> torch.Tensor:
    """Exactly ``sae.encode(h)[..., features]``, usually without running the whole encoder.

    Top-K: feature f is active where its pre-activation is positive and among the k largest. Two exact
    shortcuts skip the full fp32 ``d_in x d_sae`` encoder on most decoding steps: no asked feature has a
    positive pre-activation; or a cheaper encoder with a proven error bound decides (``topk_screen``).
    ``memory`` (a dict kept by the caller between steps) holds the asked features' encoder columns.
    """
    pre_sub = _pre_acts_of(sae, h, features, memory)
    arch = sae.cfg.architecture
    if arch == "relu":
        return pre_sub.relu()
    if arch != "topk":  # jumprelu, and batchtopk at inference
        return pre_sub.relu() * (pre_sub > sae.threshold[features].to(pre_sub.dtype))
    k = int(sae.cfg.k)
    if not (pre_sub > 0).any():
        return torch.zeros_like(pre_sub)
    if h.shape[1] == 1:  # a decoding step: a cheaper encoder with an error bound usually decides exactly
        decided = topk_screen.codes_if_decided(sae, h, pre_sub, k)
        if decided is not None:
            return decided
    kth = sae.pre_acts(h).topk(k, dim=-1).values[..., -1:]
    return torch.where(pre_sub >= kth, pre_sub.relu(), torch.zeros_like(pre_sub))


def _pre_acts_of(sae, h: torch.Tensor, features: list[int], memory: dict | None = None) -> torch.Tensor:
    x = h.to(sae.dtype)
    if sae.cfg.apply_b_dec_to_input:
        x = x - sae.b_dec
    W, b = _columns(sae, features, memory)
    pre = x @ W + b
    if sae.cfg.rescale_acts_by_decoder_norm:
        pre = pre * sae.W_dec[features].norm(dim=-1)
    return pre


def _columns(sae, features: list[int], memory: dict | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``W_enc[:, features]`` and ``b_enc[features]``; kept in ``memory`` (gathering columns is slow)."""
    key = (tuple(features), topk_screen.encoder_key(sae))
    if memory is not None and memory.get("columns", (None,))[0] == key:
        return memory["columns"][1:]
    W, b = sae.W_enc[:, features], sae.b_enc[features]
    if memory is not None and not torch.is_grad_enabled():  # a kept copy must not carry autograd history
        memory["columns"] = (key, W, b)
    return W, b


class Intervention:
    """``x -> x'`` on ``[batch, seq, d_model]`` activations, with one intervention per batch row.

    ``rows``: a list of ``(steer, method)`` (``steer`` a ``{feature: strength}`` mapping, or ``None`` for an
    unsteered row). A single row applies to every batch row. ``pad``: left-padding length of each row, so
    that the attention sink (the first real token) is found in padded batches.
    """

    def __init__(self, sae, rows, pad: list[int] | None = None):
        rows = [(None, "clamp") if steer is None else (check_steer(steer, method, sae.d_sae), method)
                for steer, method in rows]
        if not rows:
            raise ValueError("an intervention needs at least one row.")
        self.sae, self.pad = sae, pad
        features = sorted({f for steer, _ in rows if steer for f in steer})
        self.features = features
        n, b = len(features), len(rows)
        col = {f: i for i, f in enumerate(features)}
        strength, mask = torch.zeros(b, n), torch.zeros(b, n)
        for r, (steer, _) in enumerate(rows):
            for f, s in (steer or {}).items():
                strength[r, col[f]], mask[r, col[f]] = s, 1.0
        self.methods = [m if steer else None for steer, m in rows]
        self.unit = max_activations(sae, features) if features else torch.zeros(0)
        W = sae.W_dec[features].detach().float()
        self.W, self.directions = W, W / W.norm(dim=1, keepdim=True).clamp(min=1e-12)
        self.strength, self.mask = strength, mask
        self.row_of = {m: torch.tensor([[1.0 if mm == m else 0.0] for mm in self.methods]) for m in METHODS}
        self._device = None
        self._memory: dict = {}  # feature_codes' cached encoder columns

    def _on(self, device):
        if self._device != device:
            for name in ("W", "directions", "strength", "mask", "unit"):
                setattr(self, name, getattr(self, name).to(device))
            self.row_of = {m: rows.to(device) for m, rows in self.row_of.items()}
            self._device = device

    def _rows(self, method: str) -> torch.Tensor:
        """``[b, 1]``: 1 for the rows steered with ``method``."""
        return self.row_of[method]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.features:
            return x
        h = x.float()
        self._on(h.device)
        b = h.shape[0]
        if len(self.methods) not in (1, b):
            raise RuntimeError(f"intervention built for {len(self.methods)} rows, got a batch of {b}.")
        delta = torch.zeros_like(h)
        present = set(self.methods)
        S, M, unit = self.strength, self.mask, self.unit
        if present & {"clamp", "ablate"}:
            z = feature_codes(self.sae, h, self.features, self._memory).float()  # [b, s, n]
            target = S * unit * self._rows("clamp")                  # ablate rows: target 0
            which = M * (self._rows("clamp") + self._rows("ablate"))
            delta += ((target[:, None, :] - z) * which[:, None, :]) @ self.W
        if "add" in present:
            delta += ((S * unit * M * self._rows("add")) @ self.directions)[:, None, :]
        if present & {"amplify", "calibrate"}:
            proj = torch.relu(h @ self.directions.T)  # [b, s, n]
            if "amplify" in present:   # x + ReLU(xS) diag(alpha) S^T
                delta += (proj * (S * M * self._rows("amplify"))[:, None, :]) @ self.directions
            if "calibrate" in present:  # x - ReLU(xS) S^T + beta mean(S)
                cal = M * self._rows("calibrate")
                count = cal.sum(1, keepdim=True).clamp(min=1)
                beta = (S * unit * cal).sum(1, keepdim=True) / count  # mean strength x mean unit, per row
                mean_dir = (cal @ self.directions) / count
                delta += -(proj * cal[:, None, :]) @ self.directions + (beta * mean_dir)[:, None, :]
        if h.shape[1] > 1:  # a prefill: leave each row's attention sink alone
            delta *= _not_sink(h, self.pad)
        return (h + delta).to(x.dtype)


def intervention(sae, steer: Mapping[int, float], method: str = "clamp") -> Intervention:
    """A function ``x -> x'`` that applies the intervention to a ``[batch, seq, d_model]`` activation."""
    return Intervention(sae, [(steer, method)])


def _not_sink(h: torch.Tensor, pad: list[int] | None = None) -> torch.Tensor:
    """``[b, s, 1]`` mask: 0 at the attention sink (the first real position of a prefill), 1 elsewhere.

    Decoding steps (one position) never hold the sink. In a prefill the first real token of each row
    (after ``pad`` left-padding tokens) and any position with a norm far above the median are sinks.
    """
    keep = torch.ones(h.shape[:-1] + (1,), dtype=h.dtype, device=h.device)
    if h.shape[1] > 1:
        for r in range(h.shape[0]):
            keep[r, : (pad[r] if pad and len(pad) == h.shape[0] else 0) + 1] = 0
        norms = h.norm(dim=-1)
        keep[norms > SINK_RATIO * norms[:, 1:].median()] = 0
    return keep


@contextlib.contextmanager
def steering(model, sae, point: HookPoint, steer: Mapping[int, float], method: str = "clamp") -> Iterator[None]:
    """While active, every forward of ``model`` runs with the intervention at ``point``."""
    with edit(model, point, intervention(sae, steer, method)):
        yield


@contextlib.contextmanager
def batch_steering(model, sae, point: HookPoint, rows, pad: list[int] | None = None) -> Iterator[None]:
    """Like ``steering``, one ``(steer, method)`` a batch row (``steer=None``: that row unsteered)."""
    with edit(model, point, Intervention(sae, rows, pad)):
        yield


def steering_vector(sae, steer: Mapping[int, float]) -> torch.Tensor:
    """The summed direction ``sum_f strength_f x max_act[f] x W_dec[f]`` for use in other tools."""
    steer = check_steer(steer, "add", sae.d_sae)
    features = list(steer)
    W = sae.W_dec[features].detach().float()
    W = W / W.norm(dim=1, keepdim=True)
    scale = torch.tensor([steer[f] for f in features]) * max_activations(sae, features)
    return scale @ W
