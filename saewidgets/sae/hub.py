"""SAE.from_pretrained: SAEs on the Hugging Face Hub, by SAELens release id or by repo and folder.

A release id is looked up in the table of pretrained SAEs that the sae_lens package ships (read
as data, when sae_lens is installed); anything else is a Hub repo id with sae_id as the folder.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import torch

from ..offline import hub_failure_message, offline
from .loading import load_sae
from .module import SAE, SAELoadError

# What to do instead when an SAE cannot be downloaded.
SAE_FIX = ("pass a local path instead (SAE.load(folder)), or use the default SAE "
           "(saewidgets.load() with no sae argument)")


def sae_from_hub(release_or_repo: str, sae_id: str | None = None, *,
                 device: str | torch.device = "cpu",
                 dtype: str | torch.dtype | None = None) -> SAE:
    """What SAE.from_pretrained does (see there)."""
    if sae_id is None and Path(release_or_repo).exists():
        return load_sae(release_or_repo, device, dtype)
    repo_id, folder, factor = release_or_repo, sae_id, None
    release = saelens_releases().get(release_or_repo)
    if release is not None:
        saes = {s["id"]: s for s in release.get("saes", [])}
        if sae_id not in saes:
            ids = list(saes)
            raise SAELoadError(f"sae_id {sae_id!r} is not in SAELens release "
                               f"{release_or_repo!r}; some valid ids: {ids[:8]}")
        repo_id, folder = release["repo_id"], str(saes[sae_id]["path"])
        factor = saes[sae_id].get("norm_scaling_factor")
    local = download(repo_id, folder)
    sae = load_sae(local, device, dtype, norm_scaling_factor=factor)
    if release is not None and sae.cfg.model_name is None:
        sae.cfg.model_name = release.get("model")
    source = f"{release_or_repo}:{sae_id}" if sae_id else release_or_repo
    sae.cfg.metadata.setdefault("source", source)
    return sae


@cache
def saelens_releases() -> dict[str, Any]:
    """sae_lens' release table (release -> repo_id, saes), read without importing sae_lens
    (its import pulls in transformer_lens); empty when it is not installed."""
    from importlib.util import find_spec

    spec = find_spec("sae_lens")
    if spec is None or not spec.submodule_search_locations:
        return {}
    table = Path(list(spec.submodule_search_locations)[0]) / "pretrained_saes.yaml"
    try:
        import yaml

        with open(table) as f:
            return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except (ImportError, OSError):
        return {}


def download(repo_id: str, folder: str | None) -> Path:
    """The local copy of repo_id (only `folder` inside it, if given), fetched unless offline."""
    from huggingface_hub import snapshot_download

    what = f"SAE {repo_id}/{folder}" if folder else f"SAE {repo_id}"
    try:
        root = snapshot_download(repo_id, allow_patterns=[f"{folder}/*"] if folder else None,
                                 local_files_only=offline())
    except Exception as e:  # noqa: BLE001 - every Hub failure becomes one clear message
        raise SAELoadError(hub_failure_message(what, SAE_FIX, e)) from None
    return Path(root) / folder if folder else Path(root)
