"""A feature's short label: its top tokens, once each whatever their case or spacing, else its vocabulary words."""

from __future__ import annotations

import numpy as np

from saewidgets.analysis.explain import Explanations
from saewidgets.analysis.labels import label_of


class Tokenizer:
    texts = {1: " city", 2: " City", 3: "city", 4: " cities", 5: " town", 6: " ", 7: " urban"}

    def decode(self, ids):
        return self.texts[ids[0]]


def table(token_ids, token_acts):
    n = len(token_ids)
    arrays = {"word_ids": np.array([[0, 1]] * n), "word_scores": np.array([[2.0, 1.0]] * n),
              "token_ids": np.array(token_ids), "token_acts": np.array(token_acts, dtype=np.float32)}
    return Explanations(["metropolis", "harbour"], arrays)


def test_tokens_once_each_whatever_their_case_and_spacing():
    t = table([[1, 2, 3, 6, 4, 5, 7, 0, 0]], [[9, 8, 7, 6, 5, 4, 3, 0, 0]])
    assert label_of(t, Tokenizer(), 0, 3) == "city, cities, town"


def test_without_top_tokens_the_vocabulary_words():
    t = table([[0] * 9], [[0.0] * 9])
    assert label_of(t, Tokenizer(), 0, 3) == "metropolis, harbour"
