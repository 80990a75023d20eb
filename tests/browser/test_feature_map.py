"""The feature map in a real JupyterLab on the default model: 16k points drawn by WebGL, hover shows an
explanation, a word search lights up matches, clicking one selects it (Python sees it), highlights its
neighbours and opens its card below; map.show(text) colours by activation; dark theme."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
CELLS = [
    f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
    "import json\n"
    "from labs import browser_lab\n"
    "lab = browser_lab()\n"
    "m = lab.map(progress=False)",
    "m",
    "def point(f):\n"
    "    i = m.map.position(f)\n"
    "    x, y = m.map.layout_data.xy[i]\n"
    "    return json.dumps([float(x), float(y)])",
]
MAP = ".saew-map"
VIEWPORT = (1200, 1800)


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("feature-map.ipynb", CELLS, viewport=VIEWPORT)
    nb.run_all(timeout=600)
    nb.page.wait_for_function("() => document.querySelector('.saew-map')?.dataset.firstPaintMs !== undefined")
    return nb


def _pixel(nb, xy):
    """The page position of a data point (the view's frame: a centred square with 12 px padding)."""
    box = nb.cell(1).locator(".saew-map-stage").bounding_box()
    size = min(box["width"], box["height"]) - 24
    ox, oy = (box["width"] - size) / 2, (box["height"] - size) / 2
    return box["x"] + ox + xy[0] * size, box["y"] + oy + (1 - xy[1]) * size


def test_map_draws_every_feature_with_webgl(nb):
    view = nb.cell(1).locator(MAP)
    d_sae = int(nb.kernel("print(lab.sae.d_sae)"))
    assert d_sae >= 16_384, f"the default SAE has {d_sae} features, not 16,384"  # numbers: "4096" >= "16384" as text
    assert int(view.get_attribute("data-points")) == d_sae  # every feature is a point
    assert view.get_attribute("data-renderer") == "webgl"
    # painted (the fixture waited for the first frame after the first draw); how fast is bench/bench_map.py's
    # "first paint" (its budget: 500 ms), never asserted here
    assert float(view.get_attribute("data-first-paint-ms")) >= 0
    assert view.locator(".saew-map-label").count() >= 10   # cluster labels
    assert not nb.page_errors
    nb.page.mouse.move(0, 0)
    nb.screenshot("map-clusters", view)


def test_hover_shows_the_explanation(nb):
    view = nb.cell(1).locator(MAP)
    f = 1234
    nb.page.mouse.move(*_pixel(nb, json.loads(nb.kernel(f"print(point({f}))"))))
    tip = view.locator(".saew-map-tip")
    expect(tip).to_be_visible()
    assert tip.inner_text().startswith("#")
    nb.screenshot("map-hover", view)


def test_search_click_neighbours_and_card(nb):
    view = nb.cell(1).locator(MAP)
    box = view.locator("input.saew-map-search")
    box.fill("music")
    box.press("Enter")
    expect(view.locator(".saew-map-status")).to_contain_text('matches for "music"')
    assert int(view.get_attribute("data-matches")) == 20
    nb.screenshot("map-search-music", view)
    top = int(nb.kernel("print(int(m.map.last_search.feature[0]))"))
    nb.page.mouse.click(*_pixel(nb, json.loads(nb.kernel(f"print(point({top}))"))))
    nb.page.wait_for_function("() => document.querySelector('.saew-map').dataset.neighbours === '10'")
    # the click may land on a point next to the match when two overlap: Python holds what was clicked
    state = nb.kernel("print(m.map.feature, m.feature, m.card.feature)")
    assert len(set(state.split())) == 1, state
    chosen = int(state.split()[0])
    card = nb.cell(1).locator(".saew-card")
    expect(card.locator(".saew-card-title")).to_have_text(f"Feature #{chosen}")   # the card computes it first
    assert nb.kernel("print(m.map.feature == m.card.feature == m.card.card['feature'])") == "True"
    expect(view.locator(".saew-map-status")).to_contain_text(f"selected #{chosen}")
    nb.screenshot("map-selected-with-card", nb.cell(1))
    if chosen == top:
        assert "music" in card.inner_text().lower()


def test_select_from_python_and_out_of_range(nb):
    view = nb.cell(1).locator(MAP)
    nb.kernel("m.map.feature = 42")
    expect(view.locator(".saew-map-status")).to_contain_text("selected #42")
    nb.kernel("try:\n    m.map.feature = 10**9\nexcept Exception as e:\n    print(type(e).__name__)")
    expect(view.locator(".saew-map-error")).to_contain_text("out of range")


def test_show_text_colours_by_activation(nb):
    view = nb.cell(1).locator(MAP)
    nb.kernel("m.show('She played the piano and the music filled the concert hall.')")
    expect(view.locator(".saew-map-legend")).to_contain_text("activation on")
    assert view.locator(".saew-map-colour").input_value() == "activation"
    nb.screenshot("map-activation", view)


def test_dark_theme(nb):
    view = nb.cell(1).locator(MAP)
    nb.set_theme(dark=True)
    try:
        nb.kernel("m.colour_by = 'density'")
        expect(view.locator(".saew-map-legend")).to_contain_text("density")
        nb.page.wait_for_timeout(300)
        nb.screenshot("map-density-dark", view)
    finally:
        nb.set_theme(dark=False)
