"""How tokens and words look to a person and to a tokenizer.

- ``display_token``: a token's text with its whitespace made visible (every view uses it);
- ``word_forms`` and the three ways a word becomes token ids, named for what they return.
"""

from __future__ import annotations

_VISIBLE = str.maketrans({" ": "·", "\n": "↵", "\t": "→", "\r": "␍"})


def display_token(text: str) -> str:
    """A token as a readable string with its whitespace visible (space ·, newline ↵, tab →)."""
    return text.translate(_VISIBLE)


def word_forms(word: str) -> tuple[str, ...]:
    """How a word appears as text: mid-sentence (with its leading space) or not, lower case or capitalised."""
    return (" " + word, word, " " + word.capitalize(), word.capitalize())


def word_subtokens(tokenizer, words: list[str]) -> list[list[int]]:
    """Each word's sub-tokens as it appears in running text (with a leading space)."""
    return tokenizer([" " + w for w in words], add_special_tokens=False).input_ids


def first_token_ids(tokenizer, words: list[str]) -> list[int]:
    """The first token of every form of each word: what the model says to start it (sorted, unique)."""
    ids = set()
    for word in words:
        for form in word_forms(word):
            tokens = tokenizer(form, add_special_tokens=False).input_ids
            if tokens:
                ids.add(tokens[0])
    return sorted(ids)


def single_token_ids(tokenizer, word: str) -> list[int]:
    """The forms of ``word`` that are one token each, as token ids."""
    out = []
    for form in word_forms(word):
        ids = tokenizer(form, add_special_tokens=False).input_ids
        if len(ids) == 1:
            out.append(ids[0])
    return out
