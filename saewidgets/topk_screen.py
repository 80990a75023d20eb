"""Is a feature in a Top-K SAE's top k? An exact answer from a half-precision encoder, most of the time.

Steering by clamping needs a feature's exact Top-K code at every decoding step, so it must know whether
the feature's pre-activation is among the k largest of all ``d_sae``. The full fp32 encoder product
(576 x 16,384 for the default SAE, ~3 ms a token on a CPU) is most of the cost of steered generation.
On a CPU the same product in fp16 (one row) or bf16 (several rows) is 2-4x faster, and with a proven bound
on its error it decides membership exactly: every true pre-activation lies within ``delta_j`` of the
approximate one, so the true k-th largest value lies between the k-th largest of ``approx - delta`` and
of ``approx + delta``. A feature above the upper one is in the top k; below the lower one, it is not; only
a feature inside that narrow band (~0.1% of a pre-activation in fp16, ~1% in bf16) needs fp32.

The bound, for ``x`` and ``w_j`` rounded to the half type (unit roundoff u: 2^-11 for fp16, 2^-8 for
bf16), sums in fp32 and the result rounded to the half type:
``|approx_j - pre_j| <= 2.1 u ||x|| ||w_j|| + u |approx_j|`` (Cauchy-Schwarz bounds ``sum_i |x_i w_ij|``).
We use twice that. It assumes the CPU kernel sums in fp32, which a probe checks once per type; where it
does not, or where no half type is faster than fp32, the screen is off and the fp32 encoder runs.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

_ROUNDOFF = {torch.float16: 2.0 ** -11, torch.bfloat16: 2.0 ** -8}
_SAFETY = 2.0
_CHOICE: dict[bool, torch.dtype | None] = {}  # one row or several -> the fastest exact-enough type


def codes_if_decided(sae, h: torch.Tensor, pre_sub: torch.Tensor, k: int, memory: dict | None):
    """The Top-K codes of the asked features (``pre_sub``, exact fp32 pre-activations), or None if undecided.

    ``h``: ``[batch, 1, d_in]`` activations of one decoding step on the CPU. Updates ``memory["recent"]``
    with the (approximate) top-k features, a hint for the cheaper screen of the next step.
    """
    if h.device.type != "cpu" or sae.cfg.rescale_acts_by_decoder_norm:
        return None
    dtype = screen_dtype(h.shape[0] > 1)
    if dtype is None:
        return None
    x = h.float()
    if sae.cfg.apply_b_dec_to_input:
        x = x - sae.b_dec.detach().float()
    W_half, col_norm = _half_encoder(sae, dtype)
    product = F.linear(x.to(dtype), W_half).float()
    if not torch.isfinite(product).all():  # overflow of the half type: leave it to fp32
        return None
    approx = product + sae.b_enc.detach().float()
    u = _ROUNDOFF[dtype]
    delta = _SAFETY * (2.1 * u * x.norm(dim=-1, keepdim=True) * col_norm + u * product.abs()) + 1e-6
    upper = (approx + delta).topk(k, dim=-1).values[..., -1:]  # >= the true k-th largest
    lower = (approx - delta).topk(k, dim=-1).values[..., -1:]  # <= the true k-th largest
    inside, outside = pre_sub >= upper, pre_sub < lower
    if memory is not None:
        memory["recent"] = approx.topk(k, dim=-1).indices.reshape(-1).unique().tolist()
    if not (inside | outside).all():
        return None
    return torch.where(inside, pre_sub.relu(), torch.zeros_like(pre_sub))


def _half_encoder(sae, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``W_enc`` transposed in ``dtype`` and its column norms, cached until the weights change."""
    W = sae.W_enc
    key = (W.data_ptr(), W._version, W.device)
    caches = getattr(sae, "_half_encoder_cache", None)
    if caches is None or caches["key"] != key:  # new weights: drop every copy
        caches = sae._half_encoder_cache = {"key": key, "norm": W.detach().float().norm(dim=0)}
    if dtype not in caches:  # one copy per type: a sweep (bf16) and a single row (fp16) alternate freely
        caches[dtype] = W.detach().float().t().contiguous().to(dtype)
    return caches[dtype], caches["norm"]


def screen_dtype(several_rows: bool) -> torch.dtype | None:
    """The half type that is exact enough (sums in fp32) and fastest here, or None (checked once)."""
    if several_rows not in _CHOICE:
        _CHOICE[several_rows] = _probe(5 if several_rows else 1)
    return _CHOICE[several_rows]


def _probe(rows: int) -> torch.dtype | None:
    g = torch.Generator().manual_seed(0)
    W = torch.randn(8192, 576, generator=g)
    x = torch.randn(rows, 576, generator=g) * 10
    timings = {torch.float32: _time(x, W)}
    for dtype, u in _ROUNDOFF.items():
        # Summing in the half type would lose the small terms after a large one: 2048 + 575 x 1 != 2623.
        ones = torch.ones(1, 576, dtype=dtype)
        big = ones.clone()
        big[0, 0] = 2048
        if abs(F.linear(big, ones).float().item() - 2623) > 2623 * u:
            continue
        bound = 2.1 * u * x.norm(dim=1, keepdim=True) * W.norm(dim=1) + u * (x @ W.T).abs()
        if ((F.linear(x.to(dtype), W.to(dtype)).float() - x @ W.T).abs() > bound).any():
            continue
        timings[dtype] = _time(x.to(dtype), W.to(dtype))
    best = min(timings, key=timings.get)
    return best if best != torch.float32 and timings[best] < 0.8 * timings[torch.float32] else None


def _time(x: torch.Tensor, W: torch.Tensor) -> float:
    F.linear(x, W)
    start = time.perf_counter()
    for _ in range(10):
        F.linear(x, W)
    return time.perf_counter() - start
