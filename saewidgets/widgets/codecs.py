"""Arrays → bytes for widget traitlets, the one place the layout is defined (``js/src/codecs.ts`` reads it).

An array travels as ``{"dtype": "float32", "shape": [T, k], "data": <little-endian bytes>}``; ipywidgets
sends ``data`` as a binary buffer (never a JSON list of numbers) and the browser sees a ``DataView``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# dtype name → numpy little-endian dtype; the same names are understood by js/src/codecs.ts
DTYPES = {"float16": "<f2", "float32": "<f4", "int32": "<i4", "uint8": "u1"}
_FLOAT16_MAX = float(np.finfo(np.float16).max)


def _numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor, without importing torch here
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def encode(array: Any, dtype: str) -> dict[str, Any]:
    """A numpy array or torch tensor as a payload of ``dtype`` (one of ``DTYPES``)."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(DTYPES)}.")
    array = _numpy(array)
    if dtype == "float16":  # out-of-range values would become inf
        array = np.clip(array, -_FLOAT16_MAX, _FLOAT16_MAX)
    data = np.ascontiguousarray(array, dtype=DTYPES[dtype])
    return {"dtype": dtype, "shape": list(data.shape), "data": data.tobytes()}


def decode(payload: dict[str, Any]) -> np.ndarray:
    """The array back from a payload (for tests and for payloads coming from the browser)."""
    dtype = payload["dtype"]
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(DTYPES)}.")
    return np.frombuffer(bytes(payload["data"]), dtype=DTYPES[dtype]).reshape(payload["shape"])


def nbytes(value: Any) -> int:
    """Bytes a traitlet value sends as binary buffers (for benchmarks and tests)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    return 0
