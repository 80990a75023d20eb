"""Is a feature in a Top-K SAE's top k? An exact answer from a low-precision encoder, most of the time.

Steering by clamping needs a feature's exact Top-K code at every decoding step, so it must know whether
the feature's pre-activation is among the k largest of all ``d_sae``. The full fp32 encoder product
(576 x 16,384 for the default SAE: 38 MB of weights, read from memory at every token because the model's
own weights push it out of the cache) is most of the cost of steered generation on a CPU. A cheaper
product with a proven bound on its error decides membership exactly: every true pre-activation lies
within ``delta_j`` of the approximate one, so the true k-th largest value lies between the k-th largest of
``approx - delta`` and of ``approx + delta``. A feature above the upper one is in the top k; below the
lower one, it is not; only a feature inside that narrow band needs the fp32 encoder.

Three cheaper products, whichever is fastest on this CPU (a probe times once those the CPU computes in
hardware, by the flags it reports; an emulated half product can be 100x slower than fp32, so it is never run):

- int8 (``torch._int_mm``, 4x fewer bytes): x is rounded per row to ``s_x q_x`` and each encoder column
  to ``s_j q_j``; the integer product is exact (int32), so with the rounding errors ``e_x = x - s_x q_x``
  and ``e_j = w_j - s_j q_j``, ``x.w_j - s_x s_j q_x.q_j = x.e_j + e_x.w_j - e_x.e_j``, bounded by
  Cauchy-Schwarz: ``||x|| ||e_j|| + ||e_x|| ||w_j|| + ||e_x|| ||e_j||``. Band ~1% of ``||x|| ||w_j||``.
- fp16 / bf16 (unit roundoff u: 2^-11 / 2^-8), summed in fp32 and rounded to the half type:
  ``|approx_j - pre_j| <= 2.1 u ||x|| ||w_j|| + u |approx_j|``. We use twice that, as the summation
  order is the kernel's; the probe checks that it sums in fp32.

Where no product is exact enough or faster than fp32, the screen is off and the fp32 encoder runs.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .store import store_of

INT8 = "int8"
_ROUNDOFF = {torch.float16: 2.0 ** -11, torch.bfloat16: 2.0 ** -8}
_KINDS = (INT8, torch.float16, torch.bfloat16)
_FP32_SLACK = 2.0 ** -20  # the fp32 roundings in scaling the exact integer product and in the bound itself
_CHOICE: dict[bool, object] = {}  # one row or several -> the fastest exact-enough kind, or None


def codes_if_decided(sae, h: torch.Tensor, pre_sub: torch.Tensor, k: int) -> torch.Tensor | None:
    """The Top-K codes of the asked features (``pre_sub``, exact fp32 pre-activations), or None if undecided.

    ``h``: ``[batch, 1, d_in]`` activations of one decoding step on the CPU, for an fp32 SAE.
    """
    if h.device.type != "cpu" or sae.dtype != torch.float32 or sae.cfg.rescale_acts_by_decoder_norm:
        return None  # the bounds are against the fp32 product the SAE itself computes
    kind = screen_kind(h.shape[0] > 1)
    if kind is None:
        return None
    x = h.float().reshape(-1, h.shape[-1])
    if sae.cfg.apply_b_dec_to_input:
        x = x - sae.b_dec.detach().float()
    enc = _encoder(sae, kind)
    product, error = product_and_error(enc, kind, x)
    if kind != INT8 and not torch.isfinite(product).all():  # overflow of a half type: leave it to fp32
        return None
    approx = product.add_(enc["b"])
    asked = pre_sub.reshape(x.shape[0], -1, 1)  # [batch, features, 1]
    # Counting instead of the k-th largest value (same answer, no sort): at most `rivals` features can
    # beat an asked one (itself counted, to be safe), at least `beaten_by` surely do.
    rivals = torch.count_nonzero((approx + error)[:, None, :] > asked, dim=-1)
    beaten_by = torch.count_nonzero((approx - error)[:, None, :] > asked, dim=-1)
    inside, outside = rivals < k, beaten_by >= k
    if not (inside | outside).all():
        return None
    return torch.where(inside.reshape(pre_sub.shape), pre_sub.relu(), torch.zeros_like(pre_sub))


def product_and_error(enc: dict[str, torch.Tensor], kind, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x @ W_enc`` in the cheap kind (``enc`` from ``prepare``), and a bound on each entry's distance
    from the exact product (and from the exact ``x @ W_enc + b_enc`` once ``enc["b"]`` is added in fp32)."""
    x_norm = x.norm(dim=-1, keepdim=True)
    if kind == INT8:
        scale = (x.abs().amax(dim=-1, keepdim=True) / 127).clamp(min=torch.finfo(torch.float32).tiny)
        q = torch.round(x / scale).clamp_(-127, 127)
        e_x = (x - q * scale).norm(dim=-1, keepdim=True)
        product = torch._int_mm(q.to(torch.int8), enc["q"].t()).float().mul_(scale).mul_(enc["scale"])
        # ||x|| c1_j + ||e_x|| c2_j + floor_j in one small matrix product (see ``prepare``).
        return product, torch.addmm(enc["floor"], torch.cat([x_norm, e_x], dim=1), enc["rows"])
    u = _ROUNDOFF[kind]
    product = F.linear(x.to(kind), enc["w"]).float()
    return product, 2.0 * (2.1 * u * x_norm * enc["w_norm"] + u * product.abs()) + enc["floor"]


def encoder_key(sae) -> tuple:
    """Changes whenever the encoder's weights or bias change (in place or replaced): the key of its copies."""
    W, b = sae.W_enc, sae.b_enc
    return (W.data_ptr(), W._version, b.data_ptr(), b._version, W.device)


def _encoder(sae, kind) -> dict[str, torch.Tensor]:
    """``W_enc`` prepared for ``kind`` (transposed, one row a feature), cached until the weights change."""
    W, b = sae.W_enc, sae.b_enc
    # one copy per kind (a sweep and a single row may use different kinds), in the SAE's store
    return store_of(sae).derived(f"topk_screen:{kind}", lambda: prepare(W.detach().float().t().contiguous(), kind,
                                                                          b.detach().float()), encoder_key(sae))


def prepare(W_t: torch.Tensor, kind, b: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The cheap copy of ``W_t`` (``[d_sae, d_in]``, fp32) and the constants of its error bound.

    ``floor``: 1e-6, plus the fp32 rounding of adding the bias ``b``.
    """
    b = torch.zeros(W_t.shape[0]) if b is None else b
    w_norm = W_t.norm(dim=1)
    floor = 1e-6 + _FP32_SLACK * b.abs()
    if kind != INT8:
        return {"w": W_t.to(kind), "w_norm": w_norm, "floor": floor, "b": b}
    scale = (W_t.abs().amax(dim=1, keepdim=True) / 127).clamp(min=torch.finfo(torch.float32).tiny)
    q = torch.round(W_t / scale).clamp_(-127, 127)
    # The rounding error's norm, computed in fp32: q * scale is rounded by at most 2^-24 |w|, so the true
    # norm is within 2^-23 ||w_j|| of the computed one.
    e_norm = (W_t - q * scale).norm(dim=1) * (1 + _FP32_SLACK) + 2 ** -22 * w_norm
    # |x.w_j - approx_j| <= ||x|| ||e_j|| + ||e_x|| (||w_j|| + ||e_j||), with 10% to spare, plus the fp32
    # roundings (relative 2^-22 of |approx_j| <= 2 ||x|| (||w_j|| + ||e_j||)), folded into the first row.
    rows = torch.stack([1.1 * e_norm + 4 * _FP32_SLACK * (w_norm + e_norm), 1.1 * (w_norm + e_norm)])
    return {"q": q.to(torch.int8), "scale": scale.T.contiguous(), "rows": rows, "floor": floor, "b": b}


# The CPU flags (Linux /proc/cpuinfo: x86 "flags", Arm "Features") saying a kind's products run in hardware.
_NATIVE_FLAGS = {
    torch.bfloat16: {"avx512_bf16", "amx_bf16", "bf16"},
    torch.float16: {"avx512_fp16", "amx_fp16", "fphp", "asimdhp"},
    INT8: {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"},
}


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The feature flags the CPU reports (empty where there is no /proc/cpuinfo: macOS, Windows)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def native_on_cpu(kind) -> bool:
    """Does this CPU say it computes ``kind`` (INT8, bf16, fp16) products in hardware? No timing, no cost.

    Where the CPU reports nothing, only INT8 counts: its products are integer SIMD everywhere, while
    emulated half products are the ones that cost 100x (13.9 s of probing on an AMD EPYC without bf16).
    """
    flags = cpu_flags()
    if not flags:
        return kind == INT8
    return bool(flags & _NATIVE_FLAGS[kind])


def screen_kind(several_rows: bool):
    """The cheap kind that is exact enough and fastest here (INT8, a half dtype), or None (checked once)."""
    if several_rows not in _CHOICE:
        _CHOICE[several_rows] = _probe(5 if several_rows else 1)
    return _CHOICE[several_rows]


def _probe(rows: int):
    g = torch.Generator().manual_seed(0)
    W_t = torch.randn(8192, 576, generator=g)
    x = torch.randn(rows, 576, generator=g) * 10
    exact = x.double() @ W_t.double().T
    timings = {"fp32": _time(lambda: F.linear(x, W_t))}
    for kind in _KINDS:
        if not native_on_cpu(kind):
            continue
        try:
            if not _kernel_is_exact_enough(kind):
                continue
            enc = prepare(W_t, kind)
            product, error = product_and_error(enc, kind, x)
        except (RuntimeError, AttributeError):  # no such kernel in this build of torch
            continue
        if ((product.double() - exact).abs() > error.double()).any():
            continue
        timings[kind] = _time(lambda: product_and_error(enc, kind, x))
    best = min(timings, key=timings.get)
    return best if best != "fp32" and timings[best] < 0.8 * timings["fp32"] else None


def _kernel_is_exact_enough(kind) -> bool:
    """The bounds assume sums in fp32 (half types) or exact int32 sums (int8)."""
    if kind == INT8:
        a = torch.full((1, 576), 127, dtype=torch.int8)
        return torch._int_mm(a, a.t()).item() == 127 * 127 * 576
    # Summing in the half type would lose the small terms after a large one: 2048 + 575 x 1 != 2623.
    ones = torch.ones(1, 576, dtype=kind)
    big = ones.clone()
    big[0, 0] = 2048
    return abs(F.linear(big, ones).float().item() - 2623) <= 2623 * _ROUNDOFF[kind]


def _time(fn) -> float:
    """The best of five rounds of five calls: a probe taken once must not trust one noisy round."""
    fn()
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(5):
            fn()
        rounds.append(time.perf_counter() - start)
    return min(rounds)
