"""Steering on the real default model (integration): a sweep is one batch whose rows match single runs, the
panel streams and caches, a concept feature found by search makes the model use the concept."""

from __future__ import annotations

import math

import pytest

from conftest import no_hooks_left

pytestmark = pytest.mark.integration
PROMPT = "Tell me about your weekend."


def test_sweep_rows_match_single_generations(default_lab):
    lab = default_lab
    feature = int(lab.search("dog").feature.iloc[0])
    df = lab.sweep(PROMPT, feature, strengths=[1.25], max_new_tokens=16)
    assert math.isnan(df.strength[0]) and df.text[0] == lab.generate(PROMPT, max_new_tokens=16)
    assert df.text[1] == lab.generate(PROMPT, steer={feature: 1.25}, max_new_tokens=16) != df.text[0]
    assert no_hooks_left(lab.model)


def test_clamping_a_searched_concept_feature_brings_the_concept_up(default_lab):
    lab = default_lab
    feature = int(lab.search("dog").feature.iloc[0])
    # The useful clamp range of docs/steering.md (0.75 to 1.25); past it the text degrades into loops.
    df = lab.sweep(["Tell me about your weekend.", "What should I do this afternoon?"], feature,
                   strengths=[0.75, 1.0], max_new_tokens=32)
    steered = " ".join(df.text[df.steered]).lower()
    assert "dog" in steered or "pupp" in steered
    assert "dog" not in " ".join(df.text[~df.steered]).lower()


def test_panel_streams_on_the_default_model(default_lab):
    panel = default_lab.steer(int(default_lab.search("music").feature.iloc[0]), prompt=PROMPT, max_new_tokens=12)
    panel.run()
    r = panel.wait(300)
    assert r["status"] == "done" and len(r["columns"]) == 2 and all(c["text"] for c in r["columns"])
    assert no_hooks_left(default_lab.model)
