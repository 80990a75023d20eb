"""A feature's short label: the few words a view shows beside its number (hover, neighbours, sliders).

The label is the feature's best explanation (``Explanations.best_method``: context words, top tokens or
vocabulary words, whichever detects its firings best), so the card, the heatmap, the map and the lists
agree. ``tagged=True`` adds which method it is, and an explanation that detects nothing says
"unclear" before its top tokens. Labels are looked up quietly (``explain.explanations_or_none``): a
label never starts a long computation, and a view works without one.
"""

from __future__ import annotations

from typing import Iterable

from .explain import Explanations, explanations_or_none


SHORT = {"context": "context", "tokens": "top tokens", "vocabulary": "writes"}


def label_of(table: Explanations, tokenizer, feature: int, n: int = 3, tagged: bool = False) -> str:
    """The label of ``feature`` from an explanations table (``tagged``: with its method, e.g. "(context)")."""
    method = table.best_method(int(feature))
    if method in ("context", "vocabulary"):
        text = ", ".join(table.entries(int(feature), method, tokenizer, n))
        if text:
            return f"{text} ({SHORT[method]})" if tagged else text
    text = _token_label(table, tokenizer, feature, n)
    if not text:  # no top tokens that are more than whitespace: the words it writes
        text = ", ".join(table.top_words(int(feature), n))
        return f"{text} ({SHORT['vocabulary']})" if tagged and text else text
    if method == "unclear" and tagged:
        return f"unclear ({text})"
    return f"{text} ({SHORT['tokens']})" if tagged else text


def _token_label(table: Explanations, tokenizer, feature: int, n: int) -> str:
    tokens = table.token_texts(tokenizer, table.top_token_ids(int(feature), 3 * n))
    seen: dict[str, str] = {}  # casefolded -> first form: "city, cities", not "city, City, cities"
    for token in (t.strip() for t in tokens):
        if token:
            seen.setdefault(token.casefold(), token)
    return ", ".join(list(seen.values())[:n])


def feature_labels(ctx, features: Iterable[int], n: int = 3, tagged: bool = False) -> list[str]:
    """The labels of ``features`` ("" for each when the SAE has no explanations to be had)."""
    table = explanations_or_none(ctx)
    return [label_of(table, ctx.tokenizer, f, n, tagged) if table is not None else "" for f in features]


def feature_label(ctx, feature: int, n: int = 3) -> str:
    """The label of one feature."""
    return feature_labels(ctx, [feature], n)[0]
