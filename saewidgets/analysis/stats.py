"""Per-feature statistics the views and steering need: maximum activation, firing frequency, mean when firing."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm


@torch.no_grad()
def feature_stats(sae, acts: np.ndarray | torch.Tensor, batch_size: int = 4096, progress: bool = True) -> dict:
    """Statistics over activation rows ``[n, d_in]`` (attention sinks already removed).

    Returns float32 ``[d_sae]`` tensors ``max_activation``, ``frequency`` (share of tokens where the
    feature fires) and ``mean_activation`` (mean over the tokens where it fires), plus ``tokens``.
    """
    d_sae = sae.d_sae
    top = torch.zeros(d_sae)
    count = torch.zeros(d_sae, dtype=torch.float64)
    total = torch.zeros(d_sae, dtype=torch.float64)
    n = len(acts)
    for lo in tqdm(range(0, n, batch_size), desc="feature statistics", disable=not progress):
        x = torch.as_tensor(np.asarray(acts[lo:lo + batch_size], dtype=np.float32)).to(sae.device, sae.dtype)
        vals, idx = sae.encode_sparse(x)
        vals, idx = vals.float().cpu().reshape(-1), idx.cpu().reshape(-1)
        firing = vals > 0
        vals, idx = vals[firing], idx[firing]
        top = top.scatter_reduce(0, idx, vals, reduce="amax")
        count.index_add_(0, idx, torch.ones_like(vals, dtype=torch.float64))
        total.index_add_(0, idx, vals.double())
    return {
        "max_activation": top,
        "frequency": (count / max(n, 1)).float(),
        "mean_activation": (total / count.clamp(min=1)).float(),
    }
