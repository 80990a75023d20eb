"""The sparsify directory (EleutherAI): cfg.json + sae.safetensors, one per hookpoint.

A top-k SAE; transcoders, skip connections and other activations are refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .files import build_sae, read_json, read_safetensors
from .module import SAE, SAEConfig, SAELoadError, dtype_name

SPARSIFY_CFG, SPARSIFY_WEIGHTS = "cfg.json", "sae.safetensors"


def is_sparsify_config(raw: dict[str, Any]) -> bool:
    """Whether a cfg.json is sparsify's (it shares the name with SAELens')."""
    return "d_sae" not in raw and ("num_latents" in raw or "expansion_factor" in raw)


def load_sparsify(path: Path, raw: dict[str, Any], device, dtype) -> SAE:
    """The SAE in a sparsify directory whose cfg.json holds raw."""
    # sparsify: encoder = nn.Linear(d_in, num_latents) ([d_sae, d_in] weight), W_dec
    # [d_sae, d_in]; encode subtracts b_dec (unless a transcoder), ReLU, then top-k.
    where = path / SPARSIFY_CFG
    if raw.get("transcode"):
        raise SAELoadError(f"{where}: a sparsify transcoder, not an autoencoder; not supported")
    if raw.get("activation", "topk") != "topk":
        raise SAELoadError(f"{where}: sparsify activation {raw['activation']!r} is not "
                           f"supported; supported: topk")
    if raw.get("skip_connection"):
        raise SAELoadError(f"{where}: sparsify skip connections are not supported")
    w = read_safetensors(path / SPARSIFY_WEIGHTS, device)
    try:
        d_in = int(raw["d_in"])
        d_sae = int(raw.get("num_latents") or d_in * raw["expansion_factor"])
        weights = {"W_enc": w.pop("encoder.weight").T, "b_enc": w.pop("encoder.bias"),
                   "W_dec": w.pop("W_dec"), "b_dec": w.pop("b_dec"), **w}
    except KeyError as e:
        raise SAELoadError(f"{path}: sparsify files lack {e}") from None
    # sparsify names hookpoints after the module ("layers.8"), the output of block 8.
    m = re.fullmatch(r"(?:.*\.)?layers[._](\d+)", path.name)
    model_cfg = path.parent / "config.json"
    model = read_json(model_cfg).get("model") if model_cfg.exists() else None
    cfg = SAEConfig(d_in, d_sae, "topk", k=int(raw["k"]), apply_b_dec_to_input=True,
                    hook_name=f"blocks.{m.group(1)}.hook_resid_post" if m else None,
                    model_name=model, dtype=dtype_name(weights["W_dec"].dtype),
                    metadata={"format": "sparsify", "sparsify_hookpoint": path.name})
    return build_sae(cfg, weights, path, device, dtype)
