"""Neighbouring features: by what fires together (co-activation) or by the directions features write.

- **decoder cosine**: features whose decoder rows point the same way (Scaling Monosemanticity: the
  Golden Gate Bridge feature sits next to Alcatraz and San Francisco). One feature's neighbours cost one
  matrix-vector product; everyone's come from a chunked matrix product.
- **co-activation** (``coactivation.py``): features that fire in the same 16-token segments of the
  corpus, gathered by ``lab.prepare``'s pass;
- **both**: co-activation phi plus half the decoder cosine: features that fire together *and* point alike.

On the default SAE the concept benchmark (``bench/concept_bench.py``, ``docs/explanations.md``) finds
co-activation neighbours on topic twice as often as decoder ones (coherence@10 0.38 vs 0.18; "both" 0.35),
so ``by="auto"`` takes co-activation when the SAE has the counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from . import coactivation
from .explain import explanations_or_none
from .labels import feature_labels
from ..checks import check_feature, check_k
from ..store import store_of


def unit_decoder(sae) -> torch.Tensor:
    """Decoder rows scaled to unit length (float32; kept in the SAE's store until the weights change)."""
    def build():
        w = sae.W_dec.detach().float()
        return w / w.norm(dim=1, keepdim=True).clamp(min=1e-12)

    return store_of(sae).derived("unit_decoder", build)


@torch.no_grad()
def neighbors(sae, feature: int, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` features whose decoder rows are closest in cosine to ``feature``'s: (ids, cosines)."""
    unit = unit_decoder(sae)
    cos = unit @ unit[feature]
    cos[feature] = -2.0  # not its own neighbour
    top = cos.topk(min(k, len(cos) - 1))
    return top.indices.cpu().numpy(), top.values.cpu().numpy()


@torch.no_grad()
def all_neighbors(sae, k: int = 8, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Every feature's ``k`` nearest neighbours, ``[d_sae, k]`` ids and cosines.

    Computed ``chunk`` rows at a time, so memory is ``chunk × d_sae`` rather than ``d_sae²``.
    """
    unit = unit_decoder(sae)
    n = len(unit)
    ids = np.empty((n, min(k, n - 1)), dtype=np.int64)
    cos = np.empty(ids.shape, dtype=np.float32)
    for lo in range(0, n, chunk):
        block = unit[lo:lo + chunk] @ unit.T
        rows = torch.arange(len(block))
        block[rows, rows + lo] = -2.0
        top = block.topk(ids.shape[1], dim=1)
        ids[lo:lo + chunk], cos[lo:lo + chunk] = top.indices.cpu().numpy(), top.values.cpu().numpy()
    return ids, cos


BY = ("auto", "both", "coactivation", "decoder")
AUTO = "coactivation"  # what "auto" means when the SAE has co-activation counts (the concept benchmark's choice)
COSINE_WEIGHT = 0.5  # "both": phi of co-activation + this × decoder cosine


def neighbor_ids(ctx, feature: int, k: int, by: str = "auto") -> tuple[np.ndarray, np.ndarray, str]:
    """``(ids, similarities, by)``: the ``k`` nearest features by co-activation (phi, from
    ``lab.prepare``), decoder cosine, or ``"both"`` (features that fire together *and* point alike: phi +
    ``COSINE_WEIGHT`` × cosine over both candidate lists); ``"auto"`` is ``AUTO`` when the SAE has
    co-activation counts, else decoder."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(map(repr, BY))} (got {by!r}).")
    sae = ctx.need_sae()
    if by != "decoder":
        table = coactivation.at_hand(ctx)
        if table is None and by != "auto":
            raise ValueError("this SAE has no co-activation counts yet: lab.prepare() gathers them in its pass "
                             "(minutes); or use by='decoder'.")
        if table is not None:
            ids, sims = table.of(feature, coactivation.TOP)
            ids, sims = _set_dense_apart(ctx, feature, ids, sims)
            # "auto": a feature that fires with too few others (rare, or dense) gets its decoder neighbours
            if by != "auto" or len(ids) >= k:
                by = AUTO if by == "auto" else by
                if by == "coactivation":
                    return ids[:k], sims[:k], by
                return (*_both(sae, feature, k, ids, sims), by)
    ids, cos = neighbors(sae, feature, k)
    return ids, cos, "decoder"


DENSE = 0.1  # a feature firing on more than this share of tokens co-fires with everything


def _set_dense_apart(ctx, feature: int, ids: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Co-activation partners with the dense ones moved to the end (unless the feature is dense itself)."""
    freq = ctx.stats.get("frequency")
    if freq is None or float(freq[feature]) > DENSE:
        return ids, sims
    dense = np.asarray(freq, dtype=np.float32)[ids] > DENSE
    order = np.argsort(dense, kind="stable")
    return ids[order], sims[order]


def _both(sae, feature: int, k: int, partner_ids: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    decoder_ids, _ = neighbors(sae, feature, coactivation.TOP)
    candidates = np.unique(np.concatenate([partner_ids, decoder_ids]))
    unit = unit_decoder(sae)
    cos = (unit[torch.as_tensor(candidates, device=unit.device)] @ unit[feature]).cpu().numpy()
    known = dict(zip(partner_ids.tolist(), phi.tolist()))
    score = np.array([max(known.get(int(c), 0.0), 0.0) for c in candidates]) + COSINE_WEIGHT * np.maximum(cos, 0)
    order = np.argsort(-score, kind="stable")[:k]
    return candidates[order].astype(np.int64), score[order].astype(np.float32)


def neighbors_frame(ctx, feature: int, k: int = 10, by: str = "auto") -> pd.DataFrame:
    """``lab.neighbors(f, k, by)``: columns feature, similarity, cosine (of decoder rows, whatever ``by``),
    density, label, explanation (the shown explanation's words), top_tokens; ``df.attrs["by"]`` says which.

    The explanations are looked up, never computed here unless the SAE has none yet.
    """
    sae = ctx.need_sae()
    feature = check_feature(feature, sae.d_sae)
    ids, sims, used = neighbor_ids(ctx, feature, check_k(k), by)
    unit = unit_decoder(sae)
    cos = (unit[torch.as_tensor(ids, dtype=torch.long, device=unit.device)] @ unit[feature]).cpu().numpy()
    freq = ctx.stats.get("frequency")
    ex = explanations_or_none(ctx)
    df = pd.DataFrame({"feature": ids.astype(int), "similarity": sims.astype(float), "cosine": cos.astype(float),
                       "density": [float(freq[f]) for f in ids] if freq is not None else np.nan,
                       "label": feature_labels(ctx, ids),
                       "explanation": [", ".join(ex.shown(int(f), ctx.tokenizer, 5)[1]) if ex else "" for f in ids],
                       "top_tokens": [", ".join(repr(t) for t in ex.token_texts(ctx.tokenizer, ex.top_token_ids(int(f), 4)))
                                      if ex else "" for f in ids]})
    df.attrs["by"] = used
    return df
