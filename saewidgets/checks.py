"""Checks of user input that every layer shares: one exception and one message for each mistake.

A feature index is checked the same way by ``lab.explain(f)``, ``lab.heatmap(text, f)``, a card's
``feature`` traitlet and a steering slider, so a user meets one error whatever they called.
"""

from __future__ import annotations

import math

import traitlets

MAX_STRENGTH = 1000.0


class FeatureIndexError(IndexError, TypeError, traitlets.TraitError):
    """A feature index that is not an integer in ``0..d_sae-1``.

    An IndexError (out of range) and a TypeError (not an integer) for users, and a TraitError so that a
    widget's validator shows it in the view.
    """


def check_feature(feature, d_sae: int) -> int:
    """``feature`` as an int, or FeatureIndexError naming the valid range."""
    if isinstance(feature, bool) or not hasattr(feature, "__index__"):
        raise FeatureIndexError(f"feature index must be an integer (got {feature!r}); "
                                f"this SAE has features 0..{d_sae - 1}.")
    feature = int(feature)
    if not 0 <= feature < d_sae:
        raise FeatureIndexError(f"feature {feature} is out of range: this SAE has features 0..{d_sae - 1}.")
    return feature


def check_strength(strength, feature: int) -> float:
    """A steering strength as a float, or ValueError naming the allowed range."""
    try:
        strength = float(strength)
    except (TypeError, ValueError):
        raise ValueError(f"strength for feature {feature} must be a number (got {strength!r}).") from None
    if not math.isfinite(strength) or abs(strength) > MAX_STRENGTH:
        raise ValueError(f"strength {strength} for feature {feature} is out of range: use a finite number "
                         f"between {-MAX_STRENGTH:g} and {MAX_STRENGTH:g} (10 is already very strong).")
    return strength


def check_k(k: int, what: str = "k") -> int:
    if isinstance(k, bool) or not hasattr(k, "__index__") or int(k) < 1:
        raise ValueError(f"{what} must be at least 1 (got {k!r}).")
    return int(k)
