"""The concept benchmark's code (bench/concept_bench.py): its definitions, not its numbers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import concept_bench as cb  # noqa: E402
from concepts import CONCEPTS, NEUTRAL  # noqa: E402


def test_the_data_has_enough_concepts_of_each_kind():
    assert len(CONCEPTS) >= 20 and len({c.kind for c in CONCEPTS}) == 7
    assert all(len(c.sentences) >= 3 and c.names and c.query for c in CONCEPTS)
    assert len({c.name for c in CONCEPTS}) == len(CONCEPTS) and len(NEUTRAL) >= 5


def test_a_feature_is_selective_when_it_fires_clearly_above_the_neutral_text_on_half_the_sentences():
    scale = torch.tensor([10.0, 10.0, 10.0, 10.0])
    neutral_max = torch.tensor([1.0, 0.0, 1.0, 0.0])
    concept = torch.tensor([[2.0, 0.4, 1.4, 3.0],    # 4 sentences x 4 features
                            [1.6, 0.6, 1.6, 0.0],
                            [0.0, 0.0, 1.2, 0.0],
                            [0.0, 0.0, 1.0, 0.0]])
    mask = cb.selective(concept, neutral_max, scale)
    # f0: 2 of 4 above 1.5x; f1: above 0 but under 5% of its max; f2: only 1.6 > 1.5; f3: 1 sentence
    assert mask.tolist() == [True, False, False, False]
    assert cb.best_feature(concept, mask, scale) == 0
    assert cb.best_feature(concept, torch.zeros(4, dtype=torch.bool), scale) is None


def test_an_explanation_names_a_concept_by_its_stems():
    assert cb.names(["Sea", "boats"], ("sea",))            # short stems match whole words
    assert not cb.names(["season"], ("sea",))
    assert cb.names([" musicians"], ("music",))            # long stems match beginnings
    assert not cb.names([], ("music",))


def test_label_quality_counts_function_words_and_fragments():
    q = cb.label_quality(["the, of, violin", "ocean, qzx, tide", "puppies, kittens, canoe"])
    assert q["terms"] == 9
    assert q["function_share"] == pytest.approx(2 / 9)
    assert q["fragment_share"] == pytest.approx(1 / 9)


def test_the_concept_table_runs_on_a_tiny_model(tiny_lab):
    rows, summary = cb.concept_table(tiny_lab, by=("decoder",), methods=("tokens", "shown"))
    assert len(rows) == len(CONCEPTS)
    assert 0.0 <= summary["precision@5"] <= 1.0 and 0.0 <= summary["coherence@10 decoder"] <= 1.0
    for row in rows:
        if row["best"] is None:
            assert row["coherence@10 decoder"] == 0.0 and not row["names tokens"]


def test_detection_is_one_for_a_perfect_explanation_and_a_half_for_none(tiny_lab):
    """A table whose explanation of feature 0 is exactly the token it fires on detects it perfectly."""
    from saewidgets.analysis.explain import explanations

    table = explanations(tiny_lab, progress=False, tokens=False)
    vocab = len(tiny_lab.tokenizer)
    token = 70
    windows = np.random.default_rng(0).integers(0, vocab - 3, size=(40, 8))
    windows[windows == token] = token + 1
    windows[::2, 3] = token                                    # the token in every other window
    word = tiny_lab.tokenizer.decode([token])
    maxima = torch.zeros(40, tiny_lab.sae.d_sae, dtype=torch.float16)
    has = torch.from_numpy((windows == token).any(1))
    maxima[has, 0] = 5.0
    stats = {"max_activation": torch.full((tiny_lab.sae.d_sae,), 5.0)}

    class Lab:  # the tiny lab with statistics that make feature 0 "fire" exactly where the token is
        tokenizer, sae = tiny_lab.tokenizer, tiny_lab.sae

    Lab.stats = stats
    table.arrays["token_ids"] = table.arrays["token_ids"].copy()
    table.arrays["token_acts"] = table.arrays["token_acts"].copy()
    table.arrays["token_ids"][0] = token
    table.arrays["token_acts"][0] = 0.0
    table.arrays["token_acts"][0, 0] = 1.0
    table._token_text.clear()
    maxima[has, 1] = 5.0                                       # feature 1 fires there too, unexplained
    table.arrays["token_acts"][1] = 0.0
    summary, rows = cb.detection(Lab, table, windows, maxima, 10, methods=("tokens",))
    by_feature = {r["feature"]: r for r in rows}
    # the token itself, plus its case forms (which a few other windows happen to hold)
    assert by_feature[0]["tokens"] > 0.95 and word
    assert by_feature[1]["tokens"] == pytest.approx(0.5)   # no entries: every window scores the same
    assert summary["features"] == len(rows) >= 2
