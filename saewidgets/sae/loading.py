"""SAE.load: tell the format of a path apart and hand it to that format's reader.

Pickled checkpoints are refused here, before any format looks at them: opening a pickle can run
arbitrary code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .files import PICKLE_SUFFIXES, read_json
from .gemma_scope import GEMMA_SCOPE_WEIGHTS, load_gemma_scope
from .module import SAE, SAELoadError
from .saelens import SAELENS_CFG, SAELENS_WEIGHTS, load_saelens
from .sparsify import SPARSIFY_WEIGHTS, is_sparsify_config, load_sparsify


def load_sae(path: str | os.PathLike, device: str | torch.device = "cpu",
             dtype: str | torch.dtype | None = None, *,
             norm_scaling_factor: float | None = None) -> SAE:
    """What SAE.load does (see there): an SAELens or sparsify directory, or a Gemma Scope npz.

    The SAE remembers the folder it came from (``sae.source_folder``): its feature store looks there first
    for the SAE's artefacts (what ``lab.prepare`` saved beside the weights)."""
    path = Path(path).expanduser()
    sae = _load(path, device, dtype, norm_scaling_factor)
    sae.source_folder = path if path.is_dir() else path.parent
    return sae


def _load(path: Path, device, dtype, norm_scaling_factor) -> SAE:
    if not path.exists():
        raise SAELoadError(f"no SAE at {path}: the path does not exist")
    if path.is_file():
        refuse_pickle(path)
        if path.suffix == ".npz":
            return load_gemma_scope(path, device, dtype)
        if path.suffix not in (".json", ".safetensors"):
            raise SAELoadError(f"{path}: not an SAE file; give an SAELens or sparsify "
                               f"directory, or a Gemma Scope {GEMMA_SCOPE_WEIGHTS}")
        path = path.parent  # cfg.json or the weights file: read the directory they are in
    if (path / SAELENS_CFG).exists():  # sparsify names its config cfg.json too
        raw = read_json(path / SAELENS_CFG)
        if is_sparsify_config(raw):
            return load_sparsify(path, raw, device, dtype)
        return load_saelens(path, raw, device, dtype, norm_scaling_factor)
    if (path / GEMMA_SCOPE_WEIGHTS).exists():
        return load_gemma_scope(path / GEMMA_SCOPE_WEIGHTS, device, dtype)
    for f in sorted(path.iterdir()):
        if f.suffix in PICKLE_SUFFIXES:
            refuse_pickle(f)
    raise SAELoadError(f"no SAE files in {path}: expected {SAELENS_CFG} + {SAELENS_WEIGHTS} "
                       f"(SAELens), {SAELENS_CFG} + {SPARSIFY_WEIGHTS} (sparsify) or "
                       f"{GEMMA_SCOPE_WEIGHTS} (Gemma Scope)")


def refuse_pickle(path: Path) -> None:
    """Raise, with how to convert it, if path is a pickled checkpoint."""
    if path.suffix in PICKLE_SUFFIXES:
        raise SAELoadError(
            f"{path}: pickled weights are refused (opening a pickle can run arbitrary code). "
            f"If you trust the file, convert it once: sd = torch.load(path, weights_only=True); "
            f"build SAE(SAEConfig(d_in=..., d_sae=..., architecture=...)), "
            f"sae.load_state_dict(sd) with keys W_enc, b_enc, W_dec, b_dec (and threshold), "
            f"then sae.save(folder) -- or safetensors.torch.save_file(sd, "
            f"'{SAELENS_WEIGHTS}') next to a cfg.json.")
