"""How good is an SAE on some text: sparsity, reconstruction, and what splicing it in costs the model.

- ``l0``: mean number of active features per token;
- ``fvu``: fraction of variance unexplained, sum|x - x_hat|^2 / sum|x - mean(x)|^2;
- ``ce_loss_recovered``: (CE_zero - CE_sae) / (CE_zero - CE_clean), SAEBench's formula with zero
  ablation: 1 means splicing the SAE in costs nothing, 0 means it is as bad as deleting the stream;
- ``kl_div``: mean KL(clean || spliced) of the next-token distributions;
- ``dead_fraction`` / ``dense_fraction``: features that never fire / fire on more than 10% of tokens.
  Both need enough text to mean anything: a feature of average density fires on l0 / d_sae of the
  tokens, so in n tokens it is expected ``n · l0 / d_sae`` times and is silent by chance with probability
  about ``exp(-n · l0 / d_sae)``. Below ``MIN_EXPECTED_FIRINGS`` (10) expected firings, i.e. fewer than
  ``10 · d_sae / l0`` tokens (2,560 for 16,384 features at L0 64; e^-10 ≈ 0.005% of healthy features
  look dead there), both are NaN, with a warning and a ``note`` in the result saying why and how many
  tokens would do (``min_tokens``): 66 tokens would otherwise read "95% dead".

Attention-sink positions (the first token) are left clean in every spliced run and out of every metric:
the SAE was not trained on them.
"""

from __future__ import annotations

import math
import warnings
from typing import Iterable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .activations import sink_mask
from .hooks import capture, edit
from .corpus import token_windows

DENSE_THRESHOLD = 0.10
MIN_EXPECTED_FIRINGS = 10  # per feature of average density, before dead/dense shares are reported


@torch.no_grad()
def evaluate(lab, texts: Iterable[str] | str, max_tokens: int = 20_000, seq_len: int = 128, batch_size: int = 8,
             progress: bool = True) -> dict:
    """Evaluate ``lab.sae`` on ``texts`` (up to ``max_tokens`` tokens, in windows of ``seq_len``)."""
    sae = lab.need_sae()
    texts = [texts] if isinstance(texts, str) else list(texts)
    if len(texts) < 256:  # a handful of short texts: shrink the window so they fill at least one
        ids = lab.tokenizer(texts, add_special_tokens=False, verbose=False).input_ids
        seq_len = max(2, min(seq_len, sum(len(i) + 1 for i in ids)))
    windows = []
    for window in token_windows(lab.tokenizer, texts, seq_len=seq_len):
        windows.append(torch.as_tensor(window))
        if len(windows) * seq_len >= max_tokens:
            break
    if not windows:
        raise ValueError("evaluate needs some text: pass a non-empty list of strings.")
    totals = dict(tokens=0, sq_err=0.0, sum_x=0.0, sum_x2=0.0, active=0.0, ce_clean=0.0, ce_sae=0.0, ce_zero=0.0, kl=0.0)
    fired = torch.zeros(sae.d_sae)
    for start in tqdm(range(0, len(windows), batch_size), desc="evaluate", disable=not progress):
        ids = torch.stack(windows[start:start + batch_size]).to(lab.device)
        _evaluate_batch(lab, sae, ids, totals, fired)
    n = totals["tokens"]
    variance = totals["sum_x2"] - (totals["sum_x"] ** 2).sum() / n
    ce_clean, ce_sae, ce_zero = (totals[k] / n for k in ("ce_clean", "ce_sae", "ce_zero"))
    l0 = totals["active"] / n
    dead = float((fired == 0).float().mean())
    dense = float((fired / n > DENSE_THRESHOLD).float().mean())
    extra = {}
    min_tokens = min_tokens_for_shares(sae.d_sae, l0)
    if n < min_tokens:
        note = (f"dead_fraction and dense_fraction need at least {min_tokens:,} tokens for this SAE "
                f"({MIN_EXPECTED_FIRINGS} × d_sae {sae.d_sae:,} / L0 {l0:.1f}: a feature of average density "
                f"would fire {MIN_EXPECTED_FIRINGS} times); {n:,} tokens are too few, so they are NaN. "
                f"In these {n:,} tokens {int((fired > 0).sum()):,} of {sae.d_sae:,} features fired "
                f"(not firing in so little text does not make a feature dead).")
        warnings.warn(note, stacklevel=2)
        dead = dense = math.nan
        extra = {"note": note, "min_tokens": min_tokens}
    return {
        "tokens": n,
        "l0": l0,
        "fvu": float(totals["sq_err"] / variance),
        "ce_clean": ce_clean,
        "ce_sae": ce_sae,
        "ce_zero_ablation": ce_zero,
        "ce_increase": ce_sae - ce_clean,
        "ce_loss_recovered": (ce_zero - ce_sae) / (ce_zero - ce_clean),
        "kl_div": totals["kl"] / n,
        "dead_fraction": dead,
        "dense_fraction": dense,
        **extra,
    }


def min_tokens_for_shares(d_sae: int, l0: float) -> int:
    """Tokens in which a feature of average density (l0 / d_sae) is expected to fire MIN_EXPECTED_FIRINGS times."""
    return math.ceil(MIN_EXPECTED_FIRINGS * d_sae / max(l0, 1e-9)) if l0 > 0 else 0


def _evaluate_batch(lab, sae, ids, totals, fired):
    model, point = lab.model, lab.hook
    with capture(model, point) as box:
        clean_logits = model(input_ids=ids, use_cache=False).logits
    x = box.value
    sink = sink_mask(x)
    keep = (~sink).unsqueeze(-1)
    out = sae(x.to(sae.dtype))
    recon = out.reconstruction.to(x.dtype)
    with edit(model, point, lambda h: torch.where(keep, recon, h)):
        sae_logits = model(input_ids=ids, use_cache=False).logits
    with edit(model, point, lambda h: torch.where(keep, torch.zeros_like(h), h)):
        zero_logits = model(input_ids=ids, use_cache=False).logits

    # Next-token predictions at positions whose *input* activation was not a sink.
    pred = ~sink[:, :-1]
    targets = ids[:, 1:][pred]
    logp_clean = F.log_softmax(clean_logits[:, :-1][pred].float(), -1)
    logp_sae = F.log_softmax(sae_logits[:, :-1][pred].float(), -1)
    logp_zero = F.log_softmax(zero_logits[:, :-1][pred].float(), -1)
    n_pred = len(targets)
    scale = (~sink).sum().item() / max(n_pred, 1)  # CE/KL are averaged per token like the other metrics
    totals["ce_clean"] += F.nll_loss(logp_clean, targets, reduction="sum").item() * scale
    totals["ce_sae"] += F.nll_loss(logp_sae, targets, reduction="sum").item() * scale
    totals["ce_zero"] += F.nll_loss(logp_zero, targets, reduction="sum").item() * scale
    totals["kl"] += F.kl_div(logp_sae, logp_clean, log_target=True, reduction="sum").item() * scale

    xs = x[~sink].float()
    feats = out.features[~sink].float()
    totals["tokens"] += len(xs)
    totals["sq_err"] += (xs - recon[~sink].float()).pow(2).sum().item()
    totals["sum_x"] = totals["sum_x"] + xs.sum(0).cpu().double()
    totals["sum_x2"] += xs.double().pow(2).sum().item()
    active = feats > 0
    totals["active"] += active.sum().item()
    fired += active.sum(0).cpu().float()
