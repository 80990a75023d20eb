"""Search by words, by text, and contrast sets: on a tiny random model (shapes, bad input) and on the real
default model (the top result for a concept word fires on text about the concept)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from saewidgets.analysis import search as search_mod


def test_contrast_ranks_a_separating_feature_first(tiny_lab):
    pos = ["aaaa bbbb aaaa", "aaa bb aaa", "abab abab"]
    neg = ["zzzz yyyy", "zyx zyx zyx", "yy zz yy"]
    df = tiny_lab.contrast(pos, neg, k=5)
    assert list(df.columns[:3]) == ["feature", "auroc", "diff"]
    assert len(df) == 5 and "explanation" in df
    assert df.auroc.is_monotonic_decreasing or (df.auroc.diff().dropna() <= 1e-9).all()
    assert (df["diff"] > 0).all()
    f = int(df.feature[0])
    vp = search_mod.text_values(tiny_lab, pos)[:, f]
    vn = search_mod.text_values(tiny_lab, neg)[:, f]
    assert float(search_mod.auroc(vp[:, None], vn[:, None])[0]) == pytest.approx(df.auroc[0])
    assert vp.mean() - vn.mean() == pytest.approx(df["diff"][0], rel=1e-5)


def test_auroc_matches_pairwise_definition():
    torch.manual_seed(0)
    pos, neg = torch.rand(7, 5), torch.rand(4, 5)
    pos[:, 0] = 1.0
    neg[:, 0] = 1.0   # all ties: 0.5
    got = search_mod.auroc(pos, neg)
    want = [(np.mean([[float(p > n) + 0.5 * float(p == n) for n in neg[:, j]] for p in pos[:, j]])) for j in range(5)]
    assert np.allclose(got.numpy(), want)
    assert got[0] == 0.5


def test_contrast_bad_input(tiny_lab):
    with pytest.raises(ValueError):
        tiny_lab.contrast([], ["x"])
    with pytest.raises(TypeError):
        tiny_lab.contrast("one text", ["x"])
    with pytest.raises(ValueError):
        tiny_lab.contrast(["a"], ["b"], by="magic")


def test_search_words_returns_a_frame(tiny_lab):
    df = tiny_lab.search("bridge river", k=7)
    assert isinstance(df, pd.DataFrame) and len(df) == 7
    assert {"feature", "score", "explanation", "fires", "reads", "writes"} <= set(df.columns)
    assert df.score.is_monotonic_decreasing
    assert df.attrs["words"] == ["bridge", "river"]


def test_search_unknown_words_is_empty_with_a_message(tiny_lab, capsys):
    df = tiny_lab.search("xqzzv blorfk")
    assert df.empty and "no known word" in df.attrs["message"]
    assert "no known word" in capsys.readouterr().out
    assert tiny_lab.search("!!! 123").empty


def test_search_text(tiny_lab):
    df = tiny_lab.search(text="hello there", k=4)
    assert len(df) == 4 and {"feature", "score", "activation", "token"} <= set(df.columns)
    fa = tiny_lab.encode("hello there")
    assert float(fa.values[:, int(df.feature[0])].max()) == pytest.approx(df.activation[0], rel=1e-5)
    with pytest.raises(ValueError):
        tiny_lab.search("a", text="b")
    with pytest.raises(ValueError):
        tiny_lab.search()


# ---------------------------------------------------------------------------------------------
# The real default model

CONCEPTS = {
    "music": "She played the piano and sang a song; the music filled the concert hall.",
    "dog": "The dog barked at the mailman and wagged its tail. Dogs are loyal pets.",
    "money": "He deposited the money in the bank and paid his debts in cash.",
    "water": "The river water flowed into the lake, and the rain filled the ocean.",
    "king": "The old king and the queen ruled the kingdom from the royal palace.",
    "football": "The football team scored a goal in the final minute of the match.",
    "computer": "The computer runs software on its processor and stores files on the disk.",
    "food": "We ate bread, cheese and soup for dinner; the food was delicious.",
    "war": "The army fought the war with soldiers and tanks across the front.",
    "bridge": "The old stone bridge over the river was closed; cars crossed the new bridge downstream.",
}
OTHER = "The committee will publish its annual report on Tuesday morning."


@pytest.mark.integration
def test_top_result_for_a_concept_fires_on_text_about_it(default_lab):
    hits = {}
    for word, text in CONCEPTS.items():
        f = int(default_lab.search(word, k=3).feature[0])
        on, off = (float(default_lab.encode(t).values[:, f].max()) for t in (text, OTHER))
        hits[word] = on > 0 and on > off
    assert sum(hits.values()) >= 9, hits   # allow one miss in ten


@pytest.mark.integration
def test_contrast_finds_a_concept_feature(default_lab):
    pos = ["The dog barked at the cat.", "My dog loves long walks.", "Dogs are loyal animals.",
           "The puppy chewed my shoes."]
    neg = ["The stock market fell today.", "She wrote a long letter.", "The train left at noon.",
           "Rain is expected tomorrow."]
    df = default_lab.contrast(pos, neg, k=5)
    assert df.auroc[0] == 1.0 and df["diff"][0] > 0
    f = int(df.feature[0])
    assert float(default_lab.encode("A dog ran across the park.").values[:, f].max()) > 0


def test_batched_probes_equal_one_word_probes_and_the_table_feeds_search(tiny_lab):
    words = ["bridge", "music", "a", "extraordinarily"]
    many = search_mod.probe_many(tiny_lab, words, batch_words=3)
    for row, w in zip(many, words):
        assert np.allclose(row.numpy(), search_mod.probe(tiny_lab, w), atol=1e-5)
    from saewidgets.analysis import explain

    ex = explain.explanations(tiny_lab, progress=False, tokens=False)
    table = search_mod.probe_table(tiny_lab, ex.words[:50], top=8, progress=False)
    assert table["probe_features"].shape == (50, 8) and table["probe_values"].dtype == np.float16
    ex.arrays.update(table)
    try:
        w = ex.words[3]
        dense = search_mod.probe(tiny_lab, w)
        from_table = search_mod.fires(tiny_lab, ex, w)
        top = np.argsort(-dense)[:8]
        assert np.allclose(from_table[top], dense[top], atol=2e-3)  # fp16
        assert (from_table > 0).sum() <= 8
    finally:
        del ex.arrays["probe_features"], ex.arrays["probe_values"]
        ex.__dict__.pop("_word_rows", None)
