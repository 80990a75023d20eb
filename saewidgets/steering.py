"""Interventions on SAE features at the hook point, applied to every position but the attention sink.

Strength units (``clamp`` and ``add``): multiples of the feature's maximum activation, taken from the
SAE's statistics (``sae.stats["max_activation"]``). Without statistics the unit is the raw activation
and a warning says so.

- clamp:     set feature f to ``strength x max_act[f]``; the SAE error term is kept, so
             ``x' = x + (target - z_f) W_dec[f]`` (everything the SAE does not explain is untouched).
- add:       ``x' = x + strength x max_act[f] x W_dec[f]``: the unit decoder row scaled by the maximum
             activation, so ``add`` at s adds what the feature firing at s times its maximum would add.
- ablate:    the feature set to zero: ``x' = x - z_f W_dec[f]``.
- amplify:   ``x' = x + alpha ReLU(x S) S^T`` over the chosen feature directions S (Wu et al. 2025).
- calibrate: ``x' = x - ReLU(x S) S^T + beta mean(S)`` (Wu et al. 2025); beta in units of the mean
             maximum activation of the chosen features.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Iterator, Mapping

import torch

from .activations import SINK_RATIO
from .hooks import HookPoint, edit

METHODS = ("clamp", "add", "ablate", "amplify", "calibrate")
MAX_STRENGTH = 1000.0


def check_steer(steer: Mapping[int, float], method: str, d_sae: int) -> dict[int, float]:
    """Validate a ``{feature: strength}`` mapping; returns a clean copy."""
    if method not in METHODS:
        raise ValueError(f"unknown steering method {method!r}; use one of {', '.join(METHODS)}.")
    if not isinstance(steer, Mapping) or not steer:
        raise ValueError("steer must be a non-empty mapping {feature_index: strength}, e.g. {123: 10.0}.")
    clean = {}
    for feature, strength in steer.items():
        feature = check_feature(feature, d_sae)
        try:
            strength = float(strength)
        except (TypeError, ValueError):
            raise ValueError(f"strength for feature {feature} must be a number (got {strength!r}).") from None
        if not math.isfinite(strength) or abs(strength) > MAX_STRENGTH:
            raise ValueError(f"strength {strength} for feature {feature} is out of range: use a finite number "
                             f"between {-MAX_STRENGTH:g} and {MAX_STRENGTH:g} (10 is already very strong).")
        clean[feature] = strength
    return clean


def check_feature(feature, d_sae: int) -> int:
    if isinstance(feature, bool) or not isinstance(feature, (int,)) and not hasattr(feature, "__index__"):
        raise ValueError(f"feature index must be an integer (got {feature!r}).")
    feature = int(feature)
    if not 0 <= feature < d_sae:
        raise IndexError(f"feature {feature} is out of range: this SAE has features 0..{d_sae - 1}.")
    return feature


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


def intervention(sae, steer: Mapping[int, float], method: str = "clamp"):
    """A function ``x -> x'`` that applies the intervention to a ``[batch, seq, d_model]`` activation."""
    steer = check_steer(steer, method, sae.d_sae)
    features = list(steer)
    strength = torch.tensor([steer[f] for f in features])
    unit = max_activations(sae, features)
    W = sae.W_dec[features].detach().float()  # [n, d_model]
    directions = W / W.norm(dim=1, keepdim=True)

    def apply(x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        if method in ("clamp", "ablate"):
            z = sae.encode(h.to(sae.dtype)).float()[..., features]  # [b, s, n]
            target = strength * unit if method == "clamp" else torch.zeros_like(strength)
            delta = (target.to(h.device) - z) @ W.to(h.device)
        elif method == "add":
            delta = ((strength * unit).to(h.device) @ directions.to(h.device)).expand_as(h)
        elif method == "amplify":
            delta = strength.mean().item() * torch.relu(h @ directions.T.to(h.device)) @ directions.to(h.device)
        else:  # calibrate
            proj = torch.relu(h @ directions.T.to(h.device)) @ directions.to(h.device)
            beta = strength.mean().item() * unit.mean().item()
            delta = -proj + beta * directions.mean(0).to(h.device)
        keep = _not_sink(h)
        return (h + delta * keep).to(x.dtype)

    return apply


def _not_sink(h: torch.Tensor) -> torch.Tensor:
    """``[b, s, 1]`` mask: 0 at the attention sink (the first position of a prefill), 1 elsewhere."""
    keep = torch.ones(h.shape[:-1] + (1,), dtype=h.dtype, device=h.device)
    if h.shape[1] > 1:
        keep[:, 0] = 0
        norms = h.norm(dim=-1)
        keep[norms > SINK_RATIO * norms[:, 1:].median()] = 0
    return keep


@contextlib.contextmanager
def steering(model, sae, point: HookPoint, steer: Mapping[int, float], method: str = "clamp") -> Iterator[None]:
    """While active, every forward of ``model`` runs with the intervention at ``point``."""
    with edit(model, point, intervention(sae, steer, method)):
        yield


def steering_vector(sae, steer: Mapping[int, float]) -> torch.Tensor:
    """The summed direction ``sum_f strength_f x max_act[f] x W_dec[f]`` for use in other tools."""
    steer = check_steer(steer, "add", sae.d_sae)
    features = list(steer)
    W = sae.W_dec[features].detach().float()
    W = W / W.norm(dim=1, keepdim=True)
    scale = torch.tensor([steer[f] for f in features]) * max_activations(sae, features)
    return scale @ W
