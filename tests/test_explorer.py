"""lab.explorer(): one selected feature shared by the heatmap, card, map and steering panel."""

from __future__ import annotations

import pytest

from saewidgets.widgets import FeatureIndexError


@pytest.fixture
def explorer(tiny_lab):
    return tiny_lab.explorer("hello world")


def test_a_click_in_any_view_selects_everywhere(explorer):
    explorer.heatmap.feature = 7                 # a feature clicked in the heatmap
    assert explorer.feature == 7 and explorer.card.feature == 7 and explorer.map.feature == 7
    explorer.map.feature = 9                    # a point clicked on the map
    assert explorer.feature == 9 and explorer.heatmap.feature == 9 and explorer.card.feature == 9
    explorer.card.feature = 11                   # a neighbour clicked in the card
    assert explorer.heatmap.feature == 11 and explorer.map.feature == 11


def test_show_keeps_the_selection_and_steer_adds_a_slider(explorer):
    explorer.feature = 5
    explorer.show("another text")
    assert explorer.heatmap.feature == 5 and explorer.heatmap_box.children == (explorer.heatmap,)
    explorer.heatmap.feature = 6                 # the new heatmap is linked too
    assert explorer.card.feature == 6
    assert not explorer.steer_button.disabled
    explorer.steer_button.click()
    assert 6 in explorer.panel.strengths


def test_steer_button_adds_reveals_the_panel_and_generates_in_that_order(explorer):
    """*Steer #N* sits far above its panel: it adds the slider, asks the view to scroll to the panel, and starts a
    generation (a slider alone changed nothing on screen)."""
    events = []
    panel = explorer.panel
    panel.observe(lambda c: events.append(("slider", [r["feature"] for r in c["new"]])), names="steer")
    panel.observe(lambda c: events.append(("result", c["new"].get("status"))), names="result")
    sent = []
    panel.send = lambda msg, buffers=None: (sent.append(msg), events.append(("send", msg["type"])))
    explorer.feature = 6
    assert explorer.steer_button.description == "Steer #6"
    explorer.steer_button.click()
    result = panel.wait(120)
    assert sent == [{"type": "reveal", "feature": 6}]
    assert events[:3] == [("slider", [6]), ("send", "reveal"), ("result", "running")]
    assert result["status"] == "done" and any("#6" in c["label"] for c in result["columns"])
    assert "Text to analyse" in explorer.text_label.value


def test_out_of_range_selection_is_refused(explorer):
    with pytest.raises(FeatureIndexError):
        explorer.feature = 10**6
    assert explorer.feature is None


def test_without_map_and_panel(tiny_lab):
    e = tiny_lab.explorer("hi", show_map=False, steer=False)
    e.heatmap.feature = 3
    assert e.card.feature == 3 and e.steer_button.disabled


def test_the_attribution_view_joins_the_explorer_by_the_selected_feature(explorer):
    view = explorer.attribute("hello there", max_new_tokens=3)
    assert view in explorer.children and explorer.children.index(view) == explorer.children.index(explorer.card) + 1
    view.feature = 5                       # a feature clicked among a token's causes
    assert explorer.feature == 5 and explorer.card.feature == 5
    explorer.card.feature = 7              # and back: a neighbour clicked in the card
    assert view.feature == 7
