"""Precomputed tables on disk: one compressed ``.npz`` with a JSON header, written atomically.

Dashboards, explanations and the feature map ship this way. The header (``meta``) carries the file's
format version and the fingerprint of the SAE it was computed from, and can be read without
decompressing the arrays.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def save(path: str | Path, meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write to a temporary file and rename it, so a reader never sees half a table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)
    return path


def header(path: str | Path) -> dict:
    """The JSON header alone (an npz member is decompressed only when read)."""
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(str(npz["meta"]))


def load(path: str | Path, what: str, fmt: int) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)``; a file of another format version is a clear error naming ``what`` it holds."""
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        arrays = {k: npz[k] for k in npz.files if k != "meta"}
    if meta.get("format") != fmt:
        raise ValueError(f"{path}: {what} format {meta.get('format')}, this saewidgets reads {fmt}.")
    return meta, arrays
