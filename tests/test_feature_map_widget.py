"""The feature map widget's Python side on the tiny model: what it sends, selection, search, show(text)."""

from __future__ import annotations

import numpy as np
import pytest
import traitlets

from saewidgets.widgets import codecs
from saewidgets.widgets.feature_map import FeatureMap, MapExplorer


@pytest.fixture
def fmap(tiny_lab):
    return FeatureMap(tiny_lab, progress=False)


def test_layout_travels_as_bytes(fmap, tiny_lab):
    p = fmap.points
    xy = codecs.decode(p["xy"])
    n = tiny_lab.sae.d_sae
    assert xy.shape == (n, 2) and xy.dtype == np.float32
    assert codecs.decode(p["cluster"]).shape == (n,) and codecs.decode(p["density"]).dtype == np.uint8
    texts = p["texts"].decode("utf-8").split("\n")
    assert len(texts) == n and texts[7].startswith("#7")
    assert "PCA" in fmap.notice


def test_select_sends_neighbours_and_rejects_bad_indices(fmap):
    fmap.feature = 4
    nb = fmap.neighbors
    assert nb["feature"] == 4 and len(codecs.decode(nb["ids"])) == 10 and 4 not in codecs.decode(nb["ids"])
    with pytest.raises(traitlets.TraitError):
        fmap.feature = 10_000
    assert "out of range" in fmap.error and fmap.feature == 4
    fmap.feature = None
    assert fmap.neighbors == {}


def test_search_request_from_the_view_answers_with_its_id(fmap):
    fmap._on_request(fmap, {"type": "search", "id": 7, "query": "bridge"}, [])
    assert fmap.matches["id"] == 7 and len(codecs.decode(fmap.matches["ids"])) == 20
    fmap._on_request(fmap, {"type": "search", "id": 8, "query": "qzxqzx"}, [])
    assert fmap.matches["id"] == 8 and "no known word" in fmap.matches["message"]
    assert len(codecs.decode(fmap.matches["ids"])) == 0


def test_search_sends_each_matchs_density_and_the_box_suggests_a_word(fmap, tiny_lab):
    """The view lists matches and sets dense ones apart: each match's firing density travels with it."""
    fmap.search("bridge")
    ids = codecs.decode(fmap.matches["ids"])
    dens = codecs.decode(fmap.matches["density"])
    freq = np.asarray(tiny_lab.stats["frequency"], dtype=np.float32)
    np.testing.assert_allclose(dens, freq[ids])
    assert fmap.search_hint == "music"
    fmap.feature = 4
    assert fmap.neighbors["by"] == "decoder"


def test_show_colours_by_activation(fmap, tiny_lab):
    fmap.show("hello world")
    assert fmap.colour_by == "activation"
    v = codecs.decode(fmap.activation["values"])
    assert v.shape == (tiny_lab.sae.d_sae,) and v.max() <= 1 and fmap.activation["active"] == int((v > 0).sum()) > 0
    with pytest.raises(traitlets.TraitError):
        fmap.colour_by = "rainbow"


def test_explorer_links_the_card(tiny_lab):
    tiny_lab.dashboard(0, texts=["hello world, hello there " * 8], progress=False)
    m = tiny_lab.map()
    assert isinstance(m, MapExplorer) and m.card is not None
    m.map.feature = 9
    assert m.feature == 9 and m.card.feature == 9 and m.card.card["feature"] == 9
    m.card.feature = 3  # a neighbour clicked in the card moves the map
    assert m.map.feature == 3 and m.feature == 3


def test_selected_is_a_deprecated_alias_of_feature(fmap):
    with pytest.warns(DeprecationWarning, match="renamed map.feature"):
        fmap.selected = 6
    assert fmap.feature == 6
    with pytest.warns(DeprecationWarning):
        assert fmap.selected == 6


def test_any_two_views_link_by_feature(fmap, tiny_lab):
    """Every view names its selection `feature`, so traitlets.link joins any two (no hand-written relay)."""
    tiny_lab.dashboard(0, texts=["hello world, hello there " * 8], progress=False)
    hm, card = tiny_lab.heatmap("hello world"), tiny_lab.feature(None)
    links = [traitlets.link((fmap, "feature"), (hm, "feature")), traitlets.link((hm, "feature"), (card, "feature"))]
    fmap.feature = 11
    assert hm.feature == 11 and card.feature == 11 and card.card["feature"] == 11
    card.feature = 2
    assert fmap.feature == 2 and fmap.neighbors["feature"] == 2
    for link in links:
        link.unlink()
