"""One check of each input, everywhere: the same exception and message whichever call meets the mistake."""

from __future__ import annotations

import math

import pytest
import traitlets

from saewidgets.checks import FeatureIndexError, check_strength

TEXTS = ["The Golden Gate Bridge is a suspension bridge in San Francisco. " * 6,
         "My dog loves to run in the park and fetch the ball. " * 6]


@pytest.fixture
def lab(tiny_lab):
    tiny_lab.dashboard(0, texts=TEXTS, progress=False)
    return tiny_lab


@pytest.mark.parametrize("bad", [1.5, "3", True])  # None means "no feature" where a view allows it
def test_a_non_integer_feature_fails_the_same_way_everywhere(lab, bad):
    calls = {
        "explain": lambda: lab.explain(bad),
        "heatmap": lambda: lab.heatmap("hello", bad),
        "dashboard": lambda: lab.dashboard(bad),
        "neighbors": lambda: lab.neighbors(bad),
        "card": lambda: setattr(lab.feature(None), "feature", bad),
        "panel": lambda: lab.steer().add(bad),
        "generate": lambda: lab.generate("hi", steer={bad: 1.0}, max_new_tokens=1),
        "encode": lambda: lab.encode("hello").feature(bad),
    }
    messages = set()
    for name, call in calls.items():
        with pytest.raises((FeatureIndexError, traitlets.TraitError)) as info:
            call()
        messages.add(str(info.value).split(": ", 1)[-1] if name == "card" else str(info.value))
    assert any("must be an integer" in m for m in messages)
    # the card's traitlet wraps the message in its own words; every direct call gives the very same one
    direct = {m for m in messages if "must be an integer" in m and "0..127" in m}
    assert len(direct) == 1, messages


def test_an_out_of_range_feature_is_an_index_error_naming_the_range(lab):
    for call in (lambda: lab.explain(128), lambda: lab.heatmap("hi", 128), lambda: lab.steer().add(-1),
                 lambda: lab.sweep("hi", 500, max_new_tokens=1)):
        with pytest.raises(IndexError, match=r"out of range: this SAE has features 0\.\.127"):
            call()
    assert issubclass(FeatureIndexError, (IndexError, TypeError, traitlets.TraitError))


@pytest.mark.parametrize("strength", [math.nan, math.inf, 1e6, "strong"])
def test_strengths_are_checked_once(lab, strength):
    with pytest.raises(ValueError) as direct:
        check_strength(strength, 3)
    with pytest.raises(ValueError) as from_generate:
        lab.generate("hi", steer={3: strength}, max_new_tokens=1)
    with pytest.raises(ValueError) as from_panel:
        lab.steer({3: strength})
    assert str(direct.value) == str(from_generate.value) == str(from_panel.value)


def test_sweep_defaults_to_the_evaluated_strengths(lab):
    df = lab.sweep("hello", 3, max_new_tokens=2, chat=False)
    assert df.strength.tolist()[1:] == [0.75, 1.0, 1.25, 1.5] and math.isnan(df.strength[0])
    assert lab.sweep("hello", 3, method="amplify", max_new_tokens=1, chat=False, baseline=False).strength.tolist() == [8.0, 32.0]
