"""Renamed public names keep working for a while, with a warning that names the new one."""

from __future__ import annotations

import warnings

_MISSING = object()


def renamed(kwargs: dict, old: str, new: str, value, default):
    """``value`` of the new keyword, or that of the old one (popped from ``kwargs``) with a DeprecationWarning."""
    legacy = kwargs.pop(old, _MISSING)
    if legacy is _MISSING:
        return value
    warnings.warn(f"{old}= is renamed {new}=; {old}= will be removed.", DeprecationWarning, stacklevel=3)
    if value != default:
        raise TypeError(f"pass {new}= only (got both {new}= and the old {old}=).")
    return legacy
