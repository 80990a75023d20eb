"""Neighbouring features: the cosine similarity of SAE decoder rows, the directions features write.

Features whose decoder rows point the same way tend to mean related things (Scaling Monosemanticity:
the Golden Gate Bridge feature sits next to Alcatraz and San Francisco). One feature's neighbours
cost one matrix-vector product; everyone's come from a chunked matrix product.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

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


def neighbors_frame(ctx, feature: int, k: int = 10) -> pd.DataFrame:
    """``lab.neighbors(f, k)``: columns feature, cosine, label, explanation (vocabulary words), top_tokens.

    One matrix-vector product over the unit decoder rows (about a millisecond for 16k features); the
    explanations are looked up, never computed here unless the SAE has none yet.
    """
    sae = ctx.need_sae()
    feature = check_feature(feature, sae.d_sae)
    ids, cos = neighbors(sae, feature, check_k(k))
    ex = explanations_or_none(ctx)
    return pd.DataFrame({"feature": ids.astype(int), "cosine": cos.astype(float),
                         "label": feature_labels(ctx, ids),
                         "explanation": [", ".join(ex.top_words(int(f), 5)) if ex else "" for f in ids],
                         "top_tokens": [", ".join(repr(t) for t in ex.token_texts(ctx.tokenizer, ex.top_token_ids(int(f), 4)))
                                        if ex else "" for f in ids]})
