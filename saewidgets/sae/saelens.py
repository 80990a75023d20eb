"""The SAELens directory: cfg.json + sae_weights.safetensors, as sae-lens 6.x writes and reads it.

SAE.save writes this format (so sae-lens' SAE.load_from_disk reads our SAEs), with optional
per-feature statistics in feature_stats.safetensors beside it; SAE.load reads it, including
pre-6.0 configs and sae-lens training checkpoints (activation_scaler.json).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from .files import build_sae, read_json, read_safetensors
from .module import ALIASES, ARCHITECTURES, SAE, SAEConfig, SAELoadError, dtype_name

SAELENS_CFG, SAELENS_WEIGHTS = "cfg.json", "sae_weights.safetensors"
STATS_FILE, SCALER_FILE = "feature_stats.safetensors", "activation_scaler.json"
# Written as metadata.sae_lens_version: sae-lens reads an older (or missing) value as a pre-6.0
# config and rewrites it, so files we save must say they are in the 6.x layout.
SAELENS_FORMAT_VERSION = "6.0.0"


def save_saelens(sae: SAE, path: str | os.PathLike) -> Path:
    """Write sae as an SAELens directory at path (created if needed); returns the path."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    weights = {name: p.detach().contiguous().cpu() for name, p in sae.named_parameters()}
    save_file(weights, str(path / SAELENS_WEIGHTS))
    (path / SAELENS_CFG).write_text(json.dumps(saelens_config(sae), indent=2))
    stats_path = path / STATS_FILE
    if sae.stats:
        stats = {k: v.detach().float().contiguous().cpu() for k, v in sae.stats.items()}
        save_file(stats, str(stats_path))
    elif stats_path.exists():
        stats_path.unlink()  # stale statistics from an earlier save would be read back
    return path


def saelens_config(sae: SAE) -> dict[str, Any]:
    """The cfg.json sae-lens 6.x writes for this SAE."""
    cfg = sae.cfg
    metadata = {"sae_lens_version": SAELENS_FORMAT_VERSION,
                "sae_lens_training_version": SAELENS_FORMAT_VERSION,
                **cfg.metadata, "model_name": cfg.model_name, "hook_name": cfg.hook_name}
    architecture = "standard" if cfg.architecture == "relu" else cfg.architecture
    if cfg.architecture == "batchtopk":
        # Saved as sae-lens saves it for inference: a JumpReLU, with the training
        # architecture and k in the metadata.
        architecture = "jumprelu"
        metadata["training_architecture"] = "batchtopk"
        details = dict(metadata.get("training_architecture_details") or {})
        metadata["training_architecture_details"] = {**details, "k": cfg.k}
    out = {"d_in": cfg.d_in, "d_sae": cfg.d_sae, "dtype": dtype_name(sae.dtype),
           "device": str(sae.device), "apply_b_dec_to_input": cfg.apply_b_dec_to_input,
           "normalize_activations": cfg.normalize_activations,
           "reshape_activations": "none", "metadata": metadata}
    if architecture == "topk":
        out["k"] = cfg.k
        out["rescale_acts_by_decoder_norm"] = cfg.rescale_acts_by_decoder_norm
    out["architecture"] = architecture
    return out


def load_saelens(path: Path, raw: dict[str, Any], device, dtype, factor) -> SAE:
    """The SAE in an SAELens directory whose cfg.json holds raw; factor as in SAE.load."""
    meta = dict(raw.get("metadata") or {})
    for key in ("sae_lens_version", "sae_lens_training_version"):
        if meta.get(key) == SAELENS_FORMAT_VERSION:  # our own format marker, written on save
            del meta[key]
    for key in ("model_name", "hook_name", "hook_head_index", "context_size", "prepend_bos",
                "dataset_path", "neuronpedia_id"):  # pre-6.0 configs keep these at top level
        if key in raw and key not in meta:
            meta[key] = raw[key]
    if "hook_point" in raw and "hook_name" not in meta:
        meta["hook_name"] = raw["hook_point"]
    arch, k = raw.get("architecture", "standard"), raw.get("k")
    if arch == "standard" and raw.get("activation_fn_str", raw.get("activation_fn")) == "topk":
        arch, k = "topk", (raw.get("activation_fn_kwargs") or {}).get("k")  # pre-6.0 topk
    details = meta.get("training_architecture_details") or {}
    if arch == "jumprelu" and meta.get("training_architecture") == "batchtopk" and "k" in details:
        # Held by cfg.architecture and cfg.k from here on; save writes them back.
        del meta["training_architecture"]
        details = dict(meta.pop("training_architecture_details", None) or {})
        arch, k = "batchtopk", details.pop("k", None)
        if details:
            meta["training_architecture_details"] = details
    arch = ALIASES.get(arch, arch)
    if arch not in ARCHITECTURES:
        raise SAELoadError(f"{path / SAELENS_CFG}: unknown SAE architecture {arch!r}; "
                           f"supported: {', '.join(ARCHITECTURES)} ('standard' = relu)")
    norm = raw.get("normalize_activations", "none")
    norm = {None: "none", False: "none", True: "expected_average_only_in"}.get(norm, norm)
    if raw.get("reshape_activations", "none") != "none":
        raise SAELoadError(f"{path / SAELENS_CFG}: reshape_activations="
                           f"{raw['reshape_activations']!r} is not supported; supported: none")
    try:
        cfg = SAEConfig(
            d_in=int(raw["d_in"]), d_sae=int(raw["d_sae"]), architecture=arch, k=k,
            apply_b_dec_to_input=bool(raw.get("apply_b_dec_to_input", True)),
            normalize_activations=norm,
            rescale_acts_by_decoder_norm=bool(raw.get("rescale_acts_by_decoder_norm", False)),
            hook_name=meta.pop("hook_name", None), model_name=meta.pop("model_name", None),
            dtype=raw.get("dtype", "float32"), metadata=meta)
    except (KeyError, ValueError, TypeError) as e:
        raise SAELoadError(f"{path / SAELENS_CFG}: {e}") from None
    sae = build_sae(cfg, read_safetensors(path / SAELENS_WEIGHTS, device), path, device, dtype)
    if factor is None and (path / SCALER_FILE).exists():  # a sae-lens training checkpoint
        factor = read_json(path / SCALER_FILE).get("scaling_factor")
    if cfg.normalize_activations == "expected_average_only_in":
        if factor is not None:
            sae.fold_norm_scaling_factor(factor)
        else:  # sae-lens then runs the SAE on raw activations too; say so
            warnings.warn(f"{path}: normalize_activations='expected_average_only_in' but no "
                          f"scaling factor is known, so inputs are not rescaled (as in sae-lens); "
                          f"pass norm_scaling_factor= to SAE.load", stacklevel=4)
    if (path / STATS_FILE).exists():
        stats = read_safetensors(path / STATS_FILE, "cpu")
        bad = [k for k, v in stats.items() if tuple(v.shape) != (cfg.d_sae,)]
        if bad:
            raise SAELoadError(f"{path / STATS_FILE}: {bad} are not of shape [{cfg.d_sae}]")
        sae.stats = {k: v.float() for k, v in stats.items()}
    return sae
