"""Sparse autoencoders: the torch module (module.py) and the files it lives in, one format a file.

    module.py       SAEConfig, SAE (encode/decode, weight surgery), SAEOutput, SAELoadError
    loading.py      SAE.load: which format a path holds; pickled checkpoints refused
    saelens.py      SAELens directory, cfg.json + sae_weights.safetensors (what SAE.save writes)
    sparsify.py     sparsify directory, cfg.json + sae.safetensors (EleutherAI)
    gemma_scope.py  Gemma Scope params.npz (a file, or a folder holding one)
    files.py        what every format reads with: configs, safetensors, the shape-checked build
    hub.py          SAE.from_pretrained: SAELens release ids and Hub repos

The format modules build SAE objects, so they import module.py and never the other way round;
SAE.load, save and from_pretrained import them when called.
"""

from .module import (
    ALIASES,
    ARCHITECTURES,
    NORMALIZATIONS,
    STAT_KEYS,
    SAE,
    SAEConfig,
    SAELoadError,
    SAEOutput,
)

__all__ = ["ALIASES", "ARCHITECTURES", "NORMALIZATIONS", "STAT_KEYS", "SAE", "SAEConfig",
           "SAELoadError", "SAEOutput"]
