"""Gemma Scope (Google DeepMind): one params.npz per SAE, read with pickling switched off."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from .files import build_sae
from .module import SAE, SAEConfig, SAELoadError

GEMMA_SCOPE_WEIGHTS = "params.npz"


def load_gemma_scope(path: Path, device, dtype) -> SAE:
    """The JumpReLU SAE in a Gemma Scope params.npz file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            # Some copies spell the weights w_enc/w_dec.
            arrays = {re.sub(r"^w_", "W_", k): torch.from_numpy(npz[k].copy()) for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise SAELoadError(f"{path}: not a readable npz file ({type(e).__name__}: {e})") from None
    if "W_enc" not in arrays:
        raise SAELoadError(f"{path}: no W_enc array; Gemma Scope files hold "
                           f"W_enc, W_dec, b_enc, b_dec, threshold")
    d_in, d_sae = arrays["W_enc"].shape
    # Gemma Scope folders read layer_<n>/width_<w>/average_l0_<l0>; residual ones hook the
    # output of block n.
    m = re.search(r"layer_(\d+)", str(path))
    resid = m and not re.search(r"mlp|att", str(path))
    cfg = SAEConfig(int(d_in), int(d_sae), "jumprelu", apply_b_dec_to_input=False,
                    hook_name=f"blocks.{m.group(1)}.hook_resid_post" if resid else None,
                    dtype="float32", metadata={"format": "gemma_scope"})
    return build_sae(cfg, arrays, path, device, dtype)
