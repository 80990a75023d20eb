"""Where saewidgets keeps files it builds once and reuses (model cache, corpus, activations)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir(*parts: str) -> Path:
    """The user cache folder (override with the SAEWIDGETS_CACHE environment variable)."""
    root = os.environ.get("SAEWIDGETS_CACHE") or platformdirs.user_cache_dir("saewidgets")
    path = Path(root).expanduser().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_data(*parts: str) -> Path:
    """A file shipped inside the package (the default SAE, its statistics and dashboards)."""
    return Path(__file__).parent.joinpath("data", *parts)


DEFAULT_SAE_DIR = package_data("default-sae")  # the shipped SAE and its precomputed artefacts

# The widths of the default SAE trained on the same activations (issue 17's family): name -> folder.
SHIPPED_SAES = {"default": DEFAULT_SAE_DIR, "default-16k": DEFAULT_SAE_DIR,
                "default-1k": package_data("default-1k"), "default-2k": package_data("default-2k")}


def shipped_sae(name) -> Path | None:
    """The folder of a shipped SAE named like ``"default-2k"``, or None for any other name."""
    return SHIPPED_SAES.get(name) if isinstance(name, str) else None
SHIPPED_FAMILY = ("default-1k", "default-2k", "default-16k")  # narrowest first; lab.family's default widths
