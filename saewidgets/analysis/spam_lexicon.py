"""The project's own spam lexicon: does a text read like a spam e-mail?

Used by notebook 06 and ``bench/spam_story.py`` to measure whether steering makes the model write spam. The
terms are the sales and scam vocabulary of the SpamAssassin spam of c. 2002 (offers, money, urgency, calls to
act, unsubscribe lines), chosen by hand and kept short so that a reader can check them. A text "uses the
lexicon" when it has at least ``MIN_TERMS`` distinct terms: one word such as "free" happens in ordinary
replies, two or more rarely do.
"""

from __future__ import annotations

import re
from typing import Iterable

LEXICON = (
    "free", "offer", "offers", "click", "click here", "order now", "buy", "cash", "money", "credit", "loan",
    "loans", "mortgage", "debt", "income", "earn", "profit", "investment", "discount", "save", "savings",
    "price", "prices", "cheap", "deal", "deals", "win", "winner", "won", "prize", "bonus", "guarantee",
    "guaranteed", "limited time", "act now", "call now", "today only", "special", "promotion", "unsubscribe",
    "subscribe", "remove", "opt-out", "opt out", "viagra", "casino", "lottery", "million", "dollars", "$",
    "100%", "risk-free", "no cost", "rates", "refinance", "insurance", "business opportunity", "marketing",
    "customers", "sale", "sales", "order", "shipping", "credit card", "visit our website", "www", "http",
)
MIN_TERMS = 2

_PATTERNS = [(term, re.compile(r"(?<![\w$])" + re.escape(term) + r"(?![\w])", re.IGNORECASE))
             if term[0].isalnum() else (term, re.compile(re.escape(term))) for term in LEXICON]


def spam_terms(text: str) -> list[str]:
    """The lexicon's terms found in ``text`` (each once)."""
    return [term for term, pattern in _PATTERNS if pattern.search(text or "")]


def uses_spam(text: str, min_terms: int = MIN_TERMS) -> bool:
    return len(spam_terms(text)) >= min_terms


def spam_share(texts: Iterable[str], min_terms: int = MIN_TERMS) -> float:
    """Share of ``texts`` that use the lexicon (0 for none)."""
    texts = list(texts)
    return sum(uses_spam(t, min_terms) for t in texts) / len(texts) if texts else 0.0
