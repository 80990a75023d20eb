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


def test_out_of_range_selection_is_refused(explorer):
    with pytest.raises(FeatureIndexError):
        explorer.feature = 10**6
    assert explorer.feature is None


def test_without_map_and_panel(tiny_lab):
    e = tiny_lab.explorer("hi", show_map=False, steer=False)
    e.heatmap.feature = 3
    assert e.card.feature == 3 and e.steer_button.disabled
