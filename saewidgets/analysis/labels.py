"""A feature's short label: the few words a view shows beside its number (hover, neighbours, sliders).

The label is what the feature reads: its top activating tokens (a person recognises "dog, dogs, puppy"),
else, when the SAE has no dashboards yet, the vocabulary words its direction writes. It is looked up
quietly (``explain.explanations_or_none``): a label never starts a long computation, and a view works
without one.
"""

from __future__ import annotations

from typing import Iterable

from .explain import Explanations, explanations_or_none


def label_of(table: Explanations, tokenizer, feature: int, n: int = 3) -> str:
    """The label of ``feature`` from an explanations table."""
    tokens = table.token_texts(tokenizer, table.top_token_ids(int(feature), 3 * n))
    seen: dict[str, str] = {}  # casefolded -> first form: "city, cities", not "city, City, cities"
    for token in (t.strip() for t in tokens):
        if token:
            seen.setdefault(token.casefold(), token)
    tokens = list(seen.values())[:n]
    return ", ".join(tokens) if tokens else ", ".join(table.top_words(int(feature), n))


def feature_labels(ctx, features: Iterable[int], n: int = 3) -> list[str]:
    """The labels of ``features`` ("" for each when the SAE has no explanations to be had)."""
    table = explanations_or_none(ctx)
    return [label_of(table, ctx.tokenizer, f, n) if table is not None else "" for f in features]


def feature_label(ctx, feature: int, n: int = 3) -> str:
    """The label of one feature."""
    return feature_labels(ctx, [feature], n)[0]
