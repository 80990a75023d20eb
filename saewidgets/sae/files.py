"""Reading SAE files, for every format: configs, safetensors weights, and the SAE built from them.

Weights are read only from safetensors (and, in gemma_scope, npz with pickling off): a pickle can
run code when it is opened. loading.refuse_pickle turns pickled files away.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .module import DTYPES, SAE, SAEConfig, SAELoadError, dtype_name

# What torch.save and friends write: pickles, never opened here.
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SAELoadError(f"{path}: cannot read the SAE config ({e})") from None


def read_safetensors(path: Path, device) -> dict[str, Tensor]:
    """The tensors in path; a missing file names any pickles found in its place."""
    from safetensors.torch import load_file

    if not path.exists():
        pickles = [f.name for f in sorted(path.parent.iterdir()) if f.suffix in PICKLE_SUFFIXES]
        also = (f"; {pickles} are pickled and refused: load them with torch yourself and "
                f"save the weights as {path.name} (see SAE.save)") if pickles else ""
        raise SAELoadError(f"{path.parent}: the weights file {path.name} is missing{also}")
    try:
        return load_file(str(path), device=str(device))
    except Exception as e:  # safetensors reports truncation/corruption with its own error type
        raise SAELoadError(f"{path}: not a readable safetensors file, truncated or corrupt "
                           f"({type(e).__name__}: {e})") from None


def build_sae(cfg: SAEConfig, weights: dict[str, Tensor], source: Path, device, dtype) -> SAE:
    """An SAE with these weights, checked against the config's shapes."""
    if dtype is not None:
        cfg.dtype = dtype_name(dtype)
    d_in, d_sae = cfg.d_in, cfg.d_sae
    shapes = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    if cfg.architecture in ("jumprelu", "batchtopk"):
        shapes["threshold"] = (d_sae,)
    scale = weights.pop("scaling_factor", None)  # written as all ones by some sae-lens versions
    if scale is not None and not torch.all(scale == 1):
        raise SAELoadError(f"{source}: a fine-tuning scaling_factor is not supported")
    missing = [k for k in shapes if k not in weights]
    extra = [k for k in weights if k not in shapes]
    if missing or extra:
        raise SAELoadError(f"{source}: weights do not fit a {cfg.architecture} SAE "
                           f"(missing {missing}, unexpected {extra})")
    for name, shape in shapes.items():
        if tuple(weights[name].shape) != shape:
            raise SAELoadError(f"{source}: {name} has shape {tuple(weights[name].shape)}, "
                               f"expected {shape} for d_in={d_in}, d_sae={d_sae}")
    with torch.device("meta"):  # no throwaway initialisation of full-size weights
        sae = SAE(cfg)
    target = DTYPES[cfg.dtype]
    sae.load_state_dict({k: v.to(device=device, dtype=target) for k, v in weights.items()},
                        assign=True)
    return sae
